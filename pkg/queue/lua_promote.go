package queue

import (
	"context"
	"fmt"
)

// luaPromote runs lua/promote.lua on one queue of shard k: the candidates
// ids (peeked from its scheduled and retrying sets) that are due by the
// Redis clock → pending. It returns how many moved.
func (c *Client) luaPromote(ctx context.Context, k keyspace, queue string, ids []string) (int, error) {
	keys := make([]string, 0, 6+len(ids))
	keys = append(keys, k.scheduled(queue), k.retrying(queue), k.pending(queue),
		k.counts(), k.seq(), k.wake(queue))
	args := make([]any, 0, 2+len(ids))
	args = append(args, c.keys.eventsChannel(), c.wakeCap)
	for _, id := range ids {
		keys = append(keys, k.job(id))
		args = append(args, id)
	}
	res, err := c.runScript(ctx, c.scripts.promote, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("promote %s: %w", queue, err)
	}
	n, _ := res[1].(int64)
	return int(n), nil
}
