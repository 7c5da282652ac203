package queue

import (
	"context"
	"fmt"
)

// luaRestart runs lua/restart.lua on each of jobs, in one round trip: a
// failed or cancelled job → pending, its run history reset. Each job's
// queue and type are the ones its caller read. It returns each job's outcome, by
// index.
func (c *Client) luaRestart(ctx context.Context, jobs []jobRef) []error {
	calls := make([]*luaCall, len(jobs))
	for i, j := range jobs {
		k, q := c.shards.of(j.id), j.queue
		calls[i] = &luaCall{script: c.scripts.restart,
			keys: []string{k.job(j.id), k.counts(), k.done(StateFailed),
				k.done(StateCancelled), k.lane(q, j.typ), k.seq(), k.laneWake(q, j.typ), k.queues(),
				k.laneTypes(q), k.jobEvents(j.id)},
			args: []any{j.id, q, c.keys.eventsChannel(), c.wakeCap, j.typ}}
	}
	c.runScripts(ctx, false, calls...)
	errs := make([]error, len(jobs))
	for i, cl := range calls {
		if cl.err != nil {
			errs[i] = fmt.Errorf("restart %s: %w", jobs[i].id, cl.err)
		} else {
			errs[i] = scriptError(cl.reply, jobs[i].id, StatePending)
		}
	}
	return errs
}
