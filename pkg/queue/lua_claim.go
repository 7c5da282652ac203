package queue

import (
	"context"
	"time"
)

// claimCandidate is a job a claim may take: its id and the lane holding
// it (its queue and type).
type claimCandidate struct{ id, queue, typ string }

// claimCall is one claim.lua call: up to want of cands, in their order,
// all of shard shard.
type claimCall struct {
	shard int
	want  int
	cands []claimCandidate
}

// luaClaim runs lua/claim.lua, one call per claimCall, in one round trip:
// each call takes (pending → running) up to want of its candidates, each
// only if it is still in its lane and its type is under its limit, for worker
// with a lease of lease and a run token ending in tokenSuffix. It returns,
// by call, the jobs taken (as they are once claimed, in candidate order)
// or the call's error.
func (c *Client) luaClaim(ctx context.Context, worker string, lease time.Duration, tokenSuffix string, calls []claimCall) ([][]*Job, []error) {
	lcs := make([]*luaCall, len(calls))
	tokens := make([][]string, len(calls)) // by call, then candidate: its run token
	for i, cl := range calls {
		k := c.shards[cl.shard]
		keys := make([]string, 0, 4+3*len(cl.cands))
		keys = append(keys, k.leases(), k.counts(), k.typeRunning(), k.typeLimits())
		args := make([]any, 0, 4+3*len(cl.cands))
		args = append(args, worker, cl.want, lease.Milliseconds(), c.keys.eventsChannel())
		tokens[i] = make([]string, len(cl.cands))
		for n, cd := range cl.cands {
			tokens[i][n] = randomHex(8) + tokenSuffix
			keys = append(keys, k.job(cd.id), k.lane(cd.queue, cd.typ))
			args = append(args, cd.id, tokens[i][n], cd.typ)
		}
		for _, cd := range cl.cands {
			keys = append(keys, k.history(cd.id))
		}
		lcs[i] = &luaCall{script: c.scripts.claim, keys: keys, args: args}
	}
	c.runScripts(ctx, false, lcs...)
	jobs, errs := make([][]*Job, len(calls)), make([]error, len(calls))
	for i, lc := range lcs {
		if errs[i] = lc.err; lc.err != nil {
			continue
		}
		// {OK, now, id, row, ...}: each row is the job before the claim,
		// in candidate order.
		now, _ := lc.reply[1].(string)
		cands, next := calls[i].cands, 0
		for k := 2; k+1 < len(lc.reply); k += 2 {
			id, _ := lc.reply[k].(string)
			pairs, _ := lc.reply[k+1].([]any)
			for next < len(cands)-1 && cands[next].id != id {
				next++
			}
			jobs[i] = append(jobs[i], claimedJob(jobFromPairs(id, pairs), worker, tokens[i][next], msTime(now)))
		}
	}
	return jobs, errs
}
