package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startWorker starts a real worker on c and stops it at cleanup.
func startWorker(t *testing.T, c *Client, mux *Mux, cfg WorkerConfig) *Worker {
	t.Helper()
	w, _ := startWorkerIdle(t, c, mux, cfg)
	return w
}

// startWorkerIdle is startWorker, with a function that waits until the
// worker is idle (blocked on its wake lists).
func startWorkerIdle(t *testing.T, c *Client, mux *Mux, cfg WorkerConfig) (*Worker, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 3 * time.Second
	}
	cfg.RetryBaseDelay = cmpOr(cfg.RetryBaseDelay, 10*time.Millisecond)
	cfg.RetryMaxDelay = cmpOr(cfg.RetryMaxDelay, 20*time.Millisecond)
	cfg.PromoteInterval = cmpOr(cfg.PromoteInterval, 20*time.Millisecond)
	w, err := NewWorker(c, mux, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var idle atomic.Bool
	w.testIdle = idle.Store
	if err := w.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w, func() {
		t.Helper()
		waitFor(t, 10*time.Second, "the worker idle", idle.Load)
	}
}

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// watch subscribes to a job's events (before its state is read, so nothing
// is missed) and waits until its status is one of want.
type watcher struct {
	t   *testing.T
	c   *Client
	hub *Hub
}

func newWatcher(t *testing.T, c *Client) *watcher {
	return &watcher{t: t, c: c, hub: startHub(t, c)}
}

func (w *watcher) waitStatus(id string, timeout time.Duration, want ...State) *Job {
	w.t.Helper()
	sub := w.hub.Subscribe(id)
	defer sub.Close()
	deadline := time.After(timeout)
	for {
		j, err := w.c.Get(context.Background(), id)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, s := range want {
			if j.Status == s {
				return j
			}
		}
		select {
		case <-sub.C:
		case <-deadline:
			w.t.Fatalf("job %s still %s after %s, want %v (error %q)", id, j.Status, timeout, want, j.Error)
		}
	}
}

func TestWorkerRunsJobReportingProgress(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testWorkerRunsJobReportingProgress(t, c)
}

// testWorkerRunsJobReportingProgress is TestWorkerRunsJobReportingProgress's body, run on a Redis Cluster too (cluster_test.go).
func testWorkerRunsJobReportingProgress(t *testing.T, c *Client) {
	wt := newWatcher(t, c)
	mux := NewMux()
	mux.HandleFunc("steps", func(ctx context.Context, j *ActiveJob) (any, error) {
		var p struct{ N int }
		if err := j.Decode(&p); err != nil {
			return nil, err
		}
		// Each step waits until its progress was written (its event came),
		// so that every step, not only the last, is seen.
		own := wt.hub.Subscribe(j.ID)
		defer own.Close()
		for i := 1; i <= p.N; i++ {
			step := fmt.Sprintf("Processing step %d of %d", i, p.N)
			j.Progress(float64(i)*100/float64(p.N), step)
			for ev := range own.C {
				if ev.CurrentStep == step {
					break
				}
			}
		}
		return map[string]int{"done": p.N}, nil
	})
	startWorker(t, c, mux, WorkerConfig{Concurrency: 2, ProgressInterval: 5 * time.Millisecond})
	all := wt.hub.Subscribe("")
	defer all.Close()
	id := mustEnqueue(t, c, EnqueueParams{Type: "steps", Payload: json.RawMessage(`{"N":4}`)})
	j := wt.waitStatus(id, 10*time.Second, StateCompleted)
	if string(j.Result) != `{"done":4}` || j.Progress != 100 || j.Attempts != 1 || j.StartedAt.IsZero() {
		t.Fatalf("job %+v", j)
	}
	var evs []Event
	for len(evs) == 0 || !evs[len(evs)-1].Status.Terminal() {
		select {
		case ev := <-all.C:
			evs = append(evs, ev)
		case <-time.After(5 * time.Second):
			t.Fatalf("events %+v", evs)
		}
	}
	var lastV int64
	sawStep := false
	for _, ev := range evs {
		if ev.Version <= lastV {
			t.Fatalf("versions not increasing: %+v", evs)
		}
		lastV = ev.Version
		sawStep = sawStep || ev.CurrentStep == "Processing step 4 of 4"
	}
	// A new job publishes no event (no one can be watching it yet): the
	// first is the claim's.
	if !sawStep || evs[0].Status != StateRunning || evs[len(evs)-1].Status != StateCompleted {
		t.Fatalf("events %+v", evs)
	}
	checkInvariants(t, c)
}

