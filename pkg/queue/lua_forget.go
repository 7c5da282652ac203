package queue

import (
	"context"
	"fmt"
)

// luaForget runs lua/forget.lua on shard k: of the candidate queues, those
// whose pending, scheduled and retrying sets are all empty leave the
// queue registry, with their wake lists. It returns how many left.
func (c *Client) luaForget(ctx context.Context, k keyspace, queues []string) (int, error) {
	keys := make([]string, 0, 1+4*len(queues))
	keys = append(keys, k.queues())
	args := make([]any, 0, len(queues))
	for _, q := range queues {
		keys = append(keys, k.pending(q), k.scheduled(q), k.retrying(q), k.wake(q))
		args = append(args, q)
	}
	res, err := c.runScript(ctx, c.scripts.forget, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("forget empty queues: %w", err)
	}
	n, _ := res[1].(int64)
	return int(n), nil
}
