package queue

import (
	"context"
	"fmt"
)

// luaCancel runs lua/cancel.lua on each of jobs, in one round trip: a
// pending, scheduled, retrying or running job → cancelled, and the id
// published on the cancel channel when it was running. Each job's queue
// and type are the ones its caller read. It returns each job's outcome, by index.
func (c *Client) luaCancel(ctx context.Context, jobs []jobRef) []error {
	calls := make([]*luaCall, len(jobs))
	for i, j := range jobs {
		k, q := c.shards.of(j.id), j.queue
		calls[i] = &luaCall{script: c.scripts.cancel,
			keys: []string{k.job(j.id), k.counts(), k.lane(q, j.typ), k.scheduled(q),
				k.retrying(q), k.leases(), k.typeRunning(), k.typeLimits(),
				k.laneWake(q, j.typ), k.done(StateCancelled), k.history(), k.hooks(), k.jobEvents(j.id)},
			args: []any{j.id, q, c.keys.eventsChannel(), c.keys.cancelChannel(), c.wakeCap}}
	}
	c.runScripts(ctx, false, calls...)
	errs := make([]error, len(jobs))
	for i, cl := range calls {
		if cl.err != nil {
			errs[i] = fmt.Errorf("cancel %s: %w", jobs[i].id, cl.err)
		} else {
			errs[i] = scriptError(cl.reply, jobs[i].id, StateCancelled)
		}
	}
	return errs
}
