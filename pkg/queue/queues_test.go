package queue

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// queueNamesOf lists the queues Stats reports.
func queueNamesOf(t *testing.T, c *Client) []string {
	t.Helper()
	st, err := c.Stats(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range st.Queues {
		names = append(names, q.Name)
	}
	return names
}

// setupBounded is a client on the shared server whose queue registry
// holds at most maxQueues names.
func setupBounded(t *testing.T, maxQueues int) *Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Shared(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := NewClient(ctxT(t), rdb, &Config{Prefix: redistest.Prefix(t), MaxQueues: maxQueues})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The registry holds at most Config.MaxQueues names: a submission to one
// more new queue fails with ErrQueueLimit and creates nothing, while the
// known queues take jobs; forgetting an empty queue makes room.
func TestQueueRegistryIsBounded(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	c := setupBounded(t, 3)
	var q2 string
	for i, q := range []string{"q1", "q2", "q3"} {
		id := mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: q})
		if i == 1 {
			q2 = id
		}
	}
	res, err := c.EnqueueBatch(ctx, []EnqueueParams{{Type: "x", Queue: "q4"}, {Type: "x", Queue: "q4"}, {Type: "x", Queue: "q1"}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[0].Err, ErrQueueLimit) || !errors.Is(res[1].Err, ErrQueueLimit) || res[2].Err != nil {
		t.Fatalf("past the bound: %v, %v, %v", res[0].Err, res[1].Err, res[2].Err)
	}
	if _, err := c.Enqueue(ctx, EnqueueParams{Type: "x", Queue: "q5"}); !errors.Is(err, ErrQueueLimit) {
		t.Fatalf("Enqueue past the bound: %v", err)
	}
	if got := queueNamesOf(t, c); !slices.Equal(got, []string{"q1", "q2", "q3"}) {
		t.Fatalf("queues %v", got)
	}
	if n, err := c.ForgetEmptyQueues(ctx); err != nil || n != 0 {
		t.Fatalf("forgot %d (%v) while every queue has a job", n, err)
	}
	if err := c.Cancel(ctx, q2); err != nil {
		t.Fatal(err)
	}
	if n, err := c.ForgetEmptyQueues(ctx); err != nil || n != 1 {
		t.Fatalf("forgot %d (%v), want q2", n, err)
	}
	mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: "q4"})
	if got := queueNamesOf(t, c); !slices.Equal(got, []string{"q1", "q3", "q4"}) {
		t.Fatalf("queues %v", got)
	}
	checkInvariants(t, c)
}

// A queue forgotten while its only job runs (or sits finished) is
// registered again when that job comes back to one of its sets: failed
// into retrying, recovered by the reaper, put back at shutdown, restarted.
func TestForgottenQueueComesBack(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	w := testWorker(c)
	w.cfg.RetryBaseDelay, w.cfg.RetryMaxDelay = time.Hour, time.Hour // stays retrying
	runOne := func(q string, lease time.Duration) *run {
		t.Helper()
		mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: q})
		jobs, err := c.claim(ctx, "w", []string{q}, []string{"x"}, 1, lease)
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim %s: %v %v", q, jobs, err)
		}
		if n, err := c.ForgetEmptyQueues(ctx); err != nil || n < 1 || slices.Contains(queueNamesOf(t, c), q) {
			t.Fatalf("queue %s of a running job not forgotten: %d %v", q, n, err)
		}
		return &run{w: w, job: jobs[0], token: jobs[0].token, ctx: context.Background(), cancel: func(error) {}}
	}
	back := func(q string) {
		t.Helper()
		if !slices.Contains(queueNamesOf(t, c), q) {
			t.Errorf("queue %s not registered again", q)
		}
		checkInvariants(t, c)
	}

	if _, err := w.fail(runOne("failing", time.Minute), errors.New("try again")); err != nil {
		t.Fatal(err)
	}
	back("failing")

	r := runOne("reaped", time.Millisecond)
	waitLeasesExpired(t, c) // on Redis's clock
	if res, err := c.Reap(ctx); err != nil || res.Recovered != 1 {
		t.Fatalf("reap: %+v %v", res, err)
	}
	back("reaped")
	_ = c.Cancel(ctx, r.job.ID)

	w.requeue(runOne("requeued", time.Minute))
	back("requeued")

	id := mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: "restarted"})
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ForgetEmptyQueues(ctx); err != nil || slices.Contains(queueNamesOf(t, c), "restarted") {
		t.Fatal("queue of a cancelled job not forgotten")
	}
	if err := c.Restart(ctx, id); err != nil {
		t.Fatal(err)
	}
	back("restarted")
}

func TestForgetRacingSubmissions(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testForgetRacingSubmissions(t, c)
}

// testForgetRacingSubmissions: submissions, cancels and forgetting all at
// once; a queue holding a job is never forgotten (the invariants walk the
// registry: a pending job of a forgotten queue would be in no index).
func testForgetRacingSubmissions(t *testing.T, c *Client) {
	ctx := ctxT(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	forgotten := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := c.ForgetEmptyQueues(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			forgotten += n
		}
	})
	var subs sync.WaitGroup
	for g := range 4 {
		subs.Go(func() {
			for i := range 150 {
				q := "race" + strconv.Itoa(rand.IntN(6))
				id := mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: q})
				if (g+i)%3 != 0 {
					if err := c.Cancel(ctx, id); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	subs.Wait()
	close(stop)
	wg.Wait()
	t.Logf("forgot %d queues on the way", forgotten)
	checkInvariants(t, c)
}

// A list walks only the sets that hold jobs: queues with none in the
// state listed cost one pipelined ZCARD each, not a round trip each; and
// once forgotten, they cost nothing at all, in lists and in stats.
func TestListAndStatsCostNothingForDeadQueues(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil) // its own server: its counters are this test's
	c, b := setupOn(t, srv)
	ctx := ctxT(t)
	const dead = 500
	params := make([]EnqueueParams, dead)
	for i := range params {
		params[i] = EnqueueParams{Type: "x", Queue: "dead" + strconv.Itoa(i)}
	}
	res, err := c.EnqueueBatch(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		if err := c.Cancel(ctx, r.Job.ID); err != nil {
			t.Fatal(err)
		}
	}
	live := mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: "live"})

	calls := func() int64 {
		return redisStat(t, b.rdb, "cmdstat_zrange") + redisStat(t, b.rdb, "cmdstat_zcard") +
			redisStat(t, b.rdb, "cmdstat_hmget") + redisStat(t, b.rdb, "cmdstat_zrevrange")
	}
	before := redisStat(t, b.rdb, "cmdstat_zrange")
	page, err := c.List(ctx, ListParams{Status: StatePending})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].ID != live {
		t.Fatalf("list: %+v %v", page, err)
	}
	if n := redisStat(t, b.rdb, "cmdstat_zrange") - before; n > 2 {
		t.Errorf("a list of one pending job ranged %d sets: one per dead queue", n)
	}

	if n, err := c.ForgetEmptyQueues(ctx); err != nil || n != dead {
		t.Fatalf("forgot %d (%v), want %d", n, err, dead)
	}
	if got := queueNamesOf(t, c); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("stats queues %v", got)
	}
	before = calls()
	if page, err := c.List(ctx, ListParams{Status: StateRetrying}); err != nil || len(page.Jobs) != 0 {
		t.Fatalf("list retrying: %+v %v", page, err)
	}
	if n := calls() - before; n > 2*int64(len(c.shards)) {
		t.Errorf("a list of the retrying jobs made %d set reads after the dead queues were forgotten", n)
	}
	checkInvariants(t, c)
}
