package queue

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A job whose deadline passes while it waits (here: no worker runs its
// type) ends failed with deadline_exceeded, never started; so do a
// scheduled one and one in a paused queue. One whose deadline is ahead
// stays.
func TestDeadlinePassedWhileWaiting(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	soon := time.Now().Add(100 * time.Millisecond)
	pending := mustEnqueue(t, c, EnqueueParams{Type: "nobody", Deadline: soon})
	scheduled := mustEnqueue(t, c, EnqueueParams{Type: "t", RunAt: time.Now().Add(time.Hour), Deadline: time.Now().Add(2 * time.Hour)})
	if err := c.PauseQueue(ctx, "held"); err != nil {
		t.Fatal(err)
	}
	held := mustEnqueue(t, c, EnqueueParams{Type: "t", Queue: "held", Deadline: soon})
	later := mustEnqueue(t, c, EnqueueParams{Type: "t", Deadline: time.Now().Add(time.Hour)})
	j, _ := c.Get(ctx, later)
	if j.Deadline.IsZero() || j.Deadline.Sub(time.Now()) < 59*time.Minute {
		t.Fatalf("deadline as stored: %v", j.Deadline)
	}
	failed := 0
	waitFor(t, 10*time.Second, "the deadlines to pass", func() bool {
		n, err := c.FailPastDeadlines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		failed += n
		return failed == 2
	})
	for _, id := range []string{pending, held} {
		j, _ := c.Get(ctx, id)
		if j.Status != StateFailed || j.Error != DeadlineExceeded || !j.StartedAt.IsZero() || j.Attempts != 0 || j.CompletedAt.IsZero() {
			t.Fatalf("past its deadline: %+v", j)
		}
	}
	for _, id := range []string{scheduled, later} {
		if j, _ := c.Get(ctx, id); j.Status == StateFailed {
			t.Fatalf("failed before its deadline: %+v", j)
		}
	}
	if st, err := c.Stats(ctx); err != nil || st.DeadlineExceeded != 2 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	checkInvariants(t, c)
	if n, err := c.FailPastDeadlines(ctx); n != 0 || err != nil {
		t.Fatalf("a second pass: %d %v", n, err)
	}
}

// No claim takes a job past its deadline, even before the maintenance
// came by: the claim fails it, and takes the next one.
func TestClaimNeverStartsAJobPastItsDeadline(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	late := mustEnqueue(t, c, EnqueueParams{Type: "t", Deadline: time.Now().Add(30 * time.Millisecond)})
	next := mustEnqueue(t, c, EnqueueParams{Type: "t"})
	j, _ := c.Get(ctx, late)
	waitFor(t, 5*time.Second, "the deadline to pass by the Redis clock", func() bool {
		now, err := c.redisNow(ctx, c.shards[0])
		return err == nil && now.After(j.Deadline)
	})
	jobs, err := c.claim(ctx, "w1", []string{DefaultQueue}, []string{"t"}, 1, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].ID != next {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	j, _ = c.Get(ctx, late)
	if j.Status != StateFailed || j.Error != DeadlineExceeded || !j.StartedAt.IsZero() {
		t.Fatalf("the late job: %+v", j)
	}
	checkInvariants(t, c)
}

// A deadline already passed, or not after run_at, is refused.
func TestDeadlineValidation(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	for _, p := range []EnqueueParams{
		{Type: "t", Deadline: time.Now().Add(-time.Second)},
		{Type: "t", RunAt: time.Now().Add(time.Hour), Deadline: time.Now().Add(time.Minute)},
	} {
		if _, err := c.Enqueue(ctxT(t), p); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", p, err)
		}
	}
}

// A lease is never held past its job's timeout: taking it and extending
// it stop there, and once the timeout passes the reaper fails the run
// (timed out), which retries while attempts last and then fails.
func TestLeaseNotExtendedPastTimeout(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	retries := 1
	id := mustEnqueue(t, c, EnqueueParams{Type: "t", Timeout: 300 * time.Millisecond, MaxRetries: &retries})
	for attempt := 1; attempt <= 2; attempt++ {
		res, err := c.Lease(ctx, LeaseParams{WorkerID: "h1", Types: []string{"t"}, Max: 1, Lease: time.Minute})
		if err != nil || len(res.Jobs) != 1 {
			t.Fatalf("attempt %d: lease %+v %v", attempt, res, err)
		}
		l := res.Jobs[0]
		started := l.Job.StartedAt
		until := func() time.Time {
			ms, err := b.rdb.ZScore(ctx, c.shards.of(id).leases(), id).Result()
			if err != nil {
				t.Fatal(err)
			}
			return time.UnixMilli(int64(ms))
		}
		if got := until(); got.After(started.Add(300 * time.Millisecond)) {
			t.Fatalf("leased until %s, past the timeout (started %s)", got, started)
		}
		if err := c.HeartbeatLease(ctx, id, l.Token, time.Minute, nil, "", time.Minute); err != nil {
			t.Fatal(err)
		}
		p := 50.0
		if err := c.HeartbeatLease(ctx, id, l.Token, time.Minute, &p, "half", time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := until(); got.After(started.Add(300 * time.Millisecond)) {
			t.Fatalf("extended until %s, past the timeout (started %s)", got, started)
		}
		waitFor(t, 10*time.Second, "the reaper to take the run", func() bool {
			r, err := c.Reap(ctx)
			return err == nil && r.Recovered+r.Failed == 1
		})
		j, _ := c.Get(ctx, id)
		want := StatePending
		if attempt == 2 {
			want = StateFailed
		}
		if j.Status != want || !strings.HasPrefix(j.Error, "timed out after 0.3s") {
			t.Fatalf("attempt %d, after the timeout: %+v", attempt, j)
		}
		checkInvariants(t, c)
	}
	if st, err := c.Stats(ctx); err != nil || st.TimedOut != 2 {
		t.Fatalf("stats: %+v %v", st, err)
	}
}

// A restart is a new start: the job's deadline no longer holds it.
func TestRestartDropsTheDeadline(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	id := mustEnqueue(t, c, EnqueueParams{Type: "nobody", Deadline: time.Now().Add(50 * time.Millisecond)})
	waitFor(t, 10*time.Second, "the deadline to pass", func() bool {
		n, err := c.FailPastDeadlines(ctx)
		return err == nil && n == 1
	})
	if err := c.Restart(ctx, id); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.claim(ctx, "w1", []string{DefaultQueue}, []string{"nobody"}, 1, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].ID != id || !jobs[0].Deadline.IsZero() {
		t.Fatalf("claim after restart: %v %v", jobs, err)
	}
	checkInvariants(t, c)
}

// A job with a callback that fails past its deadline gets its delivery,
// whether the maintenance sweep or a claim failed it; and the history
// counts it failed.
func TestDeadlineFailureDeliversItsCallback(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	const url = "https://hooks.example.com/late"
	soon := time.Now().Add(50 * time.Millisecond)
	swept := mustEnqueue(t, c, EnqueueParams{Type: "nobody", Deadline: soon, CallbackURL: url})
	claimed := mustEnqueue(t, c, EnqueueParams{Type: "t", Deadline: soon, CallbackURL: url})
	j, _ := c.Get(ctx, claimed)
	waitFor(t, 5*time.Second, "the deadline to pass by the Redis clock", func() bool {
		now, err := c.redisNow(ctx, c.shards.of(claimed))
		return err == nil && now.After(j.Deadline)
	})
	if jobs, err := c.claim(ctx, "w1", []string{DefaultQueue}, []string{"t"}, 1, time.Minute); err != nil || len(jobs) != 0 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	waitFor(t, 5*time.Second, "the sweep", func() bool {
		n, err := c.FailPastDeadlines(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	for _, id := range []string{swept, claimed} {
		j, err := c.Get(ctx, id)
		if err != nil || j.Status != StateFailed || j.Error != DeadlineExceeded {
			t.Fatalf("%s: %+v %v", id, j, err)
		}
		if d := j.Delivery; d == nil || d.State != DeliveryPending || d.ID == "" {
			t.Fatalf("%s: no pending delivery: %+v", id, j.Delivery)
		}
	}
	if jobs, err := c.ClaimDeliveries(ctx, 10, time.Minute); err != nil || len(jobs) != 2 {
		t.Fatalf("claimed %d deliveries, %v; want 2", len(jobs), err)
	}
	points, err := c.History(ctx, HistoryQuery{Step: time.Minute, Points: 5})
	if err != nil {
		t.Fatal(err)
	}
	var failed int64
	for _, p := range points {
		failed += p.Failed
	}
	if failed != 2 {
		t.Fatalf("history counts %d failed, want 2", failed)
	}
	checkInvariants(t, c)
}
