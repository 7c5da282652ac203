package queue

import (
	"cmp"
	"context"
	"fmt"
)

// luaDeadline runs lua/deadline.lua on shard k: the candidates ids
// (peeked from its deadlines), whose jobs are in queues and of types,
// that are still waiting past their deadline by the Redis clock →
// failed (deadline_exceeded). It returns how many failed.
func (c *Client) luaDeadline(ctx context.Context, k keyspace, ids, queues, types []string) (int, error) {
	keys := make([]string, 0, 6+5*len(ids))
	keys = append(keys, k.deadlines(), k.counts(), k.done(StateFailed), k.tallies(), k.hooks(), k.history())
	args := make([]any, 0, 1+len(ids))
	args = append(args, c.keys.eventsChannel())
	for i, id := range ids {
		// A job that is gone has neither queue nor type: the script drops its entry.
		q, t := cmp.Or(queues[i], DefaultQueue), cmp.Or(types[i], "none")
		keys = append(keys, k.job(id), k.lane(q, t), k.scheduled(q), k.retrying(q))
		args = append(args, id)
	}
	for _, id := range ids {
		keys = append(keys, k.jobEvents(id))
	}
	res, err := c.runScript(ctx, c.scripts.deadline, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("deadlines: %w", err)
	}
	n, _ := res[1].(int64)
	return int(n), nil
}
