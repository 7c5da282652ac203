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
		now, err := c.redisNow(ctx, k)
		if err != nil {
			return total, err
		}
		pids, err := c.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.pipelinesDone(), ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(now.Add(-least).UnixMilli(), 10), Count: maintenanceBatch}).Result()
		if err != nil {
			return total, storageErr(err)
		}
		for _, pid := range pids {
			p, _, err := c.readPipeline(ctx, pid)
			if errors.Is(err, ErrPipelineNotFound) {
				continue
			}
			if err != nil {
				return total, err
			}
			d := keep[p.Status]
			if d <= 0 {
				continue // kept forever
			}
			ids := make([]string, len(p.Jobs))
			for i, m := range p.Jobs {
				ids[i] = m.ID
			}
			n, err := c.luaPipelineExpire(ctx, pid, p.UniqueKey, d, ids)
			if err != nil {
				return total, err
			}
			total += max(n, 0)
		}
	}
	return total, nil
}

func (c *Client) expireShard(ctx context.Context, k keyspace, state State, keep time.Duration) (int, error) {
	total := 0
	skip := int64(0) // jobs of pipelines seen: retention removes them with their pipeline
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
			if n, err = c.luaExpire(ctx, k, state, keep, plain, uniques); err != nil {
				return total, err
			}
		}
		total += n
		if len(ids) < maintenanceBatch || (n == 0 && len(plain) > 0) {
			break
		}
	}
	return total, nil
}
