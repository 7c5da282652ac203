package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testWorker is a Worker shell for driving final writes by hand.
func testWorker(c *Client) *Worker {
	w := &Worker{c: c, log: slog.New(slog.DiscardHandler), runCtx: context.Background(),
		cfg: WorkerConfig{LeaseTTL: time.Second, RetryBaseDelay: time.Millisecond,
			RetryMaxDelay: 2 * time.Millisecond, ProgressInterval: time.Millisecond}}
	w.completer = newCompleter(w.completeBatch)
	w.progress = newProgressWriter(w)
	w.logs = newLogWriter(w)
	return w
}

// laneTypes is every type with a lane in queue, in any shard.
func laneTypes(t *testing.T, c *Client, queue string) []string {
	t.Helper()
	var types []string
	for _, k := range c.shards {
		types = append(types, c.rdb.SMembers(ctxT(t), k.laneTypes(queue)).Val()...)
	}
	slices.Sort(types)
	return slices.Compact(types)
}

func claimN(t *testing.T, c *Client, worker string, n int, lease time.Duration) []*run {
	t.Helper()
	jobs, err := c.claim(ctxT(t), worker, []string{DefaultQueue}, laneTypes(t, c, DefaultQueue), n, lease)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	w := testWorker(c)
	out := make([]*run, len(jobs))
	for i, j := range jobs {
		out[i] = &run{w: w, job: j, token: j.token, ctx: context.Background(), cancel: func(error) {}}
	}
	return out
}

func TestConcurrentClaimersNeverTakeOneJobTwice(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testConcurrentClaimersNeverTakeOneJobTwice(t, c)
}

// testConcurrentClaimersNeverTakeOneJobTwice is TestConcurrentClaimersNeverTakeOneJobTwice's body, run on a Redis Cluster too (cluster_test.go).
func testConcurrentClaimersNeverTakeOneJobTwice(t *testing.T, c *Client) {
	ctx := ctxT(t)
	const jobs = 600
	params := make([]EnqueueParams, jobs)
	for i := range params {
		params[i] = EnqueueParams{Type: "noop", Priority: i % 3}
	}
	if _, err := c.EnqueueBatch(ctx, params); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]string{}
	var dups atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(worker string) {
			defer wg.Done()
			for empty := 0; empty < 3; {
				got, err := c.claim(ctx, worker, []string{DefaultQueue}, []string{"x", "noop"}, 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					empty++
					continue
				}
				mu.Lock()
				for _, j := range got {
					if prev, ok := seen[j.ID]; ok {
						dups.Add(1)
						t.Errorf("job %s claimed by %s and %s", j.ID, prev, worker)
					}
					seen[j.ID] = worker
				}
				mu.Unlock()
			}
		}(fmt.Sprintf("w%d", w))
	}
	wg.Wait()
	if len(seen) != jobs || dups.Load() != 0 {
		t.Fatalf("claimed %d distinct of %d, %d duplicates", len(seen), jobs, dups.Load())
	}
	st, _ := c.Stats(ctx)
	if st.Counts[StateRunning] != jobs || st.Counts[StatePending] != 0 {
		t.Fatalf("counts %v", st.Counts)
	}
	checkInvariants(t, c)
}

func TestClaimTakesHigherPriorityFirst(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testClaimTakesHigherPriorityFirst(t, c)
}

// testClaimTakesHigherPriorityFirst is TestClaimTakesHigherPriorityFirst's body, run on a Redis Cluster too (cluster_test.go).
func testClaimTakesHigherPriorityFirst(t *testing.T, c *Client) {
	low := mustEnqueue(t, c, EnqueueParams{Type: "x", Priority: 1})
	high := mustEnqueue(t, c, EnqueueParams{Type: "x", Priority: 90})
	low2 := mustEnqueue(t, c, EnqueueParams{Type: "x", Priority: 1})
	var order []string
	for i := 0; i < 3; i++ {
		r := claimN(t, c, "w", 1, time.Minute)
		order = append(order, r[0].job.ID)
	}
	want := []string{high, low, low2}
	if len(c.shards) > 1 && order[1] == low2 {
		// Equal priorities in different shards take turns: each shard
		// is FIFO, not the union (docs/cluster.md).
		want[1], want[2] = low2, low
	}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("claim order %v, want %v", order, want)
	}
}

func TestCancelRacingCompletion(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testCancelRacingCompletion(t, c)
}

