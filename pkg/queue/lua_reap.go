package queue

import (
	"cmp"
	"context"
	"fmt"
)

// luaReap runs lua/reap.lua on shard k: the candidates ids (peeked from
// its leases), whose jobs are in queues, that are expired by the Redis
// clock → pending, or failed when out of attempts.
func (c *Client) luaReap(ctx context.Context, k keyspace, ids, queues []string) (ReapResult, error) {
	keys := make([]string, 0, 7+3*len(ids))
	keys = append(keys, k.leases(), k.counts(), k.typeRunning(),
		k.typeLimits(), k.done(StateFailed), k.seq(), k.queues())
	args := make([]any, 0, 2+len(ids))
	args = append(args, c.keys.eventsChannel(), c.wakeCap)
	for i, id := range ids {
		// A lease without a job has no queue: the script just drops it.
		q := cmp.Or(queues[i], DefaultQueue)
		keys = append(keys, k.job(id), k.pending(q), k.wake(q))
		args = append(args, id)
	}
	res, err := c.runScript(ctx, c.scripts.reap, keys, args...)
	if err != nil {
		return ReapResult{}, fmt.Errorf("reap: %w", err)
	}
	rec, _ := res[1].(int64)
	failed, _ := res[2].(int64)
	return ReapResult{Recovered: int(rec), Failed: int(failed)}, nil
}
