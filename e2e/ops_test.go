package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/pkg/queue"
)

// submitDemo submits n demo jobs to queue through the engine.
func submitDemo(t *testing.T, ctx context.Context, q *queue.Client, queueName, payload string, n int) {
	t.Helper()
	params := make([]queue.EnqueueParams, n)
	for i := range params {
		params[i] = queue.EnqueueParams{Type: "demo", Queue: queueName, Payload: json.RawMessage(payload)}
	}
	res, err := q.EnqueueBatch(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// allJobs lists every job in state s.
func allJobs(t *testing.T, ctx context.Context, q *queue.Client, s queue.State) []*queue.Job {
	t.Helper()
	var out []*queue.Job
	for cursor := ""; ; {
		page, err := q.List(ctx, queue.ListParams{Status: s, Cursor: cursor, Limit: queue.MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Jobs...)
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
	}
}

// TestPauseWhileWorkersDrain: two worker processes drain a queue; once
// the pause returns, no job of it starts (every started_at is before it,
// and the pending count stays put while the workers sit idle); once
// resumed, the queue drains.
func TestPauseWhileWorkersDrain(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 2})
	q := cl.Queue()
	base := cl.APIs()[0].URL
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const n = 2000
	submitDemo(t, ctx, q, queue.DefaultQueue, `{"steps": 1, "step_ms": 5}`, n)
	proctest.WaitFor(t, 30*time.Second, "the workers draining", func() bool {
		st, err := q.Stats(ctx)
		return err == nil && st.Counts[queue.StateCompleted] >= 50
	})
	if code, _ := clustertest.PostJSON(t, base+"/api/v1/queues/default/pause", "", nil); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	paused := time.Now() // Redis runs on this host: its clock is this one
	var left int64
	proctest.WaitFor(t, 30*time.Second, "the runs in flight done", func() bool {
		st, err := q.Stats(ctx)
		left = st.Counts[queue.StatePending]
		return err == nil && st.Counts[queue.StateRunning] == 0
	})
	if left == 0 {
		t.Fatal("the workers drained the queue before the pause: nothing left to hold")
	}
	// Idle workers wake at least every few seconds; none may take a job.
	var view struct {
		Queues []map[string]any `json:"queues"`
	}
	if code := clustertest.GetJSON(t, base+"/api/v1/queues", &view); code != http.StatusOK ||
		len(view.Queues) != 1 || view.Queues[0]["paused"] != true {
		t.Fatalf("queues: %d %v", code, view)
	}
	time.Sleep(2 * time.Second) // an absence is proven over a while
	st, err := q.Stats(ctx)
	if err != nil || st.Counts[queue.StatePending] != left || st.Counts[queue.StateRunning] != 0 {
		t.Fatalf("while paused: %v %v (pending was %d)", st.Counts, err, left)
	}
	started := 0
	for _, j := range allJobs(t, ctx, q, queue.StateCompleted) {
		started++
		if j.StartedAt.After(paused) {
			t.Fatalf("job %s started at %s, after the pause returned at %s", j.ID, j.StartedAt, paused)
		}
	}
	t.Logf("paused with %d of %d jobs run, %d pending", started, n, left)

	if code, _ := clustertest.PostJSON(t, base+"/api/v1/queues/default/resume", "", nil); code != http.StatusOK {
		t.Fatalf("resume: %d", code)
	}
	proctest.WaitFor(t, 60*time.Second, "the queue drained", func() bool {
		st, err := q.Stats(ctx)
		return err == nil && st.Counts[queue.StateCompleted] == n
	})
	if err := q.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestDeadlinePassedWhileWaiting: a job waits behind a long one on a
// worker process of one slot, which is then killed (SIGKILL), and Redis
// restarts; its deadline passes while it waits. It ends failed with
// deadline_exceeded, never started: the deadline outlived the restart,
// and the apiserver's maintenance failed the job (nothing depends on the
// worker).
func TestDeadlinePassedWhileWaiting(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 1,
		WorkerEnv: []string{"WORKER_CONCURRENCY=1"}})
	q := cl.Queue()
	base := cl.APIs()[0].URL
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	long := clustertest.Submit(t, base, `{"type": "demo", "payload": {"steps": 1, "step_ms": 30000}}`)
	proctest.WaitFor(t, 20*time.Second, "the long job running", func() bool {
		j, err := q.Get(ctx, long)
		return err == nil && j.Status == queue.StateRunning
	})
	id := clustertest.Submit(t, base, `{"type": "demo", "deadline": 2}`)
	cl.Workers()[0].Kill()
	cl.Redis.Shutdown()
	if err := cl.Redis.Restart(); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Status    string  `json:"status"`
		Error     *string `json:"error"`
		StartedAt *string `json:"started_at"`
		Attempts  int     `json:"attempts"`
		Deadline  *string `json:"deadline"`
	}
	proctest.WaitFor(t, 20*time.Second, "the job failed past its deadline", func() bool {
		return clustertest.GetJSON(t, base+"/api/v1/jobs/"+id, &st) == http.StatusOK && st.Status == "failed"
	})
	if st.Error == nil || *st.Error != queue.DeadlineExceeded || st.StartedAt != nil || st.Attempts != 0 || st.Deadline == nil {
		t.Fatalf("past its deadline: %+v", st)
	}
	if err := q.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRateLimitAcrossWorkers: three worker processes, started with
