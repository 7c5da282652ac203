package queue

import (
	"context"
	"fmt"
)

// luaPromote runs lua/promote.lua on one queue of shard k: the candidates
// ids (peeked from its scheduled and retrying sets), whose types are
// types, that are due by the Redis clock → pending, each in its lane. It
// returns how many moved.
func (c *Client) luaPromote(ctx context.Context, k keyspace, queue string, ids, types []string) (int, error) {
	keys := make([]string, 0, 5+4*len(ids))
	keys = append(keys, k.scheduled(queue), k.retrying(queue), k.counts(), k.seq(), k.laneTypes(queue))
	args := make([]any, 0, 2+2*len(ids))
	args = append(args, c.keys.eventsChannel(), c.wakeCap)
	for i, id := range ids {
		keys = append(keys, k.job(id), k.lane(queue, types[i]), k.laneWake(queue, types[i]))
		args = append(args, id, types[i])
	}
	for _, id := range ids {
		keys = append(keys, k.jobEvents(id))
	}
	res, err := c.runScript(ctx, c.scripts.promote, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("promote %s: %w", queue, err)
	}
	n, _ := res[1].(int64)
	return int(n), nil
}
