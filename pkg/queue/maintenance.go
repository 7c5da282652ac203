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

// redisNow reads the Redis clock, the one every deadline is measured on.
func (c *Client) redisNow(ctx context.Context) (time.Time, error) {
	t, err := c.rdb.Time(ctx).Result()
	return t, storageErr(err)
}

// Promote moves the due scheduled and retrying jobs of one queue to pending.
// It returns how many moved and when the next one falls due (zero if none).
func (c *Client) Promote(ctx context.Context, queue string) (int, time.Time, error) {
	total := 0
	for {
		pipe := c.rdb.Pipeline()
		sched := pipe.ZRangeWithScores(ctx, c.keys.scheduled(queue), 0, maintenanceBatch-1)
		retry := pipe.ZRangeWithScores(ctx, c.keys.retrying(queue), 0, maintenanceBatch-1)
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
		keys := []string{c.keys.scheduled(queue), c.keys.retrying(queue), c.keys.pending(queue),
			c.keys.counts(), c.keys.seq(), c.keys.wake(queue)}
		args := []any{c.keys.eventsChannel(), c.wakeCap}
		for _, id := range ids {
			keys = append(keys, c.keys.job(id))
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

// ReapResult counts what one Reap did.
type ReapResult struct {
	Recovered int // back to pending, to run again
	Failed    int // out of attempts
}

// Reap finds running jobs whose lease expired (their worker died or lost
// Redis for a whole lease) and recovers them.
func (c *Client) Reap(ctx context.Context) (ReapResult, error) {
	var out ReapResult
	for {
		now, err := c.redisNow(ctx)
		if err != nil {
			return out, err
		}
		ids, err := c.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: c.keys.leases(), ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(now.UnixMilli(), 10), Count: maintenanceBatch}).Result()
		if err != nil || len(ids) == 0 {
			return out, storageErr(err)
		}
		queues, err := c.fieldOfMany(ctx, ids, fQueue)
		if err != nil {
			return out, err
		}
		keys := []string{c.keys.leases(), c.keys.counts(), c.keys.typeRunning(),
			c.keys.typeLimits(), c.keys.done(StateFailed), c.keys.seq()}
		args := []any{c.keys.eventsChannel(), c.wakeCap}
		for i, id := range ids {
			q := queues[i]
			if q == "" {
				q = DefaultQueue // a lease without a job: the script just drops it
			}
			keys = append(keys, c.keys.job(id), c.keys.pending(q), c.keys.wake(q))
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
		cmds[i] = pipe.HGet(ctx, c.keys.job(id), field)
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
		for {
			now, err := c.redisNow(ctx)
			if err != nil {
				return total, err
			}
			cutoff := now.Add(-keep).UnixMilli()
			ids, err := c.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: c.keys.done(state), ByScore: true,
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
			keys := []string{c.keys.counts(), c.keys.done(state)}
			args := []any{string(state), keep.Milliseconds()}
			for i, id := range ids {
				uk := c.keys.job(id)
				if uniques[i] != "" {
					uk = c.keys.unique(uniques[i])
				}
				keys = append(keys, c.keys.job(id), uk)
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
	}
	return total, nil
}
