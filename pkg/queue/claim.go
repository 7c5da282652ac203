package queue

import (
	"cmp"
	"context"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// claim is the engine half of a worker's claimAndRun: it takes up to n
// jobs of the given types from queues (in that order of preference) for
// workerID. claim.lua chooses the jobs itself, from the heads of the
// lanes (queues × types), so on one shard a claim is one script call in
// one round trip. Sharded, a first round trip peeks every shard's lane
// heads (peekCandidates) and ranks them (rankCandidates) only to decide
// how many jobs to take from each shard (claimCalls); the jobs come back
// in rank order.
func (c *Client) claim(ctx context.Context, workerID string, queues []string, types []string, n int, lease time.Duration) ([]*Job, error) {
	jobs, _, err := c.claimWait(ctx, workerID, queues, types, n, lease)
	return jobs, err
}

// claimWait is claim, telling also how long until a type its rate limit
// held back may start a job again (0: none was held back).
func (c *Client) claimWait(ctx context.Context, workerID string, queues []string, types []string, n int, lease time.Duration) ([]*Job, time.Duration, error) {
	jobs, _, wait, err := c.claimLanes(ctx, workerID, lanesOf(queues, types), n, lease, "")
	return jobs, wait, err
}

// claimLane is one lane a claim takes from: a queue, a type, and the rank
// of the queue in the claim's order of preference (lanes of equal rank
// are merged by priority and submission order).
type claimLane struct {
	queue, typ string
	rank       int
}

// lanesOf is the lanes of queues × types, each queue ranked by its place.
func lanesOf(queues, types []string) []claimLane {
	lanes := make([]claimLane, 0, len(queues)*len(types))
	for i, q := range queues {
		for _, t := range types {
			lanes = append(lanes, claimLane{queue: q, typ: t, rank: i})
		}
	}
	return lanes
}

// claimLanes is claim over explicit lanes (in rank order), each run token
// ending in tokenSuffix. seen reports that it found jobs it could not
// take: their type is at its running limit, or (sharded) other claimers
// took them meanwhile. wait, when not 0, is how long until a type its
// rate limit held back may start a job again.
func (c *Client) claimLanes(ctx context.Context, workerID string, lanes []claimLane, n int, lease time.Duration, tokenSuffix string) (jobs []*Job, seen bool, wait time.Duration, err error) {
	if len(lanes) == 0 || n <= 0 {
		return nil, false, 0, nil
	}
	calls := []claimCall{{shard: 0, want: n}}
	var cands []candidate
	if len(c.shards) > 1 {
		if cands, err = c.peekCandidates(ctx, lanes, n); err != nil || len(cands) == 0 {
			return nil, false, 0, err
		}
		rankCandidates(cands)
		calls = claimCalls(cands, n, len(c.shards))
		seen = true
	}
	replies, errs := c.luaClaim(ctx, workerID, lease, tokenSuffix, lanes, calls)
	var firstErr error
	for i := range calls {
		if errs[i] != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("claim (shard %d): %w", calls[i].shard, errs[i]))
			continue
		}
		jobs = append(jobs, replies[i].jobs...)
		seen = seen || replies[i].blocked
		if w := replies[i].wait; w > 0 && (wait == 0 || w < wait) {
			wait = w
		}
	}
	if len(jobs) == 0 && firstErr != nil {
		return nil, seen, wait, firstErr
	}
	// The edges of jobs of pipelines, for their inputs and completions;
	// should the read fail, those read them again when they need them.
	_ = c.withEdges(ctx, jobs)
	if len(calls) > 1 { // in rank order, as one shard's script returns them
		rank := make(map[string]int, len(cands))
		for i, cd := range cands {
			rank[cd.id] = i
		}
		at := func(id string) int {
			if r, ok := rank[id]; ok {
				return r
			}
			return len(cands) // taken past the peeked ones
		}
		slices.SortStableFunc(jobs, func(a, b *Job) int { return cmp.Compare(at(a.ID), at(b.ID)) })
	}
	return jobs, seen, wait, nil
}

// candidate is a pending job a claim may take, with what ranks it.
type candidate struct {
	rank  int     // its queue's rank in the claim
	band  int     // priority band (lower first)
	front bool    // put back at the front of its band (recovered, requeued)
	turn  int     // its shard's turn in this claim
	score float64 // its place in its shard's line
	shard int
	id    string
}

// peekCandidates reads the heads of every lane of every shard, with
// their scores, in one round trip: n of each, enough for a claim of n to
// learn how many of the first n each shard holds. A lane with nothing in
// it costs Redis a lookup of a missing key.
func (c *Client) peekCandidates(ctx context.Context, lanes []claimLane, n int) ([]candidate, error) {
	pipe := c.rdb.Pipeline()
	peeks := make([][]*redis.ZSliceCmd, len(c.shards)) // shard, lane
	for s, k := range c.shards {
		peeks[s] = make([]*redis.ZSliceCmd, len(lanes))
		for i, l := range lanes {
			peeks[s][i] = pipe.ZRangeWithScores(ctx, k.lane(l.queue, l.typ), 0, int64(n-1))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	var cands []candidate
	start := mrand.IntN(len(c.shards))
	for s := range c.shards {
		for i, l := range lanes {
			for _, z := range peeks[s][i].Val() {
				id, _ := z.Member.(string)
				band := math.Round(z.Score / priorityBand) // see pending_score in lua/lib.lua
				cands = append(cands, candidate{rank: l.rank, band: int(band),
					front: z.Score < band*priorityBand, score: z.Score,
					turn: (s - start + len(c.shards)) % len(c.shards), shard: s, id: id})
			}
		}
	}
	return cands, nil
}

// rankCandidates orders candidates across lanes and shards: by the queue
// order, then priority (recovered jobs first within it), then by shard,
// in turn from a random one, then by place in the shard's line (lanes of
// one shard share its sequence, so they merge in submission order).
// Within a priority a claim thus takes from as few shards as it can (one
// script call each; spreading every claim over all shards cost 2x the
// Redis CPU per job), each shard stays FIFO, and the random start makes
// the shards drain at the same pace over many claims.
func rankCandidates(cands []candidate) {
	slices.SortStableFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.band, b.band),
			-compareBool(a.front, b.front), cmp.Compare(a.turn, b.turn), cmp.Compare(a.score, b.score))
	})
}

// claimCalls is one claim.lua call per shard holding some of the first n
// ranked candidates, asking for as many jobs as the shard holds among
// them: the script takes that many from the shard's lanes in their run
// order, which is the ranking's within a shard, and the next ones when
// others took some meanwhile.
func claimCalls(cands []candidate, n, shards int) []claimCall {
	want := make([]int, shards)
	for _, cd := range cands[:min(n, len(cands))] {
		want[cd.shard]++
	}
	var calls []claimCall
	for s := range shards {
		if want[s] > 0 {
			calls = append(calls, claimCall{shard: s, want: want[s]})
		}
	}
	return calls
}

// priorityBand is the span of pending scores of one priority (lua/lib.lua
// pending_score): (100 - priority) · priorityBand + sequence, minus half a
// band for a job put back at the front.
const priorityBand = 1e12

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
