package queue

import "context"

// completeRun is one run to acknowledge as completed: its job (id, queue
// and type), its run token and its result JSON ("" for none); for a job
// of a pipeline, the pipeline's id and the job's children
// (luaPipelineComplete completes those), if known (edges: else runEdges
// reads them).
type completeRun struct {
	id, queue, typ, token, result string
	pipeline                      string
	children                      []pipeChild
	edges                         bool
}

// luaComplete runs lua/complete.lua, one call per shard holding some of
// runs, in one round trip: each run that still holds its job → completed.
// It returns each run's outcome (nil, or why the run no longer holds its
// job, or its shard's error). err is set when no call could be made at all.
func (c *Client) luaComplete(ctx context.Context, runs []completeRun) ([]error, error) {
	groups := c.shards.group(len(runs), func(i int) string { return runs[i].id })
	calls := make([]*luaCall, len(groups))
	for gi, g := range groups {
		k := c.shards[g.shard]
		keys := make([]string, 0, 7+2*len(g.idx))
		keys = append(keys, k.leases(), k.counts(), k.typeRunning(), k.typeLimits(),
			k.done(StateCompleted), k.hooks())
		args := make([]any, 0, 3+3*len(g.idx))
		args = append(args, c.keys.eventsChannel(), c.wakeCap, c.watch)
		var wq, wt, wake string // the last lane's wake key: runs mostly share one
		for _, i := range g.idx {
			r := &runs[i]
			if wake == "" || r.queue != wq || r.typ != wt {
				wq, wt, wake = r.queue, r.typ, k.laneWake(r.queue, r.typ)
			}
			keys = append(keys, k.job(r.id), wake)
			args = append(args, r.id, r.token, r.result)
		}
		keys = append(keys, k.history())
		calls[gi] = &luaCall{script: c.scripts.complete, keys: keys, args: args}
	}
	c.runScripts(ctx, false, calls...)
	out := make([]error, len(runs))
	failed := 0
	for gi, g := range groups {
		rows, err := calls[gi].reply, calls[gi].err
		if err == nil {
			rows, err = batchRows(rows, 1, len(g.idx), "complete")
		}
		if err != nil {
			if failed++; failed == len(groups) {
				return nil, err
			}
			for _, i := range g.idx {
				out[i] = err
			}
			continue
		}
		for k, i := range g.idx {
			out[i] = rowError(rows[k], runs[i].id, StateCompleted)
		}
	}
	return out, nil
}
