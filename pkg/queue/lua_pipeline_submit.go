package queue

import (
	"context"
	"errors"
	"fmt"
)

// pipeSubmitJob is one job of a pipeline_submit.lua call.
type pipeSubmitJob struct {
	id string
	p  *PipelineJob
}

// pipeSubmit is one pipeline of a pipeline_submit.lua call, its jobs in
// graph order.
type pipeSubmit struct {
	id, uniqueKey, graph string
	callback, owner      string // "" for none
	jobs                 []pipeSubmitJob
}

// pipeCreated is a pipeSubmit's outcome: its creation time, or why it was
// not created (a created pipeline may still carry ErrNotReplicated).
type pipeCreated struct {
	created string
	err     error
}

// luaPipelineSubmit runs lua/pipeline_submit.lua, one call per shard
// holding some of ps (each pipeline's shard is its id's), durably
// (write.go), in one round trip: each pipeline and its jobs are created
// at once, or nothing of it is (*DuplicateError for a unique key held,
// ErrQueueLimit). The owners' owned sets record the jobs in the same
// round trip. It returns each pipeline's outcome, in order.
func (c *Client) luaPipelineSubmit(ctx context.Context, ps []*pipeSubmit) []pipeCreated {
	groups := c.shards.group(len(ps), func(i int) string { return ps[i].id })
	calls := make([]*luaCall, len(groups))
	for gi, g := range groups {
		calls[gi] = c.pipelineSubmitCall(c.shards[g.shard], ps, g.idx)
	}
	owned := map[string][]string{}
	for _, p := range ps {
		if p.owner == "" {
			continue
		}
		for _, j := range p.jobs {
			owned[p.owner] = append(owned[p.owner], j.id)
		}
	}
	var record func(context.Context, *write) error
	if len(owned) > 0 {
		record = func(ctx context.Context, w *write) error { return c.recordOwned(ctx, w, owned) }
	}
	c.runScriptsWith(ctx, true, record, calls...)
	out := make([]pipeCreated, len(ps))
	for gi, g := range groups {
		cl := calls[gi]
		rows, err := cl.reply, cl.err
		if err == nil {
			rows, err = batchRows(rows, 1, len(g.idx), "pipeline submit")
		}
		if err != nil { // the call failed: none of its pipelines is known created
			for _, i := range g.idx {
				out[i] = pipeCreated{err: fmt.Errorf("submit pipeline %s: %w", ps[i].id, err)}
			}
			continue
		}
		created, _ := cl.reply[0].(string)
		replErr := c.replicated(cl.wait)
		for k, i := range g.idx {
			out[i] = pipeOutcome(ps[i], rows[k], created, replErr)
		}
	}
	return out
}

// pipeOutcome is p's outcome from its row of its call's reply, the call's
// creation time and, for a created pipeline, why its write may not be
// replicated (nil when it is).
func pipeOutcome(p *pipeSubmit, row any, created string, replErr error) pipeCreated {
	if err := rowError(row, p.id, StatePending); err != nil {
		var dup *DuplicateError
		if errors.As(err, &dup) {
			dup.UniqueKey = p.uniqueKey
		}
		return pipeCreated{err: err}
	}
	if replErr != nil {
		replErr = fmt.Errorf("submit pipeline %s: %w", p.id, replErr)
	}
	return pipeCreated{created: created, err: replErr}
}

// pipelineSubmitCall is the pipeline_submit.lua call of ps[idx] in shard
// k. The lanes of the jobs are named once each (a pipeline's jobs mostly
// share a few).
func (c *Client) pipelineSubmitCall(k keyspace, ps []*pipeSubmit, idx []int) *luaCall {
	type lane struct{ queue, typ string }
	at := map[lane]int{}
	var lanes []lane
	for _, i := range idx {
		for _, j := range ps[i].jobs {
			l := lane{j.p.Queue, j.p.Type}
			if _, ok := at[l]; !ok {
				lanes = append(lanes, l)
				at[l] = len(lanes)
			}
		}
	}
	keys := []string{k.counts(), k.queues(), k.seq(), k.waiting(), k.history()}
	args := []any{c.keys.eventsChannel(), c.wakeCap, c.maxQueues, len(lanes)}
	for _, l := range lanes {
		keys = append(keys, k.lane(l.queue, l.typ), k.laneWake(l.queue, l.typ), k.laneTypes(l.queue))
		args = append(args, l.typ, l.queue)
	}
	for _, i := range idx {
		p := ps[i]
		uk := k.pipeline(p.id) // the script's "no unique key"
		if p.uniqueKey != "" {
			uk = k.unique(p.uniqueKey)
		}
		keys = append(keys, k.pipeline(p.id), uk)
		args = append(args, p.id, p.uniqueKey, p.graph, p.callback, len(p.jobs))
		for _, j := range p.jobs {
			e := &j.p.EnqueueParams
			keys = append(keys, k.job(j.id))
			opts := "" // the defaults
			if e.Priority != 0 || *e.MaxRetries != DefaultMaxRetries || e.Timeout != 0 {
				opts = fmt.Sprintf("%d:%d:%d", e.Priority, *e.MaxRetries, e.Timeout.Milliseconds())
			}
			args = append(args, j.id, string(e.Payload), len(j.p.DependsOn),
				at[lane{e.Queue, e.Type}], opts, e.CallbackURL)
		}
	}
	return &luaCall{script: c.scripts.pipelineSubmit, keys: keys, args: args}
}
