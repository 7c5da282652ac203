package queue

import (
	"context"
	"fmt"
)

// luaCancel runs lua/cancel.lua: a pending, scheduled, retrying or
// running job → cancelled, and the id published on the cancel channel
// when it was running. queue and typ are the job's as the caller read them.
func (c *Client) luaCancel(ctx context.Context, id, queue, typ string) error {
	k := c.shards.of(id)
	res, err := c.runScript(ctx, c.scripts.cancel,
		[]string{k.job(id), k.counts(), k.lane(queue, typ), k.scheduled(queue),
			k.retrying(queue), k.leases(), k.typeRunning(), k.typeLimits(),
			k.laneWake(queue, typ), k.done(StateCancelled), k.history(id)},
		id, queue, c.keys.eventsChannel(), c.keys.cancelChannel(), c.wakeCap)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	return scriptError(res, id, StateCancelled)
}
