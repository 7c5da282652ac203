package queue

import "context"

// luaPipelineComplete runs lua/pipeline_complete.lua, one call per run
// (of jobs of pipelines), in one round trip: each run that still holds
// its job → completed, and the children of it whose last unfinished
// parent it was → pending, in the same step. It returns each run's
// outcome, as luaComplete does.
func (c *Client) luaPipelineComplete(ctx context.Context, runs []completeRun) []error {
	calls := make([]*luaCall, len(runs))
	for i := range runs {
		r := &runs[i]
		k := c.shards.of(r.id)
		keys := make([]string, 0, 12+4*len(r.children))
		keys = append(keys, k.job(r.id), k.leases(), k.counts(), k.typeRunning(), k.typeLimits(),
			k.done(StateCompleted), k.laneWake(r.queue, r.typ), k.pipeline(r.pipeline), k.seq(),
			k.waiting(), k.queues(), k.pipelinesDone())
		args := make([]any, 0, 6+3*len(r.children))
		args = append(args, c.keys.eventsChannel(), c.wakeCap, r.id, r.token, r.result, r.pipeline)
		for _, ch := range r.children {
			keys = append(keys, k.job(ch.id), k.lane(ch.queue, ch.typ), k.laneWake(ch.queue, ch.typ), k.laneTypes(ch.queue))
			args = append(args, ch.id, ch.typ, ch.queue)
		}
		calls[i] = &luaCall{script: c.scripts.pipelineComplete, keys: keys, args: args}
	}
	c.runScripts(ctx, false, calls...)
	out := make([]error, len(runs))
	for i, cl := range calls {
		if out[i] = cl.err; out[i] == nil {
			out[i] = scriptError(cl.reply, runs[i].id, StateCompleted)
		}
	}
	return out
}

// completeAny completes runs of plain jobs (luaComplete: one call per
// shard) and of jobs of pipelines (luaPipelineComplete), in one round
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
