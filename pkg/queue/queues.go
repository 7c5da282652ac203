package queue

import (
	"context"
	"slices"

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
// pending, scheduled or retrying, and from each queue's set of lane types
// every empty lane, with their wake lists; it returns how many queues it
// dropped. Each shard is read in two round trips (O(lanes)), and
// forget.lua checks each candidate again, atomically, so a queue or a lane
// a submission fills meanwhile stays. Any number of processes may run it
// at once; the workers' maintenance does, with the janitor.
func (c *Client) ForgetEmptyQueues(ctx context.Context) (int, error) {
	total := 0
	for _, k := range c.shards {
		names, err := c.rdb.SMembers(ctx, k.queues()).Result()
		if err != nil {
			return total, storageErr(err)
		}
		cands, err := c.forgetCandidates(ctx, k, names)
		if err != nil {
			return total, err
		}
		for len(cands) > 0 {
			chunk := cands[:min(len(cands), forgetChunk)]
			cands = cands[len(chunk):]
			n, err := c.luaForget(ctx, k, chunk)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// queueLanes reads the types of the lanes of each of names in shard k,
// in one round trip: by queue, sorted.
func (c *Client) queueLanes(ctx context.Context, k keyspace, names []string) ([][]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(names))
	for i, q := range names {
		cmds[i] = pipe.SMembers(ctx, k.laneTypes(q))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	out := make([][]string, len(names))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
		slices.Sort(out[i])
	}
	return out, nil
}

// forgetCandidates is the queues of names in shard k with something to
// forget — an empty lane, or no waiting job at all — read in two round
// trips, with the types of their empty lanes.
func (c *Client) forgetCandidates(ctx context.Context, k keyspace, names []string) ([]forgetQueue, error) {
	lanes, err := c.queueLanes(ctx, k, names)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	pipe := c.rdb.Pipeline()
	waiting := make([][2]*redis.IntCmd, len(names))
	cards := make([][]*redis.IntCmd, len(names))
	for i, q := range names {
		waiting[i] = [2]*redis.IntCmd{pipe.ZCard(ctx, k.scheduled(q)), pipe.ZCard(ctx, k.retrying(q))}
		for _, t := range lanes[i] {
			cards[i] = append(cards[i], pipe.ZCard(ctx, k.lane(q, t)))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	var out []forgetQueue
	for i, q := range names {
		fq := forgetQueue{name: q}
		for n, t := range lanes[i] {
			if cards[i][n].Val() == 0 {
				fq.types = append(fq.types, t)
			}
		}
		if len(fq.types) > 0 || len(lanes[i])+int(waiting[i][0].Val()+waiting[i][1].Val()) == 0 {
			out = append(out, fq)
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
