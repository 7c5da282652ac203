package queue

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Deadlines. A job submitted with EnqueueParams.Deadline holds it in its
// hash and in its shard's deadlines set. No claim takes it after the
// deadline (claim.lua fails it there instead), and the maintenance
// (FailPastDeadlines) fails it when no claim came: a job waiting in a
// paused queue, for a type no worker runs, scheduled or retrying past it.

// DeadlineExceeded is the error of a job that ended failed because its
// deadline passed before it started.
const DeadlineExceeded = "deadline_exceeded"

// FailPastDeadlines fails every job still waiting (pending, scheduled or
// retrying) whose deadline passed, with DeadlineExceeded; it returns how
// many failed. Any number of processes may run it at once.
func (c *Client) FailPastDeadlines(ctx context.Context) (int, error) {
	due, err := c.dueShards(ctx, func(k keyspace) string { return k.deadlines() }, 0)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, k := range due {
		n, err := c.failPastDeadlinesShard(ctx, k)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (c *Client) failPastDeadlinesShard(ctx context.Context, k keyspace) (int, error) {
	total := 0
	for {
		now, err := c.redisNow(ctx, k)
		if err != nil {
			return total, err
		}
		ids, err := c.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.deadlines(), ByScore: true,
			Start: "-inf", Stop: strconv.FormatInt(now.UnixMilli(), 10), Count: maintenanceBatch}).Result()
		if err != nil || len(ids) == 0 {
			return total, storageErr(err)
		}
		f, err := c.fieldsOfMany(ctx, ids, fQueue, fType) // to name their indexes
		if err != nil {
			return total, err
		}
		n, err := c.luaDeadline(ctx, k, ids, f[0], f[1])
		total += n
		if err != nil || len(ids) < maintenanceBatch {
			return total, err
		}
	}
}