func TestIdleWorkerPicksUpWithoutPolling(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	started := make(chan time.Time, 10)
	mux := NewMux()
	mux.HandleFunc("x", func(ctx context.Context, j *ActiveJob) (any, error) {
		started <- time.Now()
		return nil, nil
	})
	_, idle := startWorkerIdle(t, c, mux, WorkerConfig{Concurrency: 1})
	for i := 0; i < 5; i++ {
		idle() // blocked on its wake list
		t0 := time.Now()
		mustEnqueue(t, c, EnqueueParams{Type: "x"})
		select {
		case at := <-started:
			// Functional check only: far below the 5 s idle safety net means
			// the wake list, not a timer, delivered the job.
			t.Logf("pickup %d: %s", i, at.Sub(t0))
		case <-time.After(2 * time.Second):
			t.Fatal("idle worker did not pick the job up via its wake list")
		}
	}
}

func TestRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	wt := newWatcher(t, c)
	var calls atomic.Int32
	mux := NewMux()
	mux.HandleFunc("flaky", func(ctx context.Context, j *ActiveJob) (any, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("transient")
		}
		return "ok", nil
	})
	startWorker(t, c, mux, WorkerConfig{})
	id := mustEnqueue(t, c, EnqueueParams{Type: "flaky"})
	j := wt.waitStatus(id, 10*time.Second, StateCompleted, StateFailed)
	if j.Status != StateCompleted || j.Attempts != 3 || j.Error != "" {
		t.Fatalf("job %+v", j)
	}
	checkInvariants(t, c)
}

func TestFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		maxRetries int
		timeout    time.Duration
		handler    func(ctx context.Context, j *ActiveJob) (any, error)
		attempts   int
		errLike    string
	}{
		{"permanent error fails at once", 5, 0, func(ctx context.Context, j *ActiveJob) (any, error) {
			return nil, Permanent(errors.New("bad input"))
		}, 1, "bad input"},
		{"attempts exhausted", 2, 0, func(ctx context.Context, j *ActiveJob) (any, error) {
			return nil, errors.New("always")
		}, 3, "always"},
		{"timeout is the context deadline", 0, 50 * time.Millisecond, func(ctx context.Context, j *ActiveJob) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}, 1, "timed out after 50ms"},
		{"panic becomes an error", 0, 0, func(ctx context.Context, j *ActiveJob) (any, error) {
			panic("kaboom")
		}, 1, "handler panicked: kaboom"},
		{"unencodable result", 0, 0, func(ctx context.Context, j *ActiveJob) (any, error) {
			return func() {}, nil
		}, 1, "encode result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t)
			wt := newWatcher(t, c)
			mux := NewMux()
			mux.HandleFunc("x", tc.handler)
			startWorker(t, c, mux, WorkerConfig{})
			mr := tc.maxRetries
			id := mustEnqueue(t, c, EnqueueParams{Type: "x", MaxRetries: &mr, Timeout: tc.timeout})
			j := wt.waitStatus(id, 10*time.Second, StateFailed, StateCompleted)
			if j.Status != StateFailed || j.Attempts != tc.attempts || !contains(j.Error, tc.errLike) || j.CompletedAt.IsZero() {
				t.Fatalf("job status %s attempts %d error %q", j.Status, j.Attempts, j.Error)
			}
			checkInvariants(t, c)
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0))
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// blockingHandler runs until its context ends, reporting when it started
// and why it stopped.
type blockingHandler struct {
	started  chan string
	stopped  chan error
	progress bool // report progress every 20ms while waiting
}

func newBlocking() *blockingHandler {
	return &blockingHandler{started: make(chan string, 10), stopped: make(chan error, 10)}
}

func (b *blockingHandler) Handle(ctx context.Context, j *ActiveJob) (any, error) {
	b.started <- j.ID
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			b.stopped <- context.Cause(ctx)
			return nil, ctx.Err()
		case <-t.C:
			if b.progress {
				j.Progress(float64(i%100), "waiting")
			}
		}
	}
}

