package queue

import (
	"context"
	"slices"
	"testing"
	"time"
)

// A paused queue's jobs are taken by no claim, Go worker's or lease's,
// while the other queues' are; submissions go on; once resumed, they are.
func TestPauseQueueStopsClaims(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "p"}, 3)
	other := mustEnqueue(t, c, EnqueueParams{Type: "t", Queue: "o"})
	if err := c.PauseQueue(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if err := c.PauseQueue(ctx, "p"); err != nil { // again: fine
		t.Fatal(err)
	}
	ids = append(ids, mustEnqueue(t, c, EnqueueParams{Type: "t", Queue: "p"})) // still accepted
	jobs, err := c.claim(ctx, "w1", []string{"p", "o"}, []string{"t"}, 10, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].ID != other {
		t.Fatalf("claim with p paused: %v %v", jobs, err)
	}
	res, err := c.Lease(ctx, LeaseParams{WorkerID: "h1", Types: []string{"t"}, Max: 10, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 0 {
		t.Fatalf("lease with p paused: %+v %v", res, err)
	}
	paused, err := c.PausedQueues(ctx)
	if err != nil || !slices.Equal(paused, []string{"p"}) {
		t.Fatalf("paused queues: %v %v", paused, err)
	}
	qs, err := c.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 2 || qs[0].Name != "o" || qs[0].Running != 1 || qs[0].Paused || qs[0].Pending != 0 ||
		qs[1].Name != "p" || qs[1].Pending != 4 || !qs[1].Paused || qs[1].Running != 0 || qs[1].PendingByType["t"] != 4 {
		t.Fatalf("queues: %+v", qs)
	}
	checkInvariants(t, c)

	if err := c.ResumeQueue(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	res, err = c.Lease(ctx, LeaseParams{WorkerID: "h1", Types: []string{"t"}, Max: 10, Lease: time.Minute})
	if err != nil || len(res.Jobs) != len(ids) {
		t.Fatalf("lease once resumed: %+v %v", res, err)
	}
	if paused, _ := c.PausedQueues(ctx); len(paused) != 0 {
		t.Fatalf("paused after resume: %v", paused)
	}
	checkInvariants(t, c)
	if err := c.PauseQueue(ctx, "bad name"); err == nil {
		t.Fatal("a bad queue name was paused")
	}
}

// An idle worker blocked on a paused queue's lanes runs its jobs once
// the queue is resumed, with no restart: the resume wakes it.
func TestResumeQueueWakesIdleWorkers(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	if err := c.PauseQueue(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	mux := NewMux()
	mux.HandleFunc("t", func(ctx context.Context, j *ActiveJob) (any, error) { return nil, nil })
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "p"}, 3)
	_, idle := startWorkerIdle(t, c, mux, WorkerConfig{Queues: map[string]int{"p": 1}, Concurrency: 2})
	idle()
	for _, id := range ids {
		if j, _ := c.Get(ctx, id); j.Status != StatePending {
			t.Fatalf("a paused queue's job ran: %+v", j)
		}
	}
	if err := c.ResumeQueue(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, c)
	for _, id := range ids {
		w.waitStatus(id, 10*time.Second, StateCompleted)
	}
}

// A lease call waiting on a paused queue's lanes is told when the queue
// resumes.
func TestResumeQueueTellsLeaseWaiters(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	hub := startHub(t, c)
	if err := c.PauseQueue(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	w0 := hub.WatchLanes([]string{"p"}, []string{"t"})
	mustEnqueue(t, c, EnqueueParams{Type: "t", Queue: "p"})
	<-w0.C // the submission's notice came: later signals are later events'
	w0.Close()
	w := hub.WatchLanes([]string{"p"}, []string{"t"})
	defer w.Close()
	res, err := c.Lease(ctx, LeaseParams{WorkerID: "h", Queues: []string{"p"}, Types: []string{"t"}, Max: 1, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 0 {
		t.Fatalf("lease while paused: %+v %v", res, err)
	}
	if err := c.ResumeQueue(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C:
	case <-time.After(10 * time.Second):
		t.Fatal("the resume told no lease waiter")
	}
	res, err = c.Lease(ctx, LeaseParams{WorkerID: "h", Queues: []string{"p"}, Types: []string{"t"}, Max: 1, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("lease once resumed: %+v %v", res, err)
	}
}
