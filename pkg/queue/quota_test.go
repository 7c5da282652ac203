package queue

import (
	"errors"
	"testing"
)

// A submitter's quota counts its unfinished jobs: finished and deleted
// ones free their place (once the set is pruned, at most once a second),
// and each submitter has its own.
func TestQuota(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	submit := func(owner string, n int) []string {
		t.Helper()
		if err := c.CheckQuota(ctx, owner, n, 3); err != nil {
			t.Fatalf("%s, %d more: %v", owner, n, err)
		}
		var ids []string
		for range n {
			ids = append(ids, mustEnqueue(t, c, EnqueueParams{Type: "x", Owner: owner}))
		}
		return ids
	}
	ids := submit("key:a", 3)
	err := c.CheckQuota(ctx, "key:a", 1, 3)
	var qe *QuotaError
	if !errors.As(err, &qe) || !errors.Is(err, ErrQuota) || qe.Unfinished != 3 || qe.Limit != 3 {
		t.Fatalf("at the quota: %v", err)
	}
	submit("key:b", 3) // another submitter

	if err := c.Cancel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	// Pruned a moment ago: the count is not read again within a second.
	if err := c.CheckQuota(ctx, "key:a", 1, 3); !errors.Is(err, ErrQuota) {
		t.Fatalf("within the prune pause: %v", err)
	}
	b.rdb.Del(ctx, c.keys.ownedPruned("key:a")) // the pause is over
	submit("key:a", 2)
	if err := c.CheckQuota(ctx, "key:a", 1, 3); !errors.Is(err, ErrQuota) {
		t.Fatalf("at the quota again: %v", err)
	}
	if n := b.rdb.ZCard(ctx, c.keys.owned("key:a")).Val(); n != 3 {
		t.Fatalf("the owned set holds %d ids after pruning, want 3", n)
	}
}