func TestCancelRunningJobStopsHandler(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		pubsub   bool // deliver the cancel message, or lose it
		progress bool
	}{
		{"via pubsub", true, false},
		{"message lost, seen on progress write", false, true},
		{"message lost, seen on heartbeat", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t)
			ctx := ctxT(t)
			b := newBlocking()
			b.progress = tc.progress
			mux := NewMux()
			mux.Handle("block", b)
			startWorker(t, c, mux, WorkerConfig{LeaseTTL: 600 * time.Millisecond, ProgressInterval: 10 * time.Millisecond})
			id := mustEnqueue(t, c, EnqueueParams{Type: "block"})
			<-b.started
			t0 := time.Now()
			if tc.pubsub {
				if err := c.Cancel(ctx, id); err != nil {
					t.Fatal(err)
				}
			} else {
				// The cancel script with its message sent to a channel nobody
				// hears: only the durable flag can stop the handler.
				k := c.shards.of(id)
				res, err := c.runScript(ctx, c.scripts.cancel,
					[]string{k.job(id), k.counts(), k.lane(DefaultQueue, "block"), k.scheduled(DefaultQueue),
						k.retrying(DefaultQueue), k.leases(), k.typeRunning(), k.typeLimits(),
						k.laneWake(DefaultQueue, "block"), k.done(StateCancelled), k.history(), k.hooks(), k.jobEvents(id)},
					id, DefaultQueue, c.keys.eventsChannel(), "nobody-listens", c.wakeCap)
				if err != nil || scriptError(res, id, StateCancelled) != nil {
					t.Fatal(err, res)
				}
			}
			j, _ := c.Get(ctx, id)
			if j.Status != StateCancelled {
				t.Fatalf("not cancelled at once in Redis: %s", j.Status)
			}
			select {
			case cause := <-b.stopped:
				t.Logf("handler stopped %s after cancel (cause: %v)", time.Since(t0), cause)
				if !errors.Is(cause, errCancelledByUser) {
					t.Fatalf("cause %v", cause)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("handler never stopped")
			}
			waitIdle(t, c)
			if j, _ := c.Get(ctx, id); j.Status != StateCancelled {
				t.Fatalf("the old run overwrote the cancel: %s", j.Status)
			}
			checkInvariants(t, c)
		})
	}
}

// waitIdle waits until no job is running.
func waitIdle(t *testing.T, c *Client) {
	t.Helper()
	waitFor(t, 5*time.Second, "no job running", func() bool {
		n, err := c.rdb.HLen(context.Background(), c.keys.typeRunning()).Result()
		return err == nil && n == 0
	})
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	t.Run("running jobs finish within the timeout", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t)
		started, release := make(chan struct{}, 1), make(chan struct{})
		mux := NewMux()
		mux.HandleFunc("x", func(ctx context.Context, j *ActiveJob) (any, error) {
			started <- struct{}{}
			<-release
			return "finished", nil
		})
		w := startWorker(t, c, mux, WorkerConfig{ShutdownTimeout: 5 * time.Second})
		id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
		<-started
		stopped := make(chan struct{})
		go func() { w.Stop(); close(stopped) }()
		// Stop has stopped taking jobs and waits for the running one.
		within(t, 5*time.Second, "the fetch loop to stop", w.fetch.stopped())
		select {
		case <-stopped:
			t.Fatal("Stop returned while a job was running")
		default:
		}
		close(release)
		within(t, 5*time.Second, "Stop to return", stopped)
		j, _ := c.Get(ctxT(t), id)
		if j.Status != StateCompleted {
			t.Fatalf("status %s", j.Status)
		}
		if ws, _ := c.Workers(ctxT(t)); len(ws) != 0 {
			t.Fatalf("worker still registered: %+v", ws)
		}
	})
	t.Run("the rest are put back without charging an attempt", func(t *testing.T) {
		t.Parallel()
		c, _ := setup(t)
		b := newBlocking()
		mux := NewMux()
		mux.Handle("block", b)
		w := startWorker(t, c, mux, WorkerConfig{ShutdownTimeout: 100 * time.Millisecond, Concurrency: 3})
		ids := []string{mustEnqueue(t, c, EnqueueParams{Type: "block"}), mustEnqueue(t, c, EnqueueParams{Type: "block"})}
		<-b.started
		<-b.started
		w.Stop()
		for _, id := range ids {
			j, _ := c.Get(ctxT(t), id)
			if j.Status != StatePending || j.Attempts != 0 {
				t.Fatalf("job %s: %s attempts %d", id, j.Status, j.Attempts)
			}
		}
		checkInvariants(t, c)
	})
}

