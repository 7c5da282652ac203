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
		calls[gi] = c.pipelineCompleteCall(c.shards[g.shard], runs, g.idx)
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
	if err := c.runEdges(ctx, runs); err != nil {
		return nil, err
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

// pipelineCompleteCall is the pipeline_complete.lua call of runs[idx] in
// shard k. What a child's release needs besides its id — its lane, its
// number of parents, its priority — is named once per call for all the
// children that share it (a spec: the children of a job mostly share
// one), and each child once: its id, preceded by its spec's index where
// the spec changes. A child costs the call its id alone (the jobs below
// one job, or above a join, mostly complete together). The children's and
// pipelines' keys are made from their ids by the script: each key named
// is a string for Redis to parse and Lua to make.
func (c *Client) pipelineCompleteCall(k keyspace, runs []completeRun, idx []int) *luaCall {
	type lane struct{ queue, typ string }
	type spec struct {
		lane, parents int
		priority      string
	}
	laneAt, specAt := map[lane]int{}, map[spec]int{}
	var lanes []lane
	var specs []spec
	specOf := func(ch pipeChild) int {
		l := lane{ch.queue, ch.typ}
		if _, ok := laneAt[l]; !ok {
			lanes = append(lanes, l)
			laneAt[l] = len(lanes)
		}
		sp := spec{laneAt[l], ch.parents, ch.priority}
		if _, ok := specAt[sp]; !ok {
			specs = append(specs, sp)
			specAt[sp] = len(specs)
		}
		return specAt[sp]
	}
	named, cur := map[string]bool{}, 0
	children := make([][]any, len(idx)) // per run: its children's ids, spec changes before
	for n, i := range idx {
		for _, ch := range runs[i].children {
			if !named[ch.id] {
				named[ch.id] = true
				if s := specOf(ch); s != cur {
					cur = s
					children[n] = append(children[n], "", s)
				}
			}
			children[n] = append(children[n], ch.id)
		}
	}
	keys := []string{k.leases(), k.counts(), k.typeRunning(), k.typeLimits(), k.done(StateCompleted),
		k.seq(), k.waiting(), k.queues(), k.pipelinesDone()}
	args := []any{c.keys.eventsChannel(), c.wakeCap, len(lanes), k.job(""), k.pipeline(""), c.watch}
	for _, l := range lanes {
		keys = append(keys, k.lane(l.queue, l.typ), k.laneWake(l.queue, l.typ), k.laneTypes(l.queue))
		args = append(args, l.typ, l.queue)
	}
	args = append(args, len(specs))
	for _, sp := range specs {
		args = append(args, sp.lane, sp.parents, sp.priority)
	}
	for n, i := range idx {
		r := &runs[i]
		keys = append(keys, k.job(r.id), k.laneWake(r.queue, r.typ))
		args = append(args, r.id, r.token, r.result, r.pipeline, len(children[n]))
		args = append(args, children[n]...)
	}
	keys = append(keys, k.hooks(), k.history())
	return &luaCall{script: c.scripts.pipelineComplete, keys: keys, args: args}
}
