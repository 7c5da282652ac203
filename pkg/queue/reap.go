package queue

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Recovering the runs of dead workers: leases that expired by the Redis
// clock (lua/reap.lua).

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
		f, err := c.fieldsOfMany(ctx, ids, fQueue, fType, fPipeline, fAttempts, fMaxRetries) // to name their lanes
		if err != nil {
			return out, err
		}
		ids, f, failed, err := c.reapPipelineJobs(ctx, ids, f)
		if err != nil {
			out.Failed += failed
			return out, err
		}
		r, err := c.luaReap(ctx, k, ids, f[0], f[1])
		if err != nil {
			return out, err
		}
		r.Failed += failed
		out.Recovered += r.Recovered
		out.Failed += r.Failed
		if len(ids) < maintenanceBatch || r.Recovered+r.Failed == 0 {
			return out, nil
		}
	}
}

// reapPipelineJobs fails, with the jobs below them, the candidates of a
// reap (ids, with their queue, type, pipeline, attempts and max_retries
// in f) that are jobs of pipelines out of attempts: reap.lua knows
// nothing of pipelines. It returns the other candidates, for reap.lua,
// and how many it failed.
func (c *Client) reapPipelineJobs(ctx context.Context, ids []string, f [][]string) ([]string, [][]string, int, error) {
	var rest []string
	var rf [2][]string
	failed := 0
	for i, id := range ids {
		attempts, _ := strconv.Atoi(f[3][i])
		most, err := strconv.Atoi(f[4][i])
		if err != nil {
			most = DefaultMaxRetries
		}
		if f[2][i] == "" || attempts <= most {
			rest = append(rest, id)
			rf[0], rf[1] = append(rf[0], f[0][i]), append(rf[1], f[1][i])
			continue
		}
		ok, err := c.reapInPipeline(ctx, id, f[0][i], f[1][i], f[2][i])
		if err != nil {
			return nil, nil, failed, err
		}
		if ok {
			failed++
		}
	}
	return rest, rf[:], failed, nil
}

// fieldsOfMany reads fields of many jobs in one round trip: by field,
// then job ("" when absent).
func (c *Client) fieldsOfMany(ctx context.Context, ids []string, fields ...string) ([][]string, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, c.shards.of(id).job(id), fields...)
	}
	_, err := pipe.Exec(ctx)
	if err != nil && err != redis.Nil {
		return nil, storageErr(err)
	}
	out := make([][]string, len(fields))
	for f := range fields {
		out[f] = make([]string, len(ids))
		for i, cmd := range cmds {
			if vals := cmd.Val(); len(vals) == len(fields) {
				out[f][i], _ = vals[f].(string)
			}
		}
	}
	return out, nil
}