func TestTypeLimitHoldsAcrossWorkers(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	wt := newWatcher(t, c)
	var running, peak atomic.Int32
	release := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc("heavy", func(ctx context.Context, j *ActiveJob) (any, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release // held until the test has seen the fleet at its limit
		running.Add(-1)
		return nil, nil
	})
	cfg := WorkerConfig{Concurrency: 4, TypeLimits: map[string]int{"heavy": 2}}
	_, idle1 := startWorkerIdle(t, c, mux, cfg)
	_, idle2 := startWorkerIdle(t, c, mux, cfg)
	var ids []string
	for i := 0; i < 12; i++ {
		ids = append(ids, mustEnqueue(t, c, EnqueueParams{Type: "heavy"}))
	}
	// Two at a time: at the limit, with free slots, both workers look for
	// more and go idle, having found none they may take.
	for left := len(ids); left > 0; left -= 2 {
		waitFor(t, 10*time.Second, "two heavy jobs running", func() bool { return running.Load() == 2 })
		idle1()
		idle2()
		if n := peak.Load(); n > 2 {
			t.Fatalf("%d heavy jobs ran at once across the fleet, limit 2", n)
		}
		release <- struct{}{}
		release <- struct{}{}
	}
	for _, id := range ids {
		wt.waitStatus(id, 10*time.Second, StateCompleted)
	}
	if peak.Load() != 2 {
		t.Fatalf("at most %d heavy jobs ran at once across the fleet, limit 2", peak.Load())
	}
	checkInvariants(t, c)
}

func TestScheduledJobRunsWhenDue(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	wt := newWatcher(t, c)
	mux := NewMux()
	mux.HandleFunc("x", func(ctx context.Context, j *ActiveJob) (any, error) { return nil, nil })
	startWorker(t, c, mux, WorkerConfig{})
	runAt := time.Now().Add(300 * time.Millisecond)
	e, err := c.Enqueue(ctxT(t), EnqueueParams{Type: "x", RunAt: runAt})
	if err != nil || e.Status != StateScheduled {
		t.Fatalf("%+v %v", e, err)
	}
	j := wt.waitStatus(e.ID, 10*time.Second, StateCompleted)
	if j.StartedAt.Before(runAt.Add(-10 * time.Millisecond)) {
		t.Fatalf("started %s before run_at %s", j.StartedAt, runAt)
	}
	checkInvariants(t, c)
}

func TestDeadWorkersJobIsRecovered(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	wt := newWatcher(t, c)
	lease := 400 * time.Millisecond
	id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
	// A worker that claims and then never heartbeats: dead.
	if got := claimN(t, c, "dead-worker", 1, lease); len(got) != 1 {
		t.Fatal("claim")
	}
	died := time.Now()
	mux := NewMux()
	mux.HandleFunc("x", func(ctx context.Context, j *ActiveJob) (any, error) { return "recovered", nil })
	startWorker(t, c, mux, WorkerConfig{LeaseTTL: lease})
	j := wt.waitStatus(id, 10*time.Second, StateCompleted)
	took := j.CompletedAt.Sub(died)
	t.Logf("recovered and completed %s after the worker died (lease %s)", took, lease)
	if j.Attempts != 2 || j.WorkerID == "dead-worker" {
		t.Fatalf("job %+v", j)
	}
	if took > 2*lease+time.Second {
		t.Fatalf("recovery took %s, want within 2×lease (+slack)", took)
	}
}

func TestProgressWritesAreCoalesced(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	wt := newWatcher(t, c)
	sub := wt.hub.Subscribe("")
	defer sub.Close()
	const calls = 200000
	mux := NewMux()
	mux.HandleFunc("tight", func(ctx context.Context, j *ActiveJob) (any, error) {
		for i := 1; i <= calls; i++ {
			j.Progress(float64(i)*99/calls, fmt.Sprintf("item %d", i))
		}
		return nil, Permanent(errors.New("stop here")) // failed keeps the last progress
	})
	startWorker(t, c, mux, WorkerConfig{ProgressInterval: 20 * time.Millisecond})
	id := mustEnqueue(t, c, EnqueueParams{Type: "tight"})
	j := wt.waitStatus(id, 20*time.Second, StateFailed)
	progressEvents := 0
	var last Event
	for done := false; !done; {
		select {
		case ev := <-sub.C:
			if ev.JobID != id {
				continue
			}
			if ev.Status == StateRunning {
				progressEvents++
				last = ev
			}
			done = ev.Status.Terminal()
		case <-time.After(5 * time.Second):
			t.Fatal("no terminal event")
		}
	}
	t.Logf("%d progress calls → %d writes", calls, progressEvents)
	if progressEvents > calls/100 {
		t.Fatalf("%d writes for %d calls: not coalesced", progressEvents, calls)
	}
	if last.CurrentStep != fmt.Sprintf("item %d", calls) || last.Progress != 99 || j.Progress != 99 {
		t.Fatalf("last value not written: event %+v, job progress %v", last, j.Progress)
	}
}

