package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// Shape of the bounded-memory run. FAULTS_SOAK (a duration) runs it longer.
const (
	memoryRunFor    = 40 * time.Second
	memoryRetention = 2 * time.Second
	memoryJanitor   = time.Second
	memoryBatch     = 10                     // jobs per submission
	memoryEvery     = 100 * time.Millisecond // one batch per tick: 100 jobs/s
	// Generous bounds: the second half may not rise much above the first.
	memoryGrowth = 1.5
	memorySlack  = 8 << 20 // bytes of RSS noise allowed on top
)

// memorySample is one second of the run.
type memorySample struct {
	at       time.Duration
	redisMem int64 // used_memory
	keys     int64 // DBSIZE
	finished int64 // completed + failed + cancelled still kept
	waiting  int64 // pending + running
	rss      map[string]int64
}

// TestBoundedMemory runs a steady flow of jobs (100/s: most complete, some
// fail, some are cancelled) for memoryRunFor with a 2 s retention, while
// clients stream some of them. Every job that runs keeps its history of
// events (three progress steps each), and an HTTP worker's jobs (5/s)
// write 200 log lines each, past the bound of their logs. Redis used_memory, its key count, the kept
// finished jobs and every process's RSS must level off: the second half's
// maximum may not be much above the first half's. After the flow stops,
// retention empties the finished indexes.
func TestBoundedMemory(t *testing.T) {
	t.Parallel() // beside the outage tests; the storm, with its timed bound, runs alone first
	runFor := memoryRunFor
	if d, err := time.ParseDuration(os.Getenv("FAULTS_SOAK")); err == nil && d > 0 {
		runFor = d
	}
	keep := memoryRetention.String()
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 2,
		WorkerEnv: []string{"WORKER_CONCURRENCY=8", "RETENTION_COMPLETED=" + keep, "RETENTION_FAILED=" + keep,
			"RETENTION_CANCELLED=" + keep, "WORKER_JANITOR_INTERVAL=" + memoryJanitor.String(),
			"WORKER_RETRY_BASE_DELAY=10ms", "LOG_LEVEL=warn"},
		APIEnv: []string{"LOG_LEVEL=warn", "API_JOB_TYPES=" + memoryLogType, "LOG_LINES=100"}})
	api := cl.APIs()[0]
	q := cl.Queue()
	rdb := redis.NewClient(&redis.Options{Addr: cl.Redis.Addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), runFor+60*time.Second)
	defer cancel()
	pids := map[string]int{api.Proc.Name: api.Proc.PID()}
	for _, w := range cl.Workers() {
		pids[w.Name] = w.PID()
	}

	// The flow: a batch every tick; every 20th job fails for good, every
	// 20th is cancelled at once, one job a second is streamed to its end.
	flowCtx, stopFlow := context.WithTimeout(ctx, runFor)
	defer stopFlow()
	var flow sync.WaitGroup
	var submitted, streamed, logged int
	var flowErr error
	flow.Add(1)
	go func() {
		defer flow.Done()
		tick := time.NewTicker(memoryEvery)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-flowCtx.Done():
				return
			case <-tick.C:
			}
			var jobs []string
			for i := range memoryBatch {
				payload := `{"steps":3,"step_ms":5}`
				if (n*memoryBatch+i)%20 == 7 {
					payload = `{"steps":3,"step_ms":5,"fail_at":2},"max_retries":0`
				}
				jobs = append(jobs, `{"type":"demo","payload":`+payload+`}`)
			}
			var out struct {
				Jobs []struct {
					JobID string `json:"job_id"`
				} `json:"jobs"`
			}
			code, _, err := clustertest.Do(flowCtx, http.MethodPost, api.URL+"/api/v1/jobs/batch",
				`{"jobs":[`+strings.Join(jobs, ",")+`]}`, &out)
			if flowCtx.Err() != nil {
				return
			}
			if err != nil || code != http.StatusCreated || len(out.Jobs) != memoryBatch {
				flowErr = fmt.Errorf("batch: %d %v %+v", code, err, out)
				return
			}
			submitted += memoryBatch
			_, _, _ = clustertest.Do(flowCtx, http.MethodPost, api.URL+"/api/v1/jobs/cancel/"+out.Jobs[3].JobID, "", nil)
			if n%10 == 0 { // a client streams one job a second
				if s, err := clustertest.OpenStream(flowCtx, api.URL+"/api/v1/jobs/status/"+out.Jobs[0].JobID+"/stream", ""); err == nil {
					for {
						if _, err := s.Next(); err != nil {
							break
						}
					}
					s.Close()
					streamed++
				}
			}
		}
	}()

	flow.Add(1)
	go func() {
		defer flow.Done()
		logged += logFlow(flowCtx, api.URL)
	}()

	// Sample once a second while the flow runs.
	var series []memorySample
	start := time.Now()
	sampleTick := time.NewTicker(time.Second)
	for flowCtx.Err() == nil {
		select {
		case <-flowCtx.Done():
		case <-sampleTick.C:
			series = append(series, sampleMemory(t, ctx, rdb, q, pids, time.Since(start)))
		}
	}
	sampleTick.Stop()
	flow.Wait()
	if flowErr != nil {
		t.Fatal(flowErr)
	}

	t.Logf("%6s %12s %6s %8s %7s  %s", "t", "used_memory", "keys", "finished", "waiting", "rss")
	for _, s := range series {
		t.Logf("%6s %12d %6d %8d %7d  %s", s.at.Round(time.Second), s.redisMem, s.keys, s.finished, s.waiting, formatRSS(s.rss))
	}
	if len(series) < 10 {
		t.Fatalf("only %d samples", len(series))
	}
	half := len(series) / 2
	first, second := series[:half], series[half:]
	peak := func(ss []memorySample, f func(memorySample) int64) int64 {
		var m int64
		for _, s := range ss {
			m = max(m, f(s))
		}
		return m
	}
	checks := []struct {
		what  string
		f     func(memorySample) int64
		slack int64
	}{
		{"redis used_memory", func(s memorySample) int64 { return s.redisMem }, 1 << 20},
		{"redis keys", func(s memorySample) int64 { return s.keys }, 100},
		{"finished jobs kept", func(s memorySample) int64 { return s.finished }, 100},
	}
	for name := range pids {
		checks = append(checks, struct {
			what  string
			f     func(memorySample) int64
			slack int64
		}{name + " RSS", func(s memorySample) int64 { return s.rss[name] }, memorySlack})
	}
	var figures []string
	for _, c := range checks {
		p1, p2 := peak(first, c.f), peak(second, c.f)
		figures = append(figures, fmt.Sprintf("%s %d→%d", c.what, p1, p2))
		if float64(p2) > float64(p1)*memoryGrowth+float64(c.slack) {
			t.Errorf("%s keeps growing: peak %d in the first half, %d in the second", c.what, p1, p2)
		}
	}
	// Retention bounds what is kept: about rate × (retention + janitor
	// interval, jittered up to 1.5×); twice that is the limit.
	rate := float64(memoryBatch) / memoryEvery.Seconds()
	limit := int64(2 * rate * (memoryRetention + memoryJanitor*3/2).Seconds())
	if f := peak(series, func(s memorySample) int64 { return s.finished }); f > limit {
		t.Errorf("%d finished jobs kept at the peak; retention should hold it under %d", f, limit)
	}

	// Once the flow stops, retention empties the finished indexes.
	// A log job whose submission the flow's end cut short may be created
	// after the flow's last lease, and one whose run the end cut short is
	// recovered when its 5 s lease ends: the run takes them here.
	var drained memorySample
	batch, lines := logBatch()
	deadline := time.Now().Add(memoryRetention + 20*time.Second)
	for {
		drained = sampleMemory(t, ctx, rdb, q, pids, time.Since(start))
		if drained.finished == 0 && drained.waiting == 0 {
			break
		}
		if drained.waiting > 0 {
			runLogJobs(ctx, api.URL, batch, lines)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the flow: %d finished jobs still kept, %d waiting", drained.finished, drained.waiting)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := q.CheckInvariants(ctx); err != nil {
		t.Error(err)
	}
	t.Logf("jobs submitted %d (%.0f/s), streamed %d, log lines %d; peaks first→second half: %s", submitted,
		float64(submitted)/runFor.Seconds(), streamed, logged, strings.Join(figures, "; "))
	t.Logf("SUMMARY bounded-memory run=%s jobs=%d redis_used_memory_peak=%d→%d keys_peak=%d→%d finished_kept_peak=%d after_drain_keys=%d",
		runFor, submitted, peak(first, checks[0].f), peak(second, checks[0].f), peak(first, checks[1].f),
		peak(second, checks[1].f), peak(series, checks[2].f), drained.keys)
}

