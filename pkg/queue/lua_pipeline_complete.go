package queue

import "context"

// luaPipelineComplete runs lua/pipeline_complete.lua, one call per shard
// holding some of runs (of jobs of pipelines), in one round trip: each
// run that still holds its job → completed, and the children of it whose
// last unfinished parent it was → pending, in the same step. It returns
// each run's outcome (nil, or why the run no longer holds its job, or its
// shard's error), as luaComplete does.
func (c *Client) luaPipelineComplete(ctx context.Context, runs []completeRun) []error {
	groups := c.shards.group(len(runs), func(i int) string { return runs[i].id })
	calls := make([]*luaCall, len(groups))
	for gi, g := range groups {
		k := c.shards[g.shard]
		keys := []string{k.leases(), k.counts(), k.typeRunning(), k.typeLimits(), k.done(StateCompleted),
			k.seq(), k.waiting(), k.queues(), k.pipelinesDone()}
		args := []any{c.keys.eventsChannel(), c.wakeCap}
		for _, i := range g.idx {
			r := &runs[i]
			keys = append(keys, k.job(r.id), k.laneWake(r.queue, r.typ), k.pipeline(r.pipeline))
			args = append(args, r.id, r.token, r.result, r.pipeline, len(r.children))
			for _, ch := range r.children {
				keys = append(keys, k.job(ch.id), k.lane(ch.queue, ch.typ), k.laneWake(ch.queue, ch.typ), k.laneTypes(ch.queue))
				args = append(args, ch.id, ch.typ, ch.queue)
			}
		}
		keys = append(keys, k.hooks(), k.history())
		calls[gi] = &luaCall{script: c.scripts.pipelineComplete, keys: keys, args: args}
	}
	c.runScripts(ctx, false, calls...)
	out := make([]error, len(runs))
	for gi, g := range groups {
		rows, err := calls[gi].reply, calls[gi].err
		if err == nil {
			rows, err = batchRows(rows, 1, len(g.idx), "pipeline complete")
		}
		for k, i := range g.idx {
			if err != nil {
				out[i] = err
			} else {
				out[i] = rowError(rows[k], runs[i].id, StateCompleted)
			}
		}
	}
	return out
}

// completeAny completes runs of plain jobs (luaComplete) and of jobs of
// pipelines (luaPipelineComplete), one call per shard each, in one round
// trip each; a batch without jobs of pipelines costs nothing more.
func (c *Client) completeAny(ctx context.Context, runs []completeRun) ([]error, error) {
	var plain, piped []int
	for i := range runs {
		if runs[i].pipeline != "" {
			piped = append(piped, i)
		} else {
			plain = append(plain, i)
		}
	}
	if len(piped) == 0 {
		return c.luaComplete(ctx, runs)
	}
	out := make([]error, len(runs))
	pick := func(idx []int) []completeRun {
		rs := make([]completeRun, len(idx))
		for k, i := range idx {
			rs[k] = runs[i]
		}
		return rs
	}
	if len(plain) > 0 {
		errs, err := c.luaComplete(ctx, pick(plain))
		for k, i := range plain {
			if err != nil {
				out[i] = err
			} else {
				out[i] = errs[k]
			}
		}
	}
	for k, err := range c.luaPipelineComplete(ctx, pick(piped)) {
		out[piped[k]] = err
	}
	return out, nil
}
