package queue

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// claimCall is one claim.lua call: up to want jobs from the lanes of
// shard shard, in the lanes' run order.
type claimCall struct {
	shard int
	want  int
}

// claimReply is what one claim.lua call took: the jobs (as they are once
// claimed, in run order), or blocked when it took none though a lane held
// jobs of a type at its running limit.
type claimReply struct {
	jobs    []*Job
	blocked bool
	// wait, when not 0, is how long until a type its rate limit held back
	// may start a job again.
	wait time.Duration
}

// luaClaim runs lua/claim.lua, one call per claimCall, in one round trip:
// each call takes (pending → running) up to want jobs from the heads of
// lanes (in rank order) in its shard, of types under their limits and
// queues not paused (a job past its deadline fails instead), for
// worker with a lease of lease and run tokens ending in tokenSuffix. It
// returns, by call, what it took or the call's error.
func (c *Client) luaClaim(ctx context.Context, worker string, lease time.Duration, tokenSuffix string, lanes []claimLane, calls []claimCall) ([]claimReply, []error) {
	lcs := make([]*luaCall, len(calls))
	tokens := make([][]string, len(calls)) // by call: the run token of each job it may take
	for i, cl := range calls {
		k := c.shards[cl.shard]
		keys := make([]string, 0, 6+len(lanes))
		keys = append(keys, k.leases(), k.counts(), k.typeRunning(), k.typeLimits())
		args := make([]any, 0, 6+3*len(lanes)+cl.want)
		args = append(args, worker, cl.want, lease.Milliseconds(), c.keys.eventsChannel(), len(lanes), k.job(""))
		for _, l := range lanes {
			keys = append(keys, k.lane(l.queue, l.typ))
			args = append(args, l.typ, strconv.Itoa(l.rank))
		}
		keys = append(keys, k.done(StateFailed), k.tallies())
		for _, t := range laneTypeOrder(lanes) {
			keys = append(keys, k.typeStarts(t))
		}
		tokens[i] = make([]string, cl.want)
		for n := range tokens[i] {
			tokens[i][n] = randomHex(8) + tokenSuffix
			args = append(args, tokens[i][n])
		}
		for _, l := range lanes {
			args = append(args, l.queue)
		}
		lcs[i] = &luaCall{script: c.scripts.claim, keys: keys, args: args}
	}
	c.runScripts(ctx, false, lcs...)
	replies, errs := make([]claimReply, len(calls)), make([]error, len(calls))
	for i, lc := range lcs {
		if errs[i] = lc.err; lc.err != nil {
			continue
		}
		// {OK, now, blocked, wait ms, id, row, ...}: each row is the job before
		// the claim, in the order taken, which is the tokens' order.
		now, _ := lc.reply[1].(string)
		blocked, _ := lc.reply[2].(int64)
		replies[i].blocked = blocked == 1
		wait, _ := lc.reply[3].(string)
		if ms, _ := strconv.ParseInt(wait, 10, 64); ms > 0 {
			replies[i].wait = time.Duration(ms) * time.Millisecond
		}
		for k := 4; k+1 < len(lc.reply); k += 2 {
			id, _ := lc.reply[k].(string)
			pairs, _ := lc.reply[k+1].([]any)
			token := tokens[i][len(replies[i].jobs)]
			replies[i].jobs = append(replies[i].jobs, claimedJob(jobFromPairs(id, pairs), worker, token, msTime(now)))
		}
	}
	return replies, errs
}

// laneTypeOrder is the types of lanes, each once, in the order the lanes
// first name them: claim.lua's order of the types' starts logs.
func laneTypeOrder(lanes []claimLane) []string {
	var types []string
	for _, l := range lanes {
		if !slices.Contains(types, l.typ) {
			types = append(types, l.typ)
		}
	}
	return types
}
