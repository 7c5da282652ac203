package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Quotas of unfinished jobs. A submitter (for the API, an API key or a
// client address) owns the jobs it created: their ids go in its owned
// set as they are submitted (EnqueueParams.Owner), and CheckQuota counts
// them before a submission. Jobs are not taken out as they finish — no transition
// knows who submitted a job — but when a submission would pass the quota,
// the set is pruned first: the ids of jobs that finished or are gone are
// dropped, and what is left is the number of unfinished jobs. So a set
// holds at most about a quota's worth of ids, and the pruning, O(quota),
// runs only when a submitter reaches its quota, at most once per
// pruneEvery.
//
// The count is exact but for concurrent submissions of one submitter,
// which may pass the quota by what they submit at once.

// pruneEvery is the least time between two prunes of one owned set: a
// submitter at its quota that keeps trying costs one prune a second.
const pruneEvery = time.Second

// ownedTTL is how long an owned set is kept after its last addition.
const ownedTTL = 30 * 24 * time.Hour

// QuotaError is ErrQuota with the numbers.
type QuotaError struct {
	Owner      string
	Unfinished int // jobs the owner has unfinished
	Adding     int // jobs the refused submission holds
	Limit      int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("%s has %d unfinished jobs; %d more would pass its quota of %d", e.Owner, e.Unfinished, e.Adding, e.Limit)
}

func (e *QuotaError) Unwrap() error { return ErrQuota }

// CheckQuota reports whether owner may submit n more jobs with at most
// limit unfinished: nil, or a *QuotaError.
func (c *Client) CheckQuota(ctx context.Context, owner string, n, limit int) error {
	key := c.keys.owned(owner)
	count, err := c.rdb.ZCard(ctx, key).Result()
	if err != nil {
		return storageErr(err)
	}
	if int(count)+n <= limit {
		return nil
	}
	fresh, err := c.rdb.SetNX(ctx, c.keys.ownedPruned(owner), "1", pruneEvery).Result()
	if err != nil {
		return storageErr(err)
	}
	if fresh {
		if count, err = c.pruneOwned(ctx, key); err != nil {
			return err
		}
	}
	if int(count)+n > limit {
		return &QuotaError{Owner: owner, Unfinished: int(count), Adding: n, Limit: limit}
	}
	return nil
}

// recordOwned adds the jobs of each owner to its owned set, in the
// submission's own pipelines (no round trip of its own). A job the
// submission then refuses (a duplicate) is dropped by the next prune.
func (c *Client) recordOwned(ctx context.Context, w *write, owned map[string][]string) error {
	now := float64(time.Now().UnixMilli())
	for owner, ids := range owned {
		key := c.keys.owned(owner)
		pipe, err := w.pipeFor(ctx, key)
		if err != nil {
			return err
		}
		zs := make([]redis.Z, len(ids))
		for i, id := range ids {
			zs[i] = redis.Z{Score: now, Member: id}
		}
		pipe.ZAdd(ctx, key, zs...)
		pipe.Expire(ctx, key, ownedTTL)
	}
	return nil
}

// pruneOwned drops from an owned set the jobs that finished or are gone,
// and returns how many are left.
func (c *Client) pruneOwned(ctx context.Context, key string) (int64, error) {
	ids, err := c.rdb.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		return 0, storageErr(err)
	}
	const chunk = 1000
	for len(ids) > 0 {
		part := ids[:min(len(ids), chunk)]
		ids = ids[len(part):]
		pipe := c.rdb.Pipeline()
		status := make([]*redis.StringCmd, len(part))
		for i, id := range part {
			status[i] = pipe.HGet(ctx, c.shards.of(id).job(id), fStatus)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return 0, storageErr(err)
		}
		var done []any
		for i, id := range part {
			if s := State(status[i].Val()); s == "" || s.Terminal() {
				done = append(done, id)
			}
		}
		if len(done) > 0 {
			if err := c.rdb.ZRem(ctx, key, done...).Err(); err != nil {
				return 0, storageErr(err)
			}
		}
	}
	n, err := c.rdb.ZCard(ctx, key).Result()
	return n, storageErr(err)
}