// testCancelRacingCompletion is TestCancelRacingCompletion's body, run on a Redis Cluster too (cluster_test.go).
func testCancelRacingCompletion(t *testing.T, c *Client) {
	ctx := ctxT(t)
	w := testWorker(c)
	wins := map[State]int{}
	for i := 0; i < 150; i++ {
		id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
		r := claimN(t, c, "w", 1, time.Minute)[0]
		var cancelErr, completeErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); cancelErr = c.Cancel(ctx, id) }()
		go func() { defer wg.Done(); completeErr = w.complete(r, "done") }()
		wg.Wait()
		j, _ := c.Get(ctx, id)
		switch {
		case cancelErr == nil && errors.Is(completeErr, ErrLeaseLost):
			if j.Status != StateCancelled || j.Result != nil {
				t.Fatalf("cancel won but job is %s result %s", j.Status, j.Result)
			}
		case completeErr == nil:
			var te *TransitionError
			if !errors.As(cancelErr, &te) || te.From != StateCompleted || j.Status != StateCompleted {
				t.Fatalf("complete won but cancel said %v, job %s", cancelErr, j.Status)
			}
		default:
			t.Fatalf("cancel %v, complete %v", cancelErr, completeErr)
		}
		wins[j.Status]++
		// The losing run can never change the job again.
		if _, err := w.fail(r, errors.New("late")); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("late fail from the old run: %v", err)
		}
	}
	t.Logf("outcomes: %v", wins)
	checkInvariants(t, c)
}

func TestRestartRacingLateWriteFromOldRun(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testRestartRacingLateWriteFromOldRun(t, c)
}

// testRestartRacingLateWriteFromOldRun is TestRestartRacingLateWriteFromOldRun's body, run on a Redis Cluster too (cluster_test.go).
func testRestartRacingLateWriteFromOldRun(t *testing.T, c *Client) {
	ctx := ctxT(t)
	w := testWorker(c)
	for i := 0; i < 50; i++ {
		id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
		old := claimN(t, c, "w1", 1, time.Minute)[0]
		if err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		var restartErr, lateErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); restartErr = c.Restart(ctx, id) }()
		go func() { defer wg.Done(); lateErr = w.complete(old, "stale") }()
		wg.Wait()
		if restartErr != nil || !errors.Is(lateErr, ErrLeaseLost) {
			t.Fatalf("restart %v, late write %v", restartErr, lateErr)
		}
		j, _ := c.Get(ctx, id)
		if j.Status != StatePending || j.Restarts != 1 || j.Attempts != 0 || j.Result != nil || !j.CompletedAt.IsZero() {
			t.Fatalf("after restart: %+v", j)
		}
		fresh := claimN(t, c, "w2", 1, time.Minute)[0]
		if err := w.complete(old, "stale again"); !errors.Is(err, ErrLeaseLost) {
			t.Fatalf("old run wrote over the new run: %v", err)
		}
		old.reportProgress(50, "stale")
		old.flushProgress()
		if err := w.complete(fresh, "fresh"); err != nil {
			t.Fatal(err)
		}
		j, _ = c.Get(ctx, id)
		if j.Status != StateCompleted || string(j.Result) != `"fresh"` {
			t.Fatalf("final: %s %s", j.Status, j.Result)
		}
	}
	checkInvariants(t, c)
}

func TestReaperRacingHeartbeat(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testReaperRacingHeartbeat(t, c)
}

// testReaperRacingHeartbeat is TestReaperRacingHeartbeat's body, run on a Redis Cluster too (cluster_test.go).
func testReaperRacingHeartbeat(t *testing.T, c *Client) {
	ctx := ctxT(t)
	outcomes := map[string]int{}
	for i := 0; i < 60; i++ {
		id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
		r := claimN(t, c, "w", 1, 5*time.Millisecond)[0]
		waitLeasesExpired(t, c)
		var wg sync.WaitGroup
		var reaped ReapResult
		var beat []error
		var beatErr error
		wg.Add(2)
		go func() { defer wg.Done(); reaped, _ = c.Reap(ctx) }()
		go func() {
			defer wg.Done()
			beat, beatErr = c.luaExtend(ctx, time.Minute, []runRef{{id: id, token: r.token}})
		}()
		wg.Wait()
		if beatErr != nil {
			t.Fatal(beatErr)
		}
		beatOK := beat[0] == nil
		j, _ := c.Get(ctx, id)
		switch {
		case beatOK && reaped.Recovered == 0:
			outcomes["heartbeat first"]++
			if j.Status != StateRunning || j.token != r.token {
				t.Fatalf("heartbeat won but job %s", j.Status)
			}
		case !beatOK && reaped.Recovered == 1:
			outcomes["reaper first"]++
			if j.Status != StatePending || j.Attempts != 1 {
				t.Fatalf("reaper won but job %s attempts %d", j.Status, j.Attempts)
			}
		default:
			t.Fatalf("both or neither won: heartbeat ok=%v, reaped %+v, job %s", beatOK, reaped, j.Status)
		}
		_ = c.Cancel(ctx, id)
	}
	t.Logf("outcomes: %v", outcomes)
	checkInvariants(t, c)
}

