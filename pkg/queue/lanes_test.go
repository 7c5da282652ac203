package queue

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// A head of jobs of a type nobody serves does not hide the jobs behind
// it: a claim takes from the lanes of its own types only.
func TestLaneOfAnUnservedTypeHidesNothing(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	params := make([]EnqueueParams, 3000)
	for i := range params {
		params[i] = EnqueueParams{Type: "nobody"}
	}
	if _, err := c.EnqueueBatch(ctx, params); err != nil {
		t.Fatal(err)
	}
	want := mustEnqueue(t, c, EnqueueParams{Type: "served"})
	jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"served"}, 5, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].ID != want {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	checkInvariants(t, c)
}

// Lanes of one queue merge in priority, then submission order.
func TestLanesMergeInRunOrder(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	var want []string
	for i, p := range []EnqueueParams{{Type: "a"}, {Type: "b"}, {Type: "a"}, {Type: "b", Priority: 5}, {Type: "c"}} {
		id := mustEnqueue(t, c, p)
		if i == 3 {
			want = append([]string{id}, want...)
		} else {
			want = append(want, id)
		}
	}
	jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"a", "b", "c"}, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want %v", got, want)
	}
}

// A Go worker never takes a job of a type it has no handler for: the job
// waits, pending, for a worker that has one.
func TestWorkerTakesOnlyItsTypes(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	wt := newWatcher(t, c)
	mux := NewMux()
	mux.HandleFunc("mine", func(context.Context, *ActiveJob) (any, error) { return nil, nil })
	_, idle := startWorkerIdle(t, c, mux, WorkerConfig{})
	other := mustEnqueue(t, c, EnqueueParams{Type: "theirs"})
	mine := mustEnqueue(t, c, EnqueueParams{Type: "mine"})
	wt.waitStatus(mine, 10*time.Second, StateCompleted)
	idle()
	if j, _ := c.Get(ctx, other); j.Status != StatePending {
		t.Fatalf("the job of another type is %s", j.Status)
	}
	checkInvariants(t, c)
}

// Stats counts a queue's pending jobs over its lanes; the janitor forgets
// the lanes that emptied, and then the queue.
func TestStatsAndForgetOverLanes(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	for _, typ := range []string{"a", "b", "b"} {
		mustEnqueue(t, c, EnqueueParams{Type: typ, Queue: "lanes"})
	}
	st, err := c.Stats(ctx)
	if err != nil || len(st.Queues) != 1 || st.Queues[0].Pending != 3 {
		t.Fatalf("stats %+v %v", st, err)
	}
	jobs, err := c.claim(ctx, "w", []string{"lanes"}, []string{"b"}, 5, time.Minute)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	if n, err := c.ForgetEmptyQueues(ctx); err != nil || n != 0 {
		t.Fatalf("forgot %d queues, %v: lane a still holds a job", n, err)
	}
	if got := laneTypes(t, c, "lanes"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("lanes left %v, want [a]", got)
	}
	if _, err := c.claim(ctx, "w", []string{"lanes"}, []string{"a"}, 5, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := c.ForgetEmptyQueues(ctx); err != nil || n != 1 {
		t.Fatalf("forgot %d queues, %v", n, err)
	}
	checkInvariants(t, c)
}

// A list of pending jobs walks every lane, paging across them.
func TestListPagesAcrossLanes(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	want := map[string]bool{}
	for i := range 7 {
		want[mustEnqueue(t, c, EnqueueParams{Type: []string{"a", "b", "c"}[i%3]})] = true
	}
	got := map[string]bool{}
	p := ListParams{Status: StatePending, Limit: 2}
	for {
		page, err := c.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			got[j.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d jobs, want %d", len(got), len(want))
	}
	page, err := c.List(ctx, ListParams{Status: StatePending, Type: "b"})
	if err != nil || len(page.Jobs) != 2 {
		t.Fatalf("list of type b: %v %v", page, err)
	}
}

// The same run failing a job twice (a retry after a lost answer) is
// answered with the job's status and changes nothing; another run's
// token is refused.
func TestRepeatedFailIsAnswered(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
	runs := claimN(t, c, "w", 1, time.Minute)
	w := runs[0].w
	if to, err := w.fail(runs[0], errors.New("boom")); err != nil || to != StateRetrying {
		t.Fatalf("fail: %s %v", to, err)
	}
	before, _ := c.Get(ctx, id)
	if to, err := w.fail(runs[0], errors.New("boom")); err != nil || to != StateRetrying {
		t.Fatalf("repeated fail: %s %v", to, err)
	}
	if after, _ := c.Get(ctx, id); after.Version != before.Version {
		t.Fatalf("a repeated fail changed the job: version %d → %d", before.Version, after.Version)
	}
	other := &run{w: w, job: runs[0].job, token: "not-the-token"}
	if _, err := w.fail(other, errors.New("late")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("fail with another token: %v", err)
	}
	checkInvariants(t, c)
}
