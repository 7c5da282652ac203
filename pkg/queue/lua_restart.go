package queue

import (
	"context"
	"fmt"
)

// luaRestart runs lua/restart.lua: a failed or cancelled job → pending,
// its run history reset. queue and typ are the job's as the caller read them.
func (c *Client) luaRestart(ctx context.Context, id, queue, typ string) error {
	k := c.shards.of(id)
	res, err := c.runScript(ctx, c.scripts.restart,
		[]string{k.job(id), k.counts(), k.done(StateFailed),
			k.done(StateCancelled), k.lane(queue, typ), k.seq(), k.laneWake(queue, typ), k.queues(),
			k.laneTypes(queue), k.history(id)},
		id, queue, c.keys.eventsChannel(), c.wakeCap, typ)
	if err != nil {
		return fmt.Errorf("restart %s: %w", id, err)
	}
	return scriptError(res, id, StatePending)
}