func TestTwoReapersRecoverEachJobOnce(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testTwoReapersRecoverEachJobOnce(t, c)
}

// testTwoReapersRecoverEachJobOnce is TestTwoReapersRecoverEachJobOnce's body, run on a Redis Cluster too (cluster_test.go).
func testTwoReapersRecoverEachJobOnce(t *testing.T, c *Client) {
	ctx := ctxT(t)
	const n = 250
	params := make([]EnqueueParams, n)
	one := 1
	for i := range params {
		params[i] = EnqueueParams{Type: "x", MaxRetries: &one}
	}
	if _, err := c.EnqueueBatch(ctx, params); err != nil {
		t.Fatal(err)
	}
	if got := len(claimN(t, c, "dead", n, time.Millisecond)); got != n {
		t.Fatalf("claimed %d", got)
	}
	waitLeasesExpired(t, c)
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Reap(ctx)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(res.Recovered + res.Failed))
		}()
	}
	wg.Wait()
	if total.Load() != n {
		t.Fatalf("reapers moved %d jobs, want %d", total.Load(), n)
	}
	st, _ := c.Stats(ctx)
	if st.Counts[StatePending] != n || st.Counts[StateRunning] != 0 {
		t.Fatalf("counts %v", st.Counts)
	}
	checkInvariants(t, c)
	// Second expiry with no attempts left: failed, not pending.
	claimN(t, c, "dead2", n, time.Millisecond)
	waitLeasesExpired(t, c)
	res, err := c.Reap(ctx)
	if err != nil || res.Failed != n {
		t.Fatalf("second reap %+v %v", res, err)
	}
	checkInvariants(t, c)
}

// A recovered job goes to the head of its priority, ahead of jobs
// submitted while it ran, so it runs again within 2× its lease even
// under a backlog; higher priorities still come first.
func TestRecoveredJobRunsBeforeTheBacklog(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testRecoveredJobRunsBeforeTheBacklog(t, c)
}

// testRecoveredJobRunsBeforeTheBacklog is TestRecoveredJobRunsBeforeTheBacklog's body, run on a Redis Cluster too (cluster_test.go).
func testRecoveredJobRunsBeforeTheBacklog(t *testing.T, c *Client) {
	ctx := ctxT(t)
	first := mustEnqueue(t, c, EnqueueParams{Type: "x"})
	if got := claimN(t, c, "dead", 1, time.Millisecond); len(got) != 1 || got[0].job.ID != first {
		t.Fatalf("claimed %v", got)
	}
	backlog := []string{mustEnqueue(t, c, EnqueueParams{Type: "x"}), mustEnqueue(t, c, EnqueueParams{Type: "x"})}
	urgent := mustEnqueue(t, c, EnqueueParams{Type: "x", Priority: 5})
	waitLeasesExpired(t, c)
	if res, err := c.Reap(ctx); err != nil || res.Recovered != 1 {
		t.Fatalf("reap: %+v %v", res, err)
	}
	var order []string
	for _, j := range claimN(t, c, "w", 4, time.Minute) {
		order = append(order, j.job.ID)
	}
	want := []string{urgent, first, backlog[0], backlog[1]}
	if len(c.shards) > 1 && len(order) == 4 && order[2] == backlog[1] {
		want[2], want[3] = backlog[1], backlog[0] // shards take turns (docs/cluster.md)
	}
	if !slices.Equal(order, want) {
		t.Fatalf("claim order %v, want urgent, recovered, then the backlog %v", order, want)
	}
	checkInvariants(t, c)
}