func sampleMemory(t *testing.T, ctx context.Context, rdb *redis.Client, q *queue.Client, pids map[string]int, at time.Duration) memorySample {
	t.Helper()
	s := memorySample{at: at, rss: map[string]int64{}}
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			s.redisMem, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if s.keys, err = rdb.DBSize(ctx).Result(); err != nil {
		t.Fatal(err)
	}
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.finished = st.Counts[queue.StateCompleted] + st.Counts[queue.StateFailed] + st.Counts[queue.StateCancelled]
	s.waiting = st.Counts[queue.StatePending] + st.Counts[queue.StateRunning] + st.Counts[queue.StateRetrying]
	for name, pid := range pids {
		if s.rss[name], err = clustertest.RSS(pid); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func formatRSS(rss map[string]int64) string {
	var parts []string
	for _, name := range []string{"apiserver1", "worker1", "worker2"} {
		parts = append(parts, fmt.Sprintf("%s=%.1fMiB", name, float64(rss[name])/(1<<20)))
	}
	return strings.Join(parts, " ")
}

// memoryLogType is the type of the jobs whose logs the run fills.
const memoryLogType = "soaklog"

// logFlow is an HTTP worker of the bounded-memory run: five jobs a
// second, each writing 200 log lines (twice the bound of a job's log)
// before it completes. It returns the lines written.
func logFlow(ctx context.Context, base string) int {
	batch, lines := logBatch()
	written := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return written
		case <-tick.C:
		}
		_, _, _ = clustertest.Do(ctx, http.MethodPost, base+"/api/v1/jobs", `{"type":"`+memoryLogType+`"}`, nil)
		// A job submitted (even if its answer was lost to the flow's end)
		// is run to its end: the run must leave nothing waiting.
		runCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		written += runLogJobs(runCtx, base, batch, lines)
		cancel()
	}
	return written
}

