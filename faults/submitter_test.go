package faults

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
)

// submitter POSTs one-step demo jobs to an apiserver from a few
// goroutines until stopped, counting the answers by status: the load the
// failover tests hold while Redis changes under the API.
type submitter struct {
	mu       sync.Mutex
	statuses map[int]int // status (0: transport error) → count
	noHint   int         // 503s without Retry-After
	stop     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

// startSubmitter starts clients goroutines submitting to base, each
// pausing pause between its submissions (0: none).
func startSubmitter(ctx context.Context, base string, clients int, pause time.Duration) *submitter {
	s := &submitter{statuses: map[int]int{}, stop: make(chan struct{})}
	for range clients {
		s.wg.Go(func() {
			for {
				select {
				case <-s.stop:
					return
				default:
				}
				s.submit(ctx, base)
				if pause > 0 {
					time.Sleep(pause) // a steady trickle, not a flood
				}
			}
		})
	}
	return s
}

func (s *submitter) submit(ctx context.Context, base string) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	code, h, err := clustertest.Do(rctx, http.MethodPost, base+"/api/v1/jobs",
		`{"type":"demo","payload":{"steps":1,"step_ms":1}}`, nil)
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		code = 0
	}
	s.statuses[code]++
	if code == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		s.noHint++
	}
}

// count is how many submissions got status code so far.
func (s *submitter) count(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statuses[code]
}

// Stop stops the submissions (once; later calls only read) and returns
// the counts by status and the 503s that came without Retry-After.
func (s *submitter) Stop() (statuses map[int]int, noHint int) {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	statuses = make(map[int]int, len(s.statuses))
	for k, v := range s.statuses {
		statuses[k] = v
	}
	return statuses, s.noHint
}
