package queue

import (
	"context"
	"time"
)

// hookClaimCall is one hookclaim.lua call: candidates ids, all of shard
// shard.
type hookClaimCall struct {
	shard int
	ids   []string
}

// luaHookClaim runs lua/hookclaim.lua, one call per hookClaimCall, in one
// round trip: each takes the candidates still due, under a lease of
// lease, with one fresh claim token per call. It returns the jobs of the
// deliveries taken; a call's error is returned when no call could be made at all.
func (c *Client) luaHookClaim(ctx context.Context, lease time.Duration, calls []hookClaimCall) ([]*Job, error) {
	lcs := make([]*luaCall, len(calls))
	for i, cl := range calls {
		k := c.shards[cl.shard]
		keys := make([]string, 0, 1+len(cl.ids))
		keys = append(keys, k.hooks())
		args := make([]any, 0, 2+len(cl.ids))
		args = append(args, lease.Milliseconds(), randomHex(8))
		for _, id := range cl.ids {
			keys = append(keys, k.job(id))
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
			id, _ := lc.reply[k].(string)
			pairs, _ := lc.reply[k+1].([]any)
			j := jobFromPairs(id, pairs)
			if j.Delivery != nil {
				out = append(out, j)
			}
		}
	}
	if failed == len(lcs) {
		return nil, firstErr
	}
	return out, nil
}