// logBatch is the tail of a log call's body with 50 lines, and its lines.
func logBatch() (batch string, n int) {
	lines := make([]string, 50)
	for i := range lines {
		lines[i] = `{"level":"info","message":"line ` + strconv.Itoa(i) + ` of a chatty job"}`
	}
	return `,"lines":[` + strings.Join(lines, ",") + `]}`, len(lines)
}

// runLogJobs leases the waiting jobs of logFlow, writes four batches of
// lines to each, and completes them. It returns the lines written.
func runLogJobs(ctx context.Context, base, batch string, lines int) int {
	written := 0
	for ctx.Err() == nil {
		var got struct {
			Leases []struct {
				JobID      string `json:"job_id"`
				LeaseToken string `json:"lease_token"`
			} `json:"leases"`
		}
		if _, _, err := clustertest.Do(ctx, http.MethodPost, base+"/api/v1/leases",
			`{"worker_id":"soak-logger","types":["`+memoryLogType+`"],"max_jobs":8,"lease_seconds":5}`, &got); err != nil {
			continue
		}
		if len(got.Leases) == 0 {
			return written
		}
		for _, l := range got.Leases {
			call := base + "/api/v1/leases/" + l.JobID + "/"
			token := `{"lease_token":"` + l.LeaseToken + `"`
			for range 4 {
				if code, _, err := clustertest.Do(ctx, http.MethodPost, call+"log", token+batch, nil); err == nil && code == http.StatusOK {
					written += lines
				}
			}
			_, _, _ = clustertest.Do(ctx, http.MethodPost, call+"complete", token+"}", nil)
		}
	}
	return written
}
