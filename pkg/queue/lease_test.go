package queue

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// Concurrent completions share their round trips; each is answered for
// its own run, a repeat with the same token is answered OK, and an
// unknown job is not found.
func TestCompleteLeaseConcurrently(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	params := make([]EnqueueParams, 40)
	for i := range params {
		params[i] = EnqueueParams{Type: "ocr"}
	}
	if _, err := c.EnqueueBatch(ctx, params); err != nil {
		t.Fatal(err)
	}
	res, err := c.Lease(ctx, LeaseParams{WorkerID: "w", Types: []string{"ocr"}, Max: 40, Lease: 10 * time.Second})
	if err != nil || len(res.Jobs) != 40 {
		t.Fatalf("lease: %v %v", res, err)
	}
	if d, ok := LeaseOfToken(res.Jobs[0].Token); !ok || d != 10*time.Second {
		t.Fatalf("token %q names %s, %v", res.Jobs[0].Token, d, ok)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*len(res.Jobs))
	for i, l := range res.Jobs {
		wg.Add(2)
		go func() { defer wg.Done(); errs[2*i] = c.CompleteLease(ctx, l.Job.ID, l.Token, `{"i":1}`) }()
		go func() { defer wg.Done(); errs[2*i+1] = c.CompleteLease(ctx, l.Job.ID, l.Token, "") }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("completion %d: %v", i, err)
		}
	}
	var lost *LeaseLostError
	if err := c.CompleteLease(ctx, res.Jobs[0].Job.ID, "0123456789abcdef.10", ""); !errors.As(err, &lost) || lost.Status != StateCompleted {
		t.Fatalf("another token: %v", err)
	}
	if err := c.CompleteLease(ctx, "123e4567-e89b-12d3-a456-426614174000", "0123456789abcdef.10", ""); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
	checkInvariants(t, c)
}

// A lease of every queue finds the jobs of a queue new since it last
// read the registry: the queues it remembers being empty, it reads again.
func TestLeaseEveryQueueFindsANewQueue(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	p := LeaseParams{WorkerID: "w", Types: []string{"ocr"}, Max: 5, Lease: 10 * time.Second}
	if _, err := c.Enqueue(ctx, EnqueueParams{Type: "ocr", Queue: "a"}); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Lease(ctx, p); err != nil || len(res.Jobs) != 1 {
		t.Fatalf("lease: %+v %v", res, err)
	}
	e, err := c.Enqueue(ctx, EnqueueParams{Type: "ocr", Queue: "b"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Lease(ctx, p) // within leaseQueuesAge of the first
	if err != nil || len(res.Jobs) != 1 || res.Jobs[0].Job.ID != e.ID {
		t.Fatalf("lease after a new queue: %+v %v", res, err)
	}
}