// WORKER_RATE_LIMITS=demo=20/s, drain a backlog of quick demo jobs for
// five seconds. Counted per second of start time, the starts never pass
// 20; in fact no 21 starts fall within any one second. The stats say
// the rest wait on the limit.
func TestRateLimitAcrossWorkers(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 3,
		WorkerEnv: []string{"WORKER_RATE_LIMITS=demo=20/s", "WORKER_CONCURRENCY=8"}})
	q := cl.Queue()
	base := cl.APIs()[0].URL
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	submitDemo(t, ctx, q, queue.DefaultQueue, `{"steps": 1, "step_ms": 1}`, 400)
	start := time.Now()
	var waiting bool
	proctest.WaitFor(t, 60*time.Second, "five seconds of starts", func() bool {
		var st struct {
			RateLimits []struct {
				Type    string `json:"type"`
				Waiting bool   `json:"waiting"`
			} `json:"rate_limits"`
		}
		if clustertest.GetJSON(t, base+"/api/v1/jobs/queue/stats", &st) == http.StatusOK {
			for _, r := range st.RateLimits {
				waiting = waiting || (r.Type == "demo" && r.Waiting)
			}
		}
		return time.Since(start) > 5*time.Second
	})
	// A job listed as running may finish before the completed ones are
	// listed: each job counts once.
	started := map[string]int64{}
	for _, s := range []queue.State{queue.StateRunning, queue.StateCompleted} {
		for _, j := range allJobs(t, ctx, q, s) {
			started[j.ID] = j.StartedAt.UnixMilli()
		}
	}
	var starts []int64
	for _, ms := range started {
		starts = append(starts, ms)
	}
	slices.Sort(starts)
	perSecond := map[int64]int{}
	for _, ms := range starts {
		perSecond[ms/1000]++
	}
	peak := 0
	for sec, n := range perSecond {
		peak = max(peak, n)
		if n > 20 {
			t.Errorf("%d starts in second %d: over the limit of 20", n, sec)
		}
	}
	for i := 0; i+20 < len(starts); i++ {
		if starts[i+20]-starts[i] < 1000 {
			t.Fatalf("21 starts within %d ms (from %d)", starts[i+20]-starts[i], starts[i])
		}
	}
	t.Logf("%d starts in %s over 3 workers; at most %d in one second", len(starts), time.Since(start).Round(time.Millisecond), peak)
	if len(starts) < 60 {
		t.Fatalf("only %d starts in over 5 s: the limit held the workers back more than it should", len(starts))
	}
	if !waiting {
		t.Fatal("the stats never said jobs wait on the rate limit")
	}
}
