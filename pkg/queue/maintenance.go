package queue

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Maintenance work that any number of processes may run at once: each
// script re-checks what it was handed, so racing runs are harmless.

// maintenanceBatch bounds how many jobs one maintenance script moves.
const maintenanceBatch = 100

// redisNow reads the Redis clock, the one every deadline is measured on:
// on a cluster, the clock of the node holding shard k, which its scripts
// read too.
func (c *Client) redisNow(ctx context.Context, k keyspace) (time.Time, error) {
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, k.counts())
		if err != nil {
			return time.Time{}, storageErr(err)
		}
		t, err := node.Time(ctx).Result()
		return t, storageErr(err)
	}
	t, err := c.rdb.Time(ctx).Result()
	return t, storageErr(err)
}

// Promote moves the due scheduled and retrying jobs of one queue to pending.
// It returns how many moved and when the next one falls due (zero if none).
// One round trip reads every shard's earliest due time; only shards with
// something due are promoted.
func (c *Client) Promote(ctx context.Context, queue string) (int, time.Time, error) {
	if len(c.shards) == 1 {
		return c.promoteShard(ctx, c.shards[0], queue)
	}
	pipe := c.rdb.Pipeline()
	heads := make([][2]*redis.ZSliceCmd, len(c.shards))
	for i, k := range c.shards {
		heads[i] = [2]*redis.ZSliceCmd{pipe.ZRangeWithScores(ctx, k.scheduled(queue), 0, 0),
			pipe.ZRangeWithScores(ctx, k.retrying(queue), 0, 0)}
	}
	now := pipe.Time(ctx)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, time.Time{}, storageErr(err)
	}
	total, next := 0, time.Time{}
	for i, k := range c.shards {
		due := false
		for _, h := range heads[i] {
			for _, z := range h.Val() {
				if t := time.UnixMilli(int64(z.Score)); !t.After(now.Val()) {
					due = true
				} else if next.IsZero() || t.Before(next) {
					next = t
				}
			}
		}
		if !due {
			continue
		}
		n, at, err := c.promoteShard(ctx, k, queue)
		total += n
		if err != nil {
			return total, time.Time{}, err
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return total, next, nil
}

// promoteShard is Promote on one shard.
func (c *Client) promoteShard(ctx context.Context, k keyspace, queue string) (int, time.Time, error) {
	total := 0
	for {
		pipe := c.rdb.Pipeline()
		sched := pipe.ZRangeWithScores(ctx, k.scheduled(queue), 0, maintenanceBatch-1)
		retry := pipe.ZRangeWithScores(ctx, k.retrying(queue), 0, maintenanceBatch-1)
		now := pipe.Time(ctx)
		if _, err := pipe.Exec(ctx); err != nil {
			return total, time.Time{}, storageErr(err)
		}
		nowMS := now.Val().UnixMilli()
		var ids []string
		next := int64(0)
		for _, zs := range [][]redis.Z{sched.Val(), retry.Val()} {
			for _, z := range zs {
				if int64(z.Score) <= nowMS {
					ids = append(ids, z.Member.(string))
				} else if next == 0 || int64(z.Score) < next {
					next = int64(z.Score)
				}
			}
		}
		if len(ids) == 0 {
			var nextT time.Time
			if next != 0 {
				nextT = time.UnixMilli(next)
			}
			return total, nextT, nil
		}
		keys := []string{k.scheduled(queue), k.retrying(queue), k.pending(queue),
			k.counts(), k.seq(), k.wake(queue)}
		args := []any{c.keys.eventsChannel(), c.wakeCap}
		for _, id := range ids {
			keys = append(keys, k.job(id))
			args = append(args, id)
		}
		res, err := c.eval(ctx, c.scripts.promote, keys, args...)
		if err != nil {
			return total, time.Time{}, fmt.Errorf("promote %s: %w", queue, err)
		}
		n, _ := res[1].(int64)
		total += int(n)
		if n == 0 || len(ids) < maintenanceBatch {
			var nextT time.Time
			if next != 0 {
				nextT = time.UnixMilli(next)
			}
			return total, nextT, nil
		}
		// A full page was due: there may be more behind it.
	}
}

// dueShards is the shards whose sorted set index(k) holds something
// scored at or before now - age: with several shards, one round trip reads
// every shard's first entry, so that quiet shards cost nothing more. (The
// clock is one node's; the shard's own pass reads its node's again.)
func (c *Client) dueShards(ctx context.Context, index func(keyspace) string, age time.Duration) ([]keyspace, error) {
	if len(c.shards) == 1 {
		return c.shards, nil
	}
	pipe := c.rdb.Pipeline()
	firsts := make([]*redis.ZSliceCmd, len(c.shards))
	for i, k := range c.shards {
		firsts[i] = pipe.ZRangeWithScores(ctx, index(k), 0, 0)
	}
	now := pipe.Time(ctx)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	cutoff := now.Val().Add(-age).UnixMilli()
	var due []keyspace
	for i, k := range c.shards {
		if zs := firsts[i].Val(); len(zs) == 1 && int64(zs[0].Score) <= cutoff {
			due = append(due, k)
		}
	}
	return due, nil
}

// ReapResult counts what one Reap did.
type ReapResult struct {
	Recovered int // back to pending, to run again
	Failed    int // out of attempts
}

// Reap finds running jobs whose lease expired (their worker died or lost
// Redis for a whole lease) and recovers them.
func (c *Client) Reap(ctx context.Context) (ReapResult, error) {
	var out ReapResult
	due, err := c.dueShards(ctx, func(k keyspace) string { return k.leases() }, 0)
	if err != nil {
		return out, err
	}
	for _, k := range due {
		r, err := c.reapShard(ctx, k)
		out.Recovered += r.Recovered
		out.Failed += r.Failed
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (c *Client) reapShard(ctx context.Context, k keyspace) (ReapResult, error) {
	var out ReapResult
	for {
		now, err := c.redisNow(ctx, k)
		if err != nil {
			return out, err
		}
		ids, err := c.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.leases(), ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(now.UnixMilli(), 10), Count: maintenanceBatch}).Result()
		if err != nil || len(ids) == 0 {
			return out, storageErr(err)
		}
		queues, err := c.fieldOfMany(ctx, ids, fQueue)
		if err != nil {
			return out, err
		}
		keys := []string{k.leases(), k.counts(), k.typeRunning(),
			k.typeLimits(), k.done(StateFailed), k.seq(), k.queues()}
		args := []any{c.keys.eventsChannel(), c.wakeCap}
		for i, id := range ids {
			q := queues[i]
			if q == "" {
				q = DefaultQueue // a lease without a job: the script just drops it
			}
			keys = append(keys, k.job(id), k.pending(q), k.wake(q))
			args = append(args, id)
		}
		res, err := c.eval(ctx, c.scripts.reap, keys, args...)
		if err != nil {
			return out, fmt.Errorf("reap: %w", err)
		}
		rec, _ := res[1].(int64)
		failed, _ := res[2].(int64)
		out.Recovered += int(rec)
		out.Failed += int(failed)
		if len(ids) < maintenanceBatch || rec+failed == 0 {
			return out, nil
		}
	}
}

// fieldOfMany reads one field of many jobs in one round trip ("" when absent).
func (c *Client) fieldOfMany(ctx context.Context, ids []string, field string) ([]string, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, c.shards.of(id).job(id), field)
	}
	_, err := pipe.Exec(ctx)
	if err != nil && err != redis.Nil {
		return nil, storageErr(err)
	}
	out := make([]string, len(ids))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out, nil
}

