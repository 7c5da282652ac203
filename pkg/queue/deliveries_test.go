package queue

import (
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// leaseOne submits p and takes its job under a lease, as an HTTP worker.
func leaseOne(t *testing.T, c *Client, p EnqueueParams) (id, token string) {
	t.Helper()
	ctx := ctxT(t)
	id = mustEnqueue(t, c, p)
	res, err := c.Lease(ctx, LeaseParams{WorkerID: "w", Types: []string{p.Type}, Max: 1, Lease: 10 * time.Second})
	if err != nil || len(res.Jobs) != 1 || res.Jobs[0].Job.ID != id {
		t.Fatalf("lease: %+v %v", res, err)
	}
	return id, res.Jobs[0].Token
}

// A job with a callback URL gets its delivery in the transition that ends
// it; a job without one gets nothing.
func TestDeliveryEnqueuedWithTheEnd(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	const url = "https://hooks.example.com/done"
	ends := map[string]func(id, token string) error{
		"completed": func(id, token string) error { return c.CompleteLease(ctx, id, token, `{"ok":1}`) },
		"failed": func(id, token string) error {
			_, err := c.FailLease(ctx, id, token, "broken", false)
			return err
		},
		"cancelled": func(id, token string) error { return c.Cancel(ctx, id) },
	}
	for state, end := range ends {
		id, token := leaseOne(t, c, EnqueueParams{Type: "ocr", CallbackURL: url})
		if err := end(id, token); err != nil {
			t.Fatalf("%s: %v", state, err)
		}
		j, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if string(j.Status) != state || j.CallbackURL != url || j.Delivery == nil {
			t.Fatalf("%s: job %+v", state, j)
		}
		if d := j.Delivery; d.State != DeliveryPending || d.ID == "" || d.Tries != 0 {
			t.Fatalf("%s: delivery %+v", state, d)
		}
	}
	plain, token := leaseOne(t, c, EnqueueParams{Type: "ocr"})
	if err := c.CompleteLease(ctx, plain, token, ""); err != nil {
		t.Fatal(err)
	}
	if j, _ := c.Get(ctx, plain); j.Delivery != nil || j.CallbackURL != "" {
		t.Fatalf("a job without a callback got %+v", j.Delivery)
	}
	jobs, err := c.ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil || len(jobs) != len(ends) {
		t.Fatalf("claimed %d deliveries, %v; want %d", len(jobs), err, len(ends))
	}
	checkInvariants(t, c) // claimed deliveries stay in the set
	// A pending delivery missing from the set would never be made: the
	// invariants say so.
	if err := c.rdb.ZRem(ctx, c.shards.of(jobs[0].ID).hooks(), jobs[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckInvariants(ctx); err == nil {
		t.Fatal("a lost delivery passed the invariants")
	}
}

// A claimed delivery is no one else's until its lease ends; a failed
// attempt makes it due again, a stale claim cannot write, and a delivered
// one is done, its attempts kept on the job.
func TestDeliveryClaimedWithLease(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	id, token := leaseOne(t, c, EnqueueParams{Type: "ocr", CallbackURL: "http://hooks.example.com/x"})
	if err := c.CompleteLease(ctx, id, token, ""); err != nil {
		t.Fatal(err)
	}
	first, err := c.ClaimDeliveries(ctx, 10, 50*time.Millisecond)
	if err != nil || len(first) != 1 || first[0].ID != id {
		t.Fatalf("claim: %v %v", first, err)
	}
	if again, _ := c.ClaimDeliveries(ctx, 10, time.Minute); len(again) != 0 {
		t.Fatalf("a leased delivery was claimed again: %v", again)
	}
	// The first claim's holder dies: its lease ends, another takes it.
	var second []*Job
	deadline := time.Now().Add(5 * time.Second)
	for len(second) == 0 && time.Now().Before(deadline) {
		second, err = c.ClaimDeliveries(ctx, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(second) != 1 || second[0].Delivery.ID != first[0].Delivery.ID {
		t.Fatalf("after the lease: %v", second)
	}
	var lost *LeaseLostError
	err = c.AckDelivery(ctx, first[0], DeliveryAttempt{At: time.Now(), Error: "late"}, DeliveryDelivered, time.Time{})
	if !errors.As(err, &lost) {
		t.Fatalf("a stale claim acknowledged: %v", err)
	}
	fail := DeliveryAttempt{At: time.Now(), StatusCode: 503, Error: "503 Service Unavailable"}
	if err := c.AckDelivery(ctx, second[0], fail, DeliveryPending, time.Now()); err != nil {
		t.Fatal(err)
	}
	third, err := c.ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil || len(third) != 1 {
		t.Fatalf("a retried delivery is due: %v %v", third, err)
	}
	if err := c.AckDelivery(ctx, third[0], DeliveryAttempt{At: time.Now(), StatusCode: 204}, DeliveryDelivered, time.Time{}); err != nil {
		t.Fatal(err)
	}
	j, _ := c.Get(ctx, id)
	d := j.Delivery
	if d.State != DeliveryDelivered || d.Tries != 2 || len(d.Attempts) != 2 ||
		d.Attempts[0].StatusCode != 503 || d.Attempts[1].StatusCode != 204 || d.token != "" {
		t.Fatalf("delivery %+v", d)
	}
	if more, _ := c.ClaimDeliveries(ctx, 10, time.Minute); len(more) != 0 {
		t.Fatalf("a delivered delivery is claimed: %v", more)
	}
	checkInvariants(t, c)
}

// A delivery due when its job was restarted is dropped; the job's next
// end brings a new one, with a new id.
func TestDeliveryOfARestartedJob(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	id, token := leaseOne(t, c, EnqueueParams{Type: "ocr", CallbackURL: "http://hooks.example.com/x"})
	if _, err := c.FailLease(ctx, id, token, "broken", false); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Get(ctx, id)
	if err := c.Restart(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.ClaimDeliveries(ctx, 10, time.Minute); len(got) != 0 {
		t.Fatalf("claimed the delivery of a restarted job: %v", got)
	}
	if j, _ := c.Get(ctx, id); j.Delivery.State != DeliveryDropped {
		t.Fatalf("delivery %+v", j.Delivery)
	}
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	got, err := c.ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].Delivery.ID == before.Delivery.ID {
		t.Fatalf("the second end's delivery: %v %v (first %s)", got, err, before.Delivery.ID)
	}
	checkInvariants(t, c)
}

// A job failed by the reaper (its lease expired with no attempts left)
// gets its delivery too.
func TestDeliveryOfAReapedJob(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	zero := 0
	id := mustEnqueue(t, c, EnqueueParams{Type: "ocr", MaxRetries: &zero, CallbackURL: "http://hooks.example.com/x"})
	res, err := c.Lease(ctx, LeaseParams{WorkerID: "w", Types: []string{"ocr"}, Max: 1, Lease: 10 * time.Second})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("lease: %v %v", res, err)
	}
	// The worker died: its lease is past due.
	if err := c.rdb.ZAdd(ctx, c.shards.of(id).leases(), redis.Z{Score: 1, Member: id}).Err(); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Reap(ctx); err != nil || r.Failed != 1 {
		t.Fatalf("reap: %+v %v", r, err)
	}
	j, _ := c.Get(ctx, id)
	if j.Status != StateFailed || j.Delivery == nil || j.Delivery.State != DeliveryPending {
		t.Fatalf("reaped job %s, delivery %+v", j.Status, j.Delivery)
	}
	checkInvariants(t, c)
}

// Retention keeps a finished job while its callback is still being
// delivered (within the callback window), and removes it once delivered;
// such jobs do not hold back the others behind them.
func TestRetentionHoldsAJobUntilItsCallbackIsDone(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	var held []string
	for range maintenanceBatch + 10 {
		id := mustEnqueue(t, c, EnqueueParams{Type: "ocr", CallbackURL: "https://hooks.example.com/x"})
		if err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		held = append(held, id)
	}
	plain := mustEnqueue(t, c, EnqueueParams{Type: "ocr"})
	if err := c.Cancel(ctx, plain); err != nil {
		t.Fatal(err)
	}
	waitRedisClock(t, c, 5*time.Millisecond)
	keep := Retention{Cancelled: time.Millisecond, CallbackWindow: time.Hour}
	if n, err := c.Expire(ctx, keep); err != nil || n != 1 {
		t.Fatalf("expire: %d %v, want only the job without a callback removed", n, err)
	}
	if _, err := c.Get(ctx, plain); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("the job without a callback: %v", err)
	}
	got, err := c.ClaimDeliveries(ctx, 1, time.Minute)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	if err := c.AckDelivery(ctx, got[0], DeliveryAttempt{At: time.Now(), StatusCode: 204}, DeliveryDelivered, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Expire(ctx, keep); err != nil || n != 1 {
		t.Fatalf("expire: %d %v, want the delivered one removed", n, err)
	}
	if _, err := c.Get(ctx, got[0].ID); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("the delivered job: %v", err)
	}
	keep.CallbackWindow = 0 // no hold: every one goes
	if n, err := c.Expire(ctx, keep); err != nil || n != len(held)-1 {
		t.Fatalf("expire without a hold: %d %v, want %d", n, err, len(held)-1)
	}
	checkInvariants(t, c)
}
