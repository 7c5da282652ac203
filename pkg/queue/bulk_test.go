package queue

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// bulkAll runs one bulk action page by page until its cursor ends, and
// returns the sums of its pages and how many pages it took.
func bulkAll(t *testing.T, act func(BulkParams) (*BulkResult, error), p BulkParams) (BulkResult, int) {
	t.Helper()
	sum := BulkResult{Skipped: map[string]int{}}
	for pages := 1; ; pages++ {
		res, err := act(p)
		if err != nil {
			t.Fatal(err)
		}
		sum.Matched += res.Matched
		sum.Changed += res.Changed
		for k, v := range res.Skipped {
			sum.Skipped[k] += v
		}
		if res.NextCursor == "" || pages > 100 {
			return sum, pages
		}
		p.Cursor = res.NextCursor
	}
}

// A bulk cancel pages over the jobs its filters select and cancels each
// once; jobs of other queues stay, and the counters stay exact.
func TestCancelMatchingInPages(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "bulk"}, 250)
	other := submitN(t, c, EnqueueParams{Type: "t", Queue: "keep"}, 3)
	// Two are cancelled already.
	for _, id := range ids[100:102] {
		if err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	cancel := func(p BulkParams) (*BulkResult, error) { return c.CancelMatching(ctx, p) }

	// Cancel walks the states it moves jobs out of: the cancelled jobs
	// are not read.
	dry, _ := bulkAll(t, cancel, BulkParams{Queue: "bulk", DryRun: true, Limit: MaxBulkLimit})
	if dry.Matched != 248 || dry.Changed != 0 || len(dry.Skipped) != 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	sum, pages := bulkAll(t, cancel, BulkParams{Queue: "bulk"})
	if sum.Changed != 248 || sum.Matched != 248 || len(sum.Skipped) != 0 || pages != 3 {
		t.Fatalf("%d pages: %+v", pages, sum)
	}
	for _, id := range append(ids[:1], ids[249]) {
		if j, err := c.Get(ctx, id); err != nil || j.Status != StateCancelled {
			t.Fatalf("%s: %+v %v", id, j, err)
		}
	}
	for _, id := range other {
		if j, err := c.Get(ctx, id); err != nil || j.Status != StatePending {
			t.Fatalf("a job of another queue: %+v %v", j, err)
		}
	}
	again, _ := bulkAll(t, cancel, BulkParams{Queue: "bulk", Status: StatePending})
	if again.Matched != 0 {
		t.Fatalf("pending jobs left: %+v", again)
	}
	checkInvariants(t, c)
}

// Restart and delete page over the finished jobs the same way.
func TestRestartAndDeleteMatching(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "rd"}, 30)
	for _, id := range ids[:20] {
		if err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	restart := func(p BulkParams) (*BulkResult, error) { return c.RestartMatching(ctx, p) }
	del := func(p BulkParams) (*BulkResult, error) { return c.DeleteMatching(ctx, p) }

	// Restart every job of the queue: the pending ones are not read.
	sum, _ := bulkAll(t, restart, BulkParams{Queue: "rd", Limit: 7})
	if sum.Changed != 20 || sum.Matched != 20 {
		t.Fatalf("restart: %+v", sum)
	}
	for _, id := range ids[:10] {
		if err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	sum, _ = bulkAll(t, del, BulkParams{Status: StateCancelled, Type: "t", Limit: 3})
	if sum.Changed != 10 || sum.Matched != 10 {
		t.Fatalf("delete: %+v", sum)
	}
	if _, err := c.Get(ctx, ids[0]); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("a deleted job: %v", err)
	}
	if _, err := c.DeleteMatching(ctx, BulkParams{Status: StatePending}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete of pending jobs: %v", err)
	}
	checkInvariants(t, c)
}

// Jobs that moved on between the page's read and their transition are
// skipped, each with its reason: the state it is in, or gone.
func TestBulkSkipsJobsThatMovedOn(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "moved"}, 5)
	res, err := c.bulk(ctx, BulkParams{Queue: "moved"}, bulkCancel, func(ctx context.Context, refs []jobRef) []error {
		// Meanwhile, someone else cancels two, and deletes one of them.
		for _, id := range ids[:2] {
			if err := c.Cancel(ctx, id); err != nil {
				t.Error(err)
			}
		}
		if err := c.Delete(ctx, ids[0]); err != nil {
			t.Error(err)
		}
		return c.luaCancel(ctx, refs)
	})
	if err != nil || res.Matched != 5 || res.Changed != 3 || res.Skipped[string(StateCancelled)] != 1 ||
		res.Skipped[SkippedDeleted] != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	checkInvariants(t, c)
}

// An action on every job is asked for by name: no filter and no All is
// refused and changes nothing; a cursor's filters count as given.
func TestBulkWithoutFilterNeedsAll(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t"}, 3)
	if _, err := c.CancelMatching(ctx, BulkParams{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no filter: %v", err)
	}
	if j, _ := c.Get(ctx, ids[0]); j.Status != StatePending {
		t.Fatalf("a refused bulk action changed %+v", j)
	}
	for _, p := range []BulkParams{{Limit: MaxBulkLimit + 1, All: true}, {Cursor: "nope", All: true},
		{Status: "lost"}, {Queue: "a b"}} {
		if _, err := c.CancelMatching(ctx, p); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%+v: %v", p, err)
		}
	}
	first, err := c.CancelMatching(ctx, BulkParams{Status: StatePending, Limit: 1})
	if err != nil || first.Changed != 1 || first.NextCursor == "" {
		t.Fatalf("first page: %+v %v", first, err)
	}
	next, err := c.CancelMatching(ctx, BulkParams{Cursor: first.NextCursor, Limit: 5})
	if err != nil || next.Changed != 2 {
		t.Fatalf("a cursor's filters count as given: %+v %v", next, err)
	}
	all, err := c.RestartMatching(ctx, BulkParams{All: true})
	if err != nil || all.Changed != 3 {
		t.Fatalf("all: %+v %v", all, err)
	}
	checkInvariants(t, c)
}

// Running jobs are paged by offset (heartbeats re-score their index): a
// bulk cancel of running jobs in pages corrects its cursor for the jobs
// it moved out, skipping none.
func TestCancelMatchingRunningInPages(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "run"}, 7)
	// Running, as a claim leaves them: status, lease, counters.
	for _, id := range ids {
		k := c.shards.of(id)
		pipe := b.rdb.TxPipeline()
		pipe.HSet(ctx, k.job(id), fStatus, string(StateRunning))
		pipe.ZRem(ctx, k.lane("run", "t"), id)
		pipe.ZAdd(ctx, k.leases(), redis.Z{Score: float64(time.Now().Add(time.Hour).UnixMilli()), Member: id})
		pipe.HIncrBy(ctx, k.counts(), string(StatePending), -1)
		pipe.HIncrBy(ctx, k.counts(), string(StateRunning), 1)
		pipe.HIncrBy(ctx, k.typeRunning(), "t", 1)
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cancel := func(p BulkParams) (*BulkResult, error) { return c.CancelMatching(ctx, p) }
	sum, _ := bulkAll(t, cancel, BulkParams{Status: StateRunning, Limit: 2})
	if sum.Changed != 7 {
		t.Fatalf("cancelled %d of 7 running jobs: %+v", sum.Changed, sum)
	}
	checkInvariants(t, c)
}
