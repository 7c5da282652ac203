package faults

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
)

// TestStreamReplaysEveryStepAcrossACut: a job reports 50 progress steps
// (an HTTP worker in the test, one heartbeat with progress every 200 ms)
// while its client follows the status stream through nginx. The client is
// cut off for 5 s in the middle and reconnects, through nginx, to the
// other apiserver with its Last-Event-ID: it gets every step it missed
// from the job's history, then the rest live: all 50, in order, once.
func TestStreamReplaysEveryStepAcrossACut(t *testing.T) {
	t.Parallel()
	const steps, typ = 50, "steps"
	cl := clustertest.Start(t, clustertest.Options{APIs: 2, APIEnv: []string{"API_JOB_TYPES=" + typ}})
	var upstreams []string
	for _, a := range cl.APIs() {
		upstreams = append(upstreams, strings.TrimPrefix(a.URL, "http://"))
	}
	lb := startNginx(t, upstreams)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	id := clustertest.Submit(t, lb, `{"type":"`+typ+`"}`)
	var leased struct {
		Leases []struct {
			JobID      string `json:"job_id"`
			LeaseToken string `json:"lease_token"`
		} `json:"leases"`
	}
	clustertest.PostJSON(t, lb+"/api/v1/leases", `{"worker_id":"stepper","types":["`+typ+`"],"wait_seconds":5}`, &leased)
	if len(leased.Leases) != 1 || leased.Leases[0].JobID != id {
		t.Fatalf("leased %+v", leased)
	}
	token := leased.Leases[0].LeaseToken
	worker := make(chan error, 1)
	go func() { // the job: 50 steps of 200 ms, then done
		call := func(what, fields string) error {
			code, _, err := clustertest.Do(ctx, http.MethodPost, lb+"/api/v1/leases/"+id+"/"+what,
				`{"lease_token":"`+token+`"`+fields+`}`, nil)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("%s: %d", what, code)
			}
			return err
		}
		for i := 1; i <= steps; i++ {
			time.Sleep(200 * time.Millisecond)
			if err := call("heartbeat", fmt.Sprintf(`,"progress":%d,"current_step":"step %d"`, i*100/steps, i)); err != nil {
				worker <- err
				return
			}
		}
		worker <- call("complete", "")
	}()

	url := lb + "/api/v1/jobs/status/" + id + "/stream"
	s, err := clustertest.OpenStream(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	first := s.Resp.Header.Get("X-Upstream")
	var seen []clustertest.Event
	for len(seen) == 0 || seen[len(seen)-1].Data["current_step"] != "step 10" {
		ev, err := s.Next()
		if err != nil {
			t.Fatalf("stream before the cut: %v after %d events", err, len(seen))
		}
		if ev.Data != nil {
			seen = append(seen, ev)
		}
	}
	s.Close() // the cut
	time.Sleep(5 * time.Second)
	last := seen[len(seen)-1].ID
	// Reconnect through nginx until it lands on the other apiserver (its
	// round robin moves on with every request).
	var s2 *clustertest.Stream
	for try := 0; ; try++ {
		if s2, err = clustertest.OpenStream(ctx, url, last); err != nil {
			t.Fatal(err)
		}
		if s2.Resp.Header.Get("X-Upstream") != first {
			break
		}
		s2.Close()
		if try == 10 {
			t.Fatalf("nginx sends every reconnection to %s", first)
		}
	}
	t.Logf("cut after %s on %s; resumed on %s", last, first, s2.Resp.Header.Get("X-Upstream"))
	replayed := -1
	for {
		ev, err := s2.Next()
		if err != nil {
			break // the end, after the completion
		}
		if ev.Data == nil {
			continue
		}
		if replayed < 0 { // the first event after the cut: how far the job got meanwhile
			replayed = stepOf(ev)
		}
		seen = append(seen, ev)
	}
	s2.Close()
	if err := <-worker; err != nil {
		t.Fatalf("the job's worker: %v", err)
	}

	var got []int
	prev := int64(-1)
	for i, ev := range seen {
		v, err := strconv.ParseInt(ev.ID, 10, 64)
		if err != nil || v <= prev {
			t.Fatalf("event %d: id %q after %d: want increasing ids, no duplicates", i, ev.ID, prev)
		}
		prev = v
		if n := stepOf(ev); n > 0 {
			got = append(got, n)
		}
	}
	for i, n := range got {
		if n != i+1 || len(got) != steps {
			t.Fatalf("steps seen %v: want 1 to %d, each once, in order", got, steps)
		}
	}
	if replayed != 11 {
		t.Fatalf("the resumed stream began with step %d, want 11 (the job was well past it: replayed)", replayed)
	}
	if st := seen[len(seen)-1].Data["status"]; st != "completed" {
		t.Fatalf("last event %v", seen[len(seen)-1].Data)
	}
	t.Logf("SUMMARY history-cut steps=%d events=%d first_after_cut=step %d", len(got), len(seen), replayed)
}

// stepOf is the step number of a progress event ("step 7"), 0 for others.
func stepOf(ev clustertest.Event) int {
	step, _ := ev.Data["current_step"].(string)
	n, _ := strconv.Atoi(strings.TrimPrefix(step, "step "))
	return n
}
