package queue

import (
	"context"
	"fmt"
)

// luaRestart runs lua/restart.lua: a failed or cancelled job → pending,
// its run history reset. queue is the job's queue as the caller read it.
func (c *Client) luaRestart(ctx context.Context, id, queue string) error {
	k := c.shards.of(id)
	res, err := c.runScript(ctx, c.scripts.restart,
		[]string{k.job(id), k.counts(), k.done(StateFailed),
			k.done(StateCancelled), k.pending(queue), k.seq(), k.wake(queue), k.queues()},
		id, queue, c.keys.eventsChannel(), c.wakeCap)
	if err != nil {
		return fmt.Errorf("restart %s: %w", id, err)
	}
	return scriptError(res, id, StatePending)
}
