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

// httpLeaseBatch is the most jobs one lease call of the scenario takes.
const httpLeaseBatch = 50

// httpWorker: ProcessN pre-submitted no-op jobs drained by Workers HTTP
// workers, each leasing httpLeaseBatch at a time and completing them with
// Concurrency requests at once, through one apiserver process; timed from
// the workers' start until Redis counts every job completed. Its Redis
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
	r.Note = fmt.Sprintf("%d HTTP workers, leases of %d, %d completions at once, one apiserver process",
		b.cfg.Workers, httpLeaseBatch, b.cfg.Concurrency)
	return r, nil
}

// leaseLoop is one HTTP worker: it leases up to httpLeaseBatch jobs,
// completes them with concurrency requests at once, and leases again,
// until ctx ends.
func leaseLoop(ctx context.Context, hc *http.Client, base, id string, concurrency int) error {
	body := fmt.Sprintf(`{"worker_id":%q,"types":[%q],"max_jobs":%d,"wait_seconds":1,"lease_seconds":60}`,
		id, typeNoop, httpLeaseBatch)
	for ctx.Err() == nil {
		var got struct {
			Leases []struct {
				JobID      string `json:"job_id"`
				LeaseToken string `json:"lease_token"`
			} `json:"leases"`
		}
		if err := postJSON(ctx, hc, base+"/api/v1/leases", body, &got); err != nil {
			return err
		}
		err := parallel(min(concurrency, len(got.Leases)), func(w int) error {
			for i := w; i < len(got.Leases); i += concurrency {
				l := got.Leases[i]
				err := postJSON(ctx, hc, base+"/api/v1/leases/"+l.JobID+"/complete",
					`{"lease_token":"`+l.LeaseToken+`","result":{"ok":true}}`, nil)
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
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
