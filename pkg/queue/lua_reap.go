package queue

import (
	"cmp"
	"context"
	"fmt"
)

// luaReap runs lua/reap.lua on shard k: the candidates ids (peeked from
// its leases), whose jobs are in queues and of types, that are expired
// by the Redis clock → pending (in their lanes), or failed when out of
// attempts.
func (c *Client) luaReap(ctx context.Context, k keyspace, ids, queues, types []string) (ReapResult, error) {
	keys := make([]string, 0, 10+5*len(ids))
	keys = append(keys, k.leases(), k.counts(), k.typeRunning(),
		k.typeLimits(), k.done(StateFailed), k.seq(), k.queues(), k.hooks(), k.tallies())
	args := make([]any, 0, 2+2*len(ids))
	args = append(args, c.keys.eventsChannel(), c.wakeCap)
	for i, id := range ids {
		// A lease without a job has neither queue nor type: the script
		// just drops it.
		q, t := cmp.Or(queues[i], DefaultQueue), cmp.Or(types[i], "none")
		keys = append(keys, k.job(id), k.lane(q, t), k.laneWake(q, t), k.laneTypes(q))
		args = append(args, id, t)
	}
	for _, id := range ids {
		keys = append(keys, k.jobEvents(id))
	}
	keys = append(keys, k.history())
	res, err := c.runScript(ctx, c.scripts.reap, keys, args...)
	if err != nil {
		return ReapResult{}, fmt.Errorf("reap: %w", err)
	}
	rec, _ := res[1].(int64)
	failed, _ := res[2].(int64)
	return ReapResult{Recovered: int(rec), Failed: int(failed)}, nil
}
