package queue

import (
	"context"
	"fmt"
)

// forgetQueue is a queue forget.lua checks: its name and the types of
// the lanes of it that looked empty.
type forgetQueue struct {
	name  string
	types []string
}

// luaForget runs lua/forget.lua on shard k: of the candidate queues'
// lanes, those still empty leave their queue's set of lane types, with
// their wake lists; of the queues, those with no lane left and nothing
// scheduled or retrying leave the queue registry. It returns how many
// queues left.
func (c *Client) luaForget(ctx context.Context, k keyspace, queues []forgetQueue) (int, error) {
	keys := make([]string, 0, 1+3*len(queues))
	keys = append(keys, k.queues())
	args := make([]any, 0, 1+len(queues))
	args = append(args, len(queues))
	for _, q := range queues {
		keys = append(keys, k.scheduled(q.name), k.retrying(q.name), k.laneTypes(q.name))
		args = append(args, q.name)
	}
	for i, q := range queues {
		for _, t := range q.types {
			keys = append(keys, k.lane(q.name, t), k.laneWake(q.name, t))
			args = append(args, i+1, t)
		}
	}
	res, err := c.runScript(ctx, c.scripts.forget, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("forget empty queues: %w", err)
	}
	n, _ := res[1].(int64)
	return int(n), nil
}