func TestStrictPriorityQueues(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	var mu sync.Mutex
	var order []string
	for i := 0; i < 3; i++ {
		mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: "low"})
		mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: "critical"})
	}
	mux := NewMux()
	mux.HandleFunc("x", func(ctx context.Context, j *ActiveJob) (any, error) {
		mu.Lock()
		order = append(order, j.Queue)
		mu.Unlock()
		return nil, nil
	})
	startWorker(t, c, mux, WorkerConfig{Concurrency: 1, StrictPriority: true,
		Queues: map[string]int{"critical": 5, "low": 1}})
	waitFor(t, 5*time.Second, "the six jobs completed", func() bool {
		st, err := c.Stats(ctx)
		return err == nil && st.Counts[StateCompleted] == 6
	})
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order) != "[critical critical critical low low low]" {
		t.Fatalf("order %v", order)
	}
}

func TestUniqueKey(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	first := mustEnqueue(t, c, EnqueueParams{Type: "x", UniqueKey: "report-42"})
	_, err := c.Enqueue(ctx, EnqueueParams{Type: "x", UniqueKey: "report-42"})
	var dup *DuplicateError
	if !errors.As(err, &dup) || dup.JobID != first || dup.UniqueKey != "report-42" {
		t.Fatalf("second submit: %v", err)
	}
	// Once the holder is gone, the key is free again.
	if err := c.Cancel(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, c, EnqueueParams{Type: "x", UniqueKey: "report-42"})
	checkInvariants(t, c)
}

func TestJanitorExpiresFinishedJobs(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	w := testWorker(c)
	var done []string
	for i := 0; i < 5; i++ {
		done = append(done, mustEnqueue(t, c, EnqueueParams{Type: "x", UniqueKey: fmt.Sprint("k", i)}))
	}
	for _, r := range claimN(t, c, "w", 5, time.Minute) {
		if err := w.complete(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	keep := mustEnqueue(t, c, EnqueueParams{Type: "x"})
	if n, err := c.Expire(ctx, Retention{Completed: time.Hour}); err != nil || n != 0 {
		t.Fatalf("expired %d young jobs: %v", n, err)
	}
	waitRedisClock(t, c, 20*time.Millisecond) // the jobs are older than the retention below
	n, err := c.Expire(ctx, Retention{Completed: 20 * time.Millisecond})
	if err != nil || n != 5 {
		t.Fatalf("expired %d, %v", n, err)
	}
	for _, id := range done {
		if _, err := c.Get(ctx, id); !errors.Is(err, ErrJobNotFound) {
			t.Fatalf("job %s still there: %v", id, err)
		}
	}
	if _, err := c.Get(ctx, keep); err != nil {
		t.Fatal(err)
	}
	if keys, _ := c.rdb.Keys(ctx, c.keys.unique("*")).Result(); len(keys) != 0 {
		t.Fatalf("unique keys left: %v", keys)
	}
	checkInvariants(t, c)
}

func TestWorkerRegistry(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	mux := NewMux()
	mux.HandleFunc("a", func(ctx context.Context, j *ActiveJob) (any, error) { return nil, nil })
	w := startWorker(t, c, mux, WorkerConfig{Concurrency: 3, MaxMemoryMB: 4096,
		Queues: map[string]int{"default": 1, "bulk": 2}})
	ws, err := c.Workers(ctxT(t))
	if err != nil || len(ws) != 1 {
		t.Fatalf("%+v %v", ws, err)
	}
	wi := ws[0]
	if wi.ID != w.ID() || wi.Concurrency != 3 || fmt.Sprint(wi.Queues) != "[bulk default]" ||
		fmt.Sprint(wi.Types) != "[a]" || wi.RSSMB <= 0 || wi.PID == 0 || !wi.LimitsEnforced() || wi.StartedAt.IsZero() {
		t.Fatalf("worker info %+v", wi)
	}
}
