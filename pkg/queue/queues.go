package queue

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// The queue registry: each shard's set of queue names ({T}:queues), which
// stats, metrics and unfiltered lists walk. Submissions add to it (up to
// Config.MaxQueues names: a client choosing a new name per job must not
// grow it, and every walk, without bound); ForgetEmptyQueues drops the
// queues whose jobs are all gone, so names used once do not stay for good.

// DefaultMaxQueues is Config.MaxQueues when unset.
const DefaultMaxQueues = 1000

// forgetChunk bounds the queues one forget.lua call checks.
const forgetChunk = 100

// ForgetEmptyQueues drops from the registry every queue with no job
// pending, scheduled or retrying, and their wake lists; it returns how
// many it dropped. Each shard is read once (O(queues)), and forget.lua
// checks each candidate again, atomically, so a queue a submission fills
// meanwhile stays. Any number of processes may run it at once; the
// workers' maintenance does, with the janitor.
func (c *Client) ForgetEmptyQueues(ctx context.Context) (int, error) {
	total := 0
	for _, k := range c.shards {
		names, err := c.rdb.SMembers(ctx, k.queues()).Result()
		if err != nil {
			return total, storageErr(err)
		}
		empty, err := c.emptyQueues(ctx, k, names)
		if err != nil {
			return total, err
		}
		for len(empty) > 0 {
			chunk := empty[:min(len(empty), forgetChunk)]
			empty = empty[len(chunk):]
			n, err := c.luaForget(ctx, k, chunk)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// emptyQueues is the names of queues whose waiting sets in shard k are all
// empty, read in one round trip.
func (c *Client) emptyQueues(ctx context.Context, k keyspace, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	pipe := c.rdb.Pipeline()
	cards := make([][3]*redis.IntCmd, len(names))
	for i, q := range names {
		cards[i] = [3]*redis.IntCmd{pipe.ZCard(ctx, k.pending(q)), pipe.ZCard(ctx, k.scheduled(q)),
			pipe.ZCard(ctx, k.retrying(q))}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	var out []string
	for i, q := range names {
		if cards[i][0].Val()+cards[i][1].Val()+cards[i][2].Val() == 0 {
			out = append(out, q)
		}
	}
	return out, nil
}

// dropEmptySources leaves out of a list's sources the per-queue sets that
// are empty, in one round trip, so that walking the others costs nothing
// for queues with no job in the state listed.
func (c *Client) dropEmptySources(ctx context.Context, sources []listSource) ([]listSource, error) {
	pipe := c.rdb.Pipeline()
	cards := make([]*redis.IntCmd, len(sources))
	for i, s := range sources {
		if s.queue != "" {
			cards[i] = pipe.ZCard(ctx, c.sourceKey(s))
		}
	}
	if pipe.Len() == 0 {
		return sources, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	out := sources[:0:0]
	for i, s := range sources {
		if cards[i] == nil || cards[i].Val() > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}