// Retention is how long finished jobs are kept before the janitor removes
// them. A zero duration keeps that state forever.
type Retention struct {
	Completed time.Duration
	Failed    time.Duration
	Cancelled time.Duration
}

// Default retention periods.
const (
	DefaultRetentionCompleted = 24 * time.Hour
	DefaultRetentionFailed    = 7 * 24 * time.Hour
	DefaultRetentionCancelled = 7 * 24 * time.Hour
)

// DefaultRetention keeps completed jobs a day, failed and cancelled a week.
func DefaultRetention() Retention {
	return Retention{Completed: DefaultRetentionCompleted, Failed: DefaultRetentionFailed,
		Cancelled: DefaultRetentionCancelled}
}

// Expire removes finished jobs whose retention ran out, keeping the
// counters exact. It returns how many it removed.
func (c *Client) Expire(ctx context.Context, r Retention) (int, error) {
	total := 0
	for state, keep := range map[State]time.Duration{StateCompleted: r.Completed,
		StateFailed: r.Failed, StateCancelled: r.Cancelled} {
		if keep <= 0 {
			continue
		}
		due, err := c.dueShards(ctx, func(k keyspace) string { return k.done(state) }, keep)
		if err != nil {
			return total, err
		}
		for _, k := range due {
			n, err := c.expireShard(ctx, k, state, keep)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

func (c *Client) expireShard(ctx context.Context, k keyspace, state State, keep time.Duration) (int, error) {
	total := 0
	for {
		now, err := c.redisNow(ctx, k)
		if err != nil {
			return total, err
		}
		cutoff := now.Add(-keep).UnixMilli()
		ids, err := c.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.done(state), ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(cutoff, 10), Count: maintenanceBatch}).Result()
		if err != nil {
			return total, storageErr(err)
		}
		if len(ids) == 0 {
			break
		}
		uniques, err := c.fieldOfMany(ctx, ids, fUnique)
		if err != nil {
			return total, err
		}
		keys := []string{k.counts(), k.done(state)}
		args := []any{string(state), keep.Milliseconds()}
		for i, id := range ids {
			uk := k.job(id)
			if uniques[i] != "" {
				uk = k.unique(uniques[i])
			}
			keys = append(keys, k.job(id), uk)
			args = append(args, id)
		}
		res, err := c.eval(ctx, c.scripts.expire, keys, args...)
		if err != nil {
			return total, fmt.Errorf("expire %s: %w", state, err)
		}
		n, _ := res[1].(int64)
		total += int(n)
		if len(ids) < maintenanceBatch || n == 0 {
			break
		}
	}
	return total, nil
}
