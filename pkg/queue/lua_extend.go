package queue

import (
	"context"
	"time"
)

// runRef names one run: its job and its run token.
type runRef struct{ id, token string }

// luaExtend runs lua/extend.lua, one call per shard holding some of runs,
// in one round trip: every run that still holds its job gets its lease
// pushed to lease from now. It returns each run's outcome: nil, or why the
// run no longer holds its job (*LeaseLostError, ErrJobNotFound). err is
// set when a call failed.
func (c *Client) luaExtend(ctx context.Context, lease time.Duration, runs []runRef) ([]error, error) {
	if len(runs) == 0 {
		return nil, nil
	}
	groups := c.shards.group(len(runs), func(i int) string { return runs[i].id })
	calls := make([]*luaCall, len(groups))
	for gi, g := range groups {
		k := c.shards[g.shard]
		keys := make([]string, 0, 1+len(g.idx))
		keys = append(keys, k.leases())
		args := make([]any, 0, 1+2*len(g.idx))
		args = append(args, lease.Milliseconds())
		for _, i := range g.idx {
			keys = append(keys, k.job(runs[i].id))
			args = append(args, runs[i].id, runs[i].token)
		}
		calls[gi] = &luaCall{script: c.scripts.extend, keys: keys, args: args}
	}
	c.runScripts(ctx, false, calls...)
	out := make([]error, len(runs))
	for gi, g := range groups {
		if calls[gi].err != nil {
			return nil, calls[gi].err
		}
		rows, err := batchRows(calls[gi].reply, 1, len(g.idx), "extend")
		if err != nil {
			return nil, err
		}
		for k, i := range g.idx {
			out[i] = rowError(rows[k], runs[i].id, StateRunning)
		}
	}
	return out, nil
}
