package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The http_worker scenario: workers of the lease protocol (a Go client of
// POST /api/v1/leases and /complete, as a worker in any language would
// be) drain jobs through an apiserver process, beside the native worker
// of the process scenario.

// httpLeaseBatch is the most jobs one lease call of the scenario takes,
// httpCompleteBatch the most one completion call completes.
const httpLeaseBatch, httpCompleteBatch = 50, 100

// httpWorker: ProcessN pre-submitted no-op jobs drained by Workers HTTP
// workers, each leasing httpLeaseBatch at a time and completing the jobs
// that finished meanwhile together, through one apiserver process; timed
// from the workers' start until Redis counts every job completed. Its Redis
// CPU per job covers submission, lease and completion, as process's does.
func (b *bench) httpWorker(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	api, base, err := b.fleet.startAPI(ctx)
	if err != nil {
		return nil, err
	}
	defer api.stop()
	n := b.cfg.ProcessN
	r, err := b.submitThenRun(ctx, n,
		func() error { return b.fill(ctx, typeNoop, n, 500) },
		func() (Result, error) { return b.drainHTTP(ctx, base, n) })
	r.Scenario = "http_worker"
	if err != nil {
		return nil, err
	}
	if b.nativeRate > 0 {
		r.Note += fmt.Sprintf("; %.2f× the native process rate (%.0f jobs/s; goal ≥ 0.5×)", r.Value/b.nativeRate, b.nativeRate)
	}
	return []Result{r}, nil
}

// drainHTTP drains n pending no-op jobs with Workers HTTP workers through
// base, timed from their start until Redis counts every job completed.
func (b *bench) drainHTTP(ctx context.Context, base string, n int) (Result, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.cfg.Workers * b.cfg.Concurrency,
		DisableCompression: true}}
	defer hc.CloseIdleConnections()
	wctx, stop := context.WithCancel(ctx)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, b.cfg.Workers)
	for i := range b.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := leaseLoop(wctx, hc, base, "bench-http-"+strconv.Itoa(i), b.cfg.Concurrency); err != nil && wctx.Err() == nil {
				errs <- err
			}
		}()
	}
	err := b.waitCompleted(ctx, n, start)
	d := time.Since(start)
	stop()
	wg.Wait()
	select {
	case werr := <-errs:
		return Result{}, werr
	default:
	}
	if err != nil {
		return Result{}, err
	}
	r := rate("http_worker", ours, unitJobsPerS, n, d)
	r.Note = fmt.Sprintf("%d HTTP workers of %d slots, leases of up to %d, one apiserver process",
		b.cfg.Workers, b.cfg.Concurrency, httpLeaseBatch)
	return r, nil
}

// httpLease is one job a lease call of the scenario took.
type httpLease struct {
	JobID      string `json:"job_id"`
	LeaseToken string `json:"lease_token"`
}

// leaseLoop is one HTTP worker run as the Python SDK's worker runs: it
// has concurrency slots, asks for as many jobs as there are free slots
// (at most httpLeaseBatch a call), runs each job in a slot of its own and
// completes the jobs that finished meanwhile together
// (POST /api/v1/leases/complete), so that leasing overlaps the
// completions instead of waiting for a whole batch to finish. It runs
// until ctx ends.
func leaseLoop(ctx context.Context, hc *http.Client, base, id string, concurrency int) error {
	free := make(chan struct{}, concurrency) // a token per free slot
	for range concurrency {
		free <- struct{}{}
	}
	jobs := make(chan httpLease, concurrency)
	finished := make(chan httpLease, concurrency)
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range jobs {
				finished <- l // a no-op job: done at once
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := completeLoop(ctx, hc, base, finished, free); err != nil && ctx.Err() == nil {
			errc <- err
		}
	}()
	defer close(jobs)
	for ctx.Err() == nil {
		n := takeSlots(ctx, free, min(concurrency, httpLeaseBatch))
		if n == 0 {
			return nil
		}
		body := fmt.Sprintf(`{"worker_id":%q,"types":[%q],"max_jobs":%d,"wait_seconds":1,"lease_seconds":60}`,
			id, typeNoop, n)
		var got struct {
			Leases []httpLease `json:"leases"`
		}
		if err := postJSON(ctx, hc, base+"/api/v1/leases", body, &got); err != nil {
			return err
		}
		for range n - len(got.Leases) {
			free <- struct{}{} // slots the call left unfilled
		}
		for _, l := range got.Leases {
			jobs <- l
		}
		select {
		case err := <-errc:
			return err
		default:
		}
	}
	return nil
}

// completeLoop completes the finished jobs, each call taking every one
// that finished meanwhile (up to httpCompleteBatch), and frees their slots once
// answered. It runs until ctx ends.
func completeLoop(ctx context.Context, hc *http.Client, base string, finished <-chan httpLease, free chan<- struct{}) error {
	var body bytes.Buffer
	for {
		var first httpLease
		select {
		case first = <-finished:
		case <-ctx.Done():
			return nil
		}
		body.Reset()
		body.WriteString(`{"completions":[`)
		n := 0
		for l := first; ; {
			if n > 0 {
				body.WriteByte(',')
			}
			body.WriteString(`{"job_id":"` + l.JobID + `","lease_token":"` + l.LeaseToken + `","result":{"ok":true}}`)
			if n++; n == httpCompleteBatch {
				break
			}
			select {
			case l = <-finished:
				continue
			default:
			}
			break
		}
		body.WriteString(`]}`)
		var got struct {
			Results []struct {
				Status string `json:"status"`
			} `json:"results"`
		}
		if err := postJSON(ctx, hc, base+"/api/v1/leases/complete", body.String(), &got); err != nil {
			return err
		}
		for _, r := range got.Results {
			if r.Status != "completed" {
				return fmt.Errorf("a completion was refused: %+v", got.Results)
			}
		}
		for range n {
			free <- struct{}{}
		}
	}
}

// takeSlots waits for one free slot, then takes as many more as are free
// at once, up to most; it returns how many it took (0 once ctx ends).
func takeSlots(ctx context.Context, free chan struct{}, most int) int {
	select {
	case <-free:
	case <-ctx.Done():
		return 0
	}
	n := 1
	for n < most {
		select {
		case <-free:
			n++
		default:
			return n
		}
	}
	return n
}

// postJSON POSTs body to url and decodes a 200's answer into out (nil:
// discard it); any other status is an error.
func postJSON(ctx context.Context, hc *http.Client, url, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s %s", url, resp.Status, data)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
