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
		types := laneTypeOrder(lanes)
		keys := make([]string, 0, 8+2*len(lanes)+len(types))
		keys = append(keys, k.leases(), k.counts(), k.typeRunning(), k.typeLimits())
		args := make([]any, 0, 8+4*len(lanes)+cl.want)
		args = append(args, worker, cl.want, lease.Milliseconds(), c.keys.eventsChannel(), len(lanes), k.job(""))
		sets := laneSets(lanes)
		setKeys := make([]string, 0, len(sets))
		for _, l := range lanes {
			keys = append(keys, k.lane(l.queue, l.typ))
			s := sets[l.queue]
			if s > len(setKeys) {
				setKeys = append(setKeys, k.laneTypes(l.queue))
			}
			args = append(args, l.typ, strconv.Itoa(l.rank), strconv.Itoa(s))
		}
		keys = append(keys, setKeys...)
		keys = append(keys, k.hooks(), k.done(StateFailed), k.tallies())
		for _, t := range types {
			keys = append(keys, k.typeStarts(t))
		}
		keys = append(keys, k.history())
		tokens[i] = make([]string, cl.want)
		for n := range tokens[i] {
			tokens[i][n] = randomHex(8) + tokenSuffix
			args = append(args, tokens[i][n])
		}
		for _, l := range lanes {
			args = append(args, l.queue)
		}
		args = append(args, k.jobEvents(""), c.watch)
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

// laneSetMin is how many lanes of one queue a claim takes from before it
// asks the queue's lane types set which of them hold jobs: one
// SMISMEMBER, then a read of those only, costs less than reading every
// lane when most are empty (a worker of many types, few of them busy).
const laneSetMin = 3

// laneSets numbers, from 1 in the order of the lanes, the queues whose
// lane types set a claim over lanes asks: those with laneSetMin lanes or
// more in it. Other queues are absent (0).
func laneSets(lanes []claimLane) map[string]int {
	per := map[string]int{}
	for _, l := range lanes {
		per[l.queue]++
	}
	sets := map[string]int{}
	for _, l := range lanes {
		if _, ok := sets[l.queue]; !ok && per[l.queue] >= laneSetMin {
			sets[l.queue] = len(sets) + 1
		}
	}
	return sets
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
