package queue

import (
	"context"
	"time"
)

// hookClaimCall is one hookclaim.lua call: candidates ids (hooks set
// entries: job ids, or pipelines' entries), all of shard shard.
type hookClaimCall struct {
	shard int
	ids   []string
}

// luaHookClaim runs lua/hookclaim.lua, one call per hookClaimCall, in one
// round trip: each takes the candidates still due, under a lease of
// lease, with one fresh claim token per call. It returns the jobs of the
// deliveries taken (a pipeline's as pipelineDelivery makes it); a call's
// error is returned when no call could be made at all.
func (c *Client) luaHookClaim(ctx context.Context, lease time.Duration, calls []hookClaimCall) ([]*Job, error) {
	lcs := make([]*luaCall, len(calls))
	for i, cl := range calls {
		k := c.shards[cl.shard]
		keys := make([]string, 0, 1+len(cl.ids))
		keys = append(keys, k.hooks())
		args := make([]any, 0, 2+len(cl.ids))
		args = append(args, lease.Milliseconds(), randomHex(8))
		for _, id := range cl.ids {
			hk, _, _ := c.hookKeys(id)
			keys = append(keys, hk)
			args = append(args, id)
		}
		lcs[i] = &luaCall{script: c.scripts.hookclaim, keys: keys, args: args}
	}
	c.runScripts(ctx, false, lcs...)
	var out []*Job
	var firstErr error
	failed := 0
	for _, lc := range lcs {
		if lc.err != nil {
			failed++
			firstErr = lc.err
			continue
		}
		// {OK, id, row, ...}
		for k := 1; k+1 < len(lc.reply); k += 2 {
			member, _ := lc.reply[k].(string)
			pairs, _ := lc.reply[k+1].([]any)
			_, id, pipeline := c.hookKeys(member)
			j := jobFromPairs(id, pairs)
			if pipeline {
				j = c.pipelineDelivery(ctx, id, pairs)
			}
			if j != nil && j.Delivery != nil {
				out = append(out, j)
			}
		}
	}
	if failed == len(lcs) {
		return nil, firstErr
	}
	return out, nil
}

// pipelineDelivery is the claimed delivery of pipeline id (its hash's
// pairs) as a Job standing for the pipeline, its record, with its jobs',
// in Delivery.Pipeline. Nil when the jobs cannot be read: the claim's
// lease runs out and the delivery is due again.
func (c *Client) pipelineDelivery(ctx context.Context, id string, pairs []any) *Job {
	h := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		f, _ := pairs[i].(string)
		v, _ := pairs[i+1].(string)
		h[f] = v
	}
	p, _ := pipelineFromHash(id, h)
	if p.Delivery == nil {
		return nil
	}
	ids := make([]string, len(p.Jobs))
	for i, m := range p.Jobs {
		ids[i] = m.ID
	}
	jobs, err := c.GetMany(ctx, ids)
	if err != nil {
		return nil
	}
	for i := range p.Jobs {
		p.Jobs[i].Job = jobs[i]
	}
	p.Delivery.Pipeline = p
	return &Job{ID: id, Status: State(p.Status), CallbackURL: p.CallbackURL, CreatedAt: p.CreatedAt,
		CompletedAt: p.CompletedAt, UpdatedAt: p.UpdatedAt, Version: p.Version, Delivery: p.Delivery}
}
