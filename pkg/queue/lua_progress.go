package queue

import (
	"context"
	"time"
)

// progressReport is one run's progress to write: its job, its run token,
// the percent and the current step.
type progressReport struct {
	id, token string
	percent   float64
	step      string
}

// luaProgress runs lua/progress.lua, one call per shard holding some of
// the reports, in one round trip: each report is written (and its run's
// lease extended by lease) only if its run still holds the job. It
// returns each report's outcome (nil, or why the run no longer holds its
// job, or its shard's error).
func (c *Client) luaProgress(ctx context.Context, reports []progressReport, lease time.Duration) []error {
	groups := c.shards.group(len(reports), func(i int) string { return reports[i].id })
	calls := make([]*luaCall, len(groups))
	for gi, g := range groups {
		k := c.shards[g.shard]
		keys := make([]string, 0, 1+2*len(g.idx))
		keys = append(keys, k.leases())
		args := make([]any, 0, 3+4*len(g.idx))
		args = append(args, lease.Milliseconds(), c.keys.eventsChannel(), c.watch)
		for _, i := range g.idx {
			r := &reports[i]
			keys = append(keys, k.job(r.id))
			args = append(args, r.id, r.token, r.percent, r.step)
		}
		for _, i := range g.idx {
			keys = append(keys, k.jobEvents(reports[i].id))
		}
		calls[gi] = &luaCall{script: c.scripts.progress, keys: keys, args: args}
	}
	c.runScripts(ctx, false, calls...)
	out := make([]error, len(reports))
	for gi, g := range groups {
		rows, err := calls[gi].reply, calls[gi].err
		if err == nil {
			rows, err = batchRows(rows, 1, len(g.idx), "progress")
		}
		for k, i := range g.idx {
			if err != nil {
				out[i] = err
				continue
			}
			out[i] = rowError(rows[k], reports[i].id, StateRunning)
		}
	}
	return out
}

// luaProgressOne is luaProgress for one report.
func (c *Client) luaProgressOne(ctx context.Context, id, token string, percent float64, step string, lease time.Duration) error {
	return c.luaProgress(ctx, []progressReport{{id: id, token: token, percent: percent, step: step}}, lease)[0]
}
