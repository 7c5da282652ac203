package queue

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Retention: finished jobs (and ended pipelines) removed once their
// time is up (lua/expire.lua, lua/pipeline_expire.lua).

// Retention is how long finished jobs are kept before the janitor removes
// them. A zero duration keeps that state forever.
type Retention struct {
	Completed time.Duration
	Failed    time.Duration
	Cancelled time.Duration
	// CallbackWindow holds back a job whose callback is still being
	// delivered: it is kept past its retention until the callback is
	// delivered or given up, at most this plus CallbackSlack after its end
	// (the deliverers' retry window; 0: no hold). A retention shorter
	// than the window would otherwise take the delivery with the job.
	CallbackWindow time.Duration
}

// CallbackSlack is how long past the callback window a job with a
// callback not yet given up is still kept: the last attempt is taken at
// most one retry delay (an hour at most) before the window ends.
const CallbackSlack = time.Hour

// Default retention periods.
const (
	DefaultRetentionCompleted = 24 * time.Hour
	DefaultRetentionFailed    = 7 * 24 * time.Hour
	DefaultRetentionCancelled = 7 * 24 * time.Hour
	// DefaultCallbackWindow is how long after a job's end its callback
	// is retried by default (WEBHOOK_RETRY_WINDOW).
	DefaultCallbackWindow = 24 * time.Hour
)

// DefaultRetention keeps completed jobs a day, failed and cancelled a
// week, and a job whose callback is still being delivered up to a day
// (and an hour) after its end.
func DefaultRetention() Retention {
	return Retention{Completed: DefaultRetentionCompleted, Failed: DefaultRetentionFailed,
		Cancelled: DefaultRetentionCancelled, CallbackWindow: DefaultCallbackWindow}
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
			n, err := c.expireShard(ctx, k, state, keep, r.CallbackWindow)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	n, err := c.expirePipelines(ctx, r)
	return total + n, err
}

// expirePipelines removes the ended pipelines whose retention (that of
// their status, as for a job) ran out, with their jobs. It returns how
// many jobs it removed.
func (c *Client) expirePipelines(ctx context.Context, r Retention) (int, error) {
	keep := map[PipelineStatus]time.Duration{PipelineCompleted: r.Completed, PipelineFailed: r.Failed,
		PipelineCancelled: r.Cancelled}
	least := time.Duration(0)
	for _, d := range keep {
		if d > 0 && (least == 0 || d < least) {
			least = d
		}
	}
	if least == 0 {
		return 0, nil
	}
	due, err := c.dueShards(ctx, func(k keyspace) string { return k.pipelinesDone() }, least)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, k := range due {
		n, err := c.expirePipelinesOf(ctx, k, keep, least, r.CallbackWindow)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// expirePipelinesOf removes the pipelines of shard k that ended at least
// least ago and whose status's retention (keep) ran out. The ended
// pipelines are one index of every status, so it pages past those kept
// (forever, or longer than least) instead of stopping at them: they must
// not hold back those behind them. Only the statuses of a page are read;
// a pipeline's graph only when it goes. A pipeline with a callback still
// pending (its own or a job's) is held back as a job is (hold:
// Retention.CallbackWindow).
func (c *Client) expirePipelinesOf(ctx context.Context, k keyspace, keep map[PipelineStatus]time.Duration, least, hold time.Duration) (int, error) {
	now, err := c.redisNow(ctx, k)
	if err != nil {
		return 0, err
	}
	total := 0
	for skip := int64(0); ; {
		zs, err := c.rdb.ZRangeArgsWithScores(ctx, redis.ZRangeArgs{Key: k.pipelinesDone(), ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(now.Add(-least).UnixMilli(), 10),
			Offset: skip, Count: maintenanceBatch}).Result()
		if err != nil {
			return total, storageErr(err)
		}
		pipe := c.rdb.Pipeline()
		statuses := make([]*redis.StringCmd, len(zs))
		for i, z := range zs {
			statuses[i] = pipe.HGet(ctx, k.pipeline(z.Member.(string)), "status")
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return total, storageErr(err)
		}
		for i, z := range zs {
			d := keep[PipelineStatus(statuses[i].Val())]
			if d <= 0 || int64(z.Score) > now.Add(-d).UnixMilli() {
				skip++ // kept (gone already: the next page no longer holds it)
				continue
			}
			n, err := c.expirePipeline(ctx, z.Member.(string), d, hold)
			if err != nil {
				return total, err
			}
			if n < 0 {
				skip++ // it ended again meanwhile: kept
			}
			total += max(n, 0)
		}
		if len(zs) < maintenanceBatch {
			return total, nil
		}
	}
}

// expirePipeline removes pipeline pid, ended at least d ago, with its
// jobs, unless held back by a pending callback (hold); it returns how
// many jobs went (-1: it did not go).
func (c *Client) expirePipeline(ctx context.Context, pid string, d, hold time.Duration) (int, error) {
	p, _, err := c.readPipeline(ctx, pid)
	if errors.Is(err, ErrPipelineNotFound) {
		return -1, nil
	}
	if err != nil {
		return 0, err
	}
	ids := make([]string, len(p.Jobs))
	for i, m := range p.Jobs {
		ids[i] = m.ID
	}
	return c.luaPipelineExpire(ctx, pid, p.UniqueKey, d, hold, ids)
}

func (c *Client) expireShard(ctx context.Context, k keyspace, state State, keep, hold time.Duration) (int, error) {
	total := 0
	// Jobs seen and kept: those of pipelines (removed with their
	// pipeline) and those whose callback is still being delivered.
	skip := int64(0)
	for {
		now, err := c.redisNow(ctx, k)
		if err != nil {
			return total, err
		}
		cutoff := now.Add(-keep).UnixMilli()
		ids, err := c.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.done(state), ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(cutoff, 10), Offset: skip, Count: maintenanceBatch}).Result()
		if err != nil {
			return total, storageErr(err)
		}
		if len(ids) == 0 {
			break
		}
		f, err := c.fieldsOfMany(ctx, ids, fUnique, fPipeline)
		if err != nil {
			return total, err
		}
		var plain, uniques []string
		for i, id := range ids {
			if f[1][i] != "" {
				skip++
				continue
			}
			plain, uniques = append(plain, id), append(uniques, f[0][i])
		}
		n := 0
		if len(plain) > 0 {
			if n, err = c.luaExpire(ctx, k, state, keep, hold, plain, uniques); err != nil {
				return total, err
			}
		}
		total += n
		skip += int64(len(plain) - n)
		if len(ids) < maintenanceBatch {
			break
		}
	}
	return total, nil
}
