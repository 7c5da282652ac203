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
// workerID, in two round trips. It peeks the heads of the lanes (queues ×
// types) of every shard in one (peekCandidates), ranks the candidates
// (rankCandidates), and makes one claim.lua call per shard with
// candidates among the first n in the second (claimCalls), each call
// handed all its shard's candidates so it can take the next ones when
// others were taken meanwhile. The jobs come back in rank order.
func (c *Client) claim(ctx context.Context, workerID string, queues []string, types []string, n int, lease time.Duration) ([]*Job, error) {
	jobs, _, err := c.claimLanes(ctx, workerID, lanesOf(queues, types), n, lease, "")
	return jobs, err
}

// claimLane is one lane a claim peeks: a queue, a type, and the rank of
// the queue in the claim's order of preference (lanes of equal rank are
// merged by priority and submission order).
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

// claimLanes is claim over explicit lanes, each run token ending in
// tokenSuffix. seen reports that it found candidates, taken or not: none
// taken of some seen means other claimers took them meanwhile, or a type
// is at its running limit.
func (c *Client) claimLanes(ctx context.Context, workerID string, lanes []claimLane, n int, lease time.Duration, tokenSuffix string) (jobs []*Job, seen bool, err error) {
	if len(lanes) == 0 || n <= 0 {
		return nil, false, nil
	}
	cands, err := c.peekCandidates(ctx, lanes, n)
	if err != nil || len(cands) == 0 {
		return nil, false, err
	}
	if len(lanes) > 1 || len(c.shards) > 1 {
		rankCandidates(cands)
	}
	calls := claimCalls(cands, lanes, n, len(c.shards))
	taken, errs := c.luaClaim(ctx, workerID, lease, tokenSuffix, calls)
	var firstErr error
	for i := range calls {
		if errs[i] != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("claim (shard %d): %w", calls[i].shard, errs[i]))
			continue
		}
		jobs = append(jobs, taken[i]...)
	}
	if len(jobs) == 0 && firstErr != nil {
		return nil, true, firstErr
	}
	if len(calls) > 1 { // in rank order, as one shard's script returns them
		rank := make(map[string]int, len(cands))
		for i, cd := range cands {
			rank[cd.id] = i
		}
		slices.SortFunc(jobs, func(a, b *Job) int { return cmp.Compare(rank[a.ID], rank[b.ID]) })
	}
	return jobs, true, nil
}

// candidate is a pending job a claim may take, with what ranks it.
type candidate struct {
	lane  int     // index in the claim's lanes
	rank  int     // its queue's rank in the claim
	band  int     // priority band (lower first)
	front bool    // put back at the front of its band (recovered, requeued)
	turn  int     // its shard's turn in this claim
	score float64 // its place in its shard's line
	shard int
	id    string
}

// peekCandidates reads the head of every lane in every shard, in one
// round trip: a window larger than n, so that workers claiming at the
// same moment mostly take different jobs instead of colliding. A lane
// with nothing in it costs Redis a lookup of a missing key. One shard and
// one lane need no ranking (a lane is in run order already), so that peek
// skips the scores.
func (c *Client) peekCandidates(ctx context.Context, lanes []claimLane, n int) ([]candidate, error) {
	scored := len(c.shards) > 1 || len(lanes) > 1
	window := int64(min(2*n+16, 1000))
	if len(c.shards) > 1 {
		window = int64(min(n+16, 1000))
	}
	pipe := c.rdb.Pipeline()
	type peek struct {
		ids    *redis.StringSliceCmd
		scored *redis.ZSliceCmd
	}
	peeks := make([][]peek, len(c.shards)) // shard, lane
	for s, k := range c.shards {
		peeks[s] = make([]peek, len(lanes))
		for i, l := range lanes {
			if scored {
				peeks[s][i].scored = pipe.ZRangeWithScores(ctx, k.lane(l.queue, l.typ), 0, window-1)
			} else {
				peeks[s][i].ids = pipe.ZRange(ctx, k.lane(l.queue, l.typ), 0, window-1)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	var cands []candidate
	start := mrand.IntN(len(c.shards))
	for s := range c.shards {
		for i, l := range lanes {
			if !scored {
				for _, id := range peeks[s][i].ids.Val() {
					cands = append(cands, candidate{lane: i, id: id})
				}
				continue
			}
			for _, z := range peeks[s][i].scored.Val() {
				id, _ := z.Member.(string)
				band := math.Round(z.Score / priorityBand) // see pending_score in lua/lib.lua
				cands = append(cands, candidate{lane: i, rank: l.rank, band: int(band),
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
// ranked candidates: it asks for as many jobs as the shard holds among
// them, and hands over all the shard's candidates, in rank order.
func claimCalls(cands []candidate, lanes []claimLane, n, shards int) []claimCall {
	want := make([]int, shards)
	for _, cd := range cands[:min(n, len(cands))] {
		want[cd.shard]++
	}
	var calls []claimCall
	for s := range shards {
		if want[s] == 0 {
			continue
		}
		cl := claimCall{shard: s, want: want[s]}
		for _, cd := range cands {
			if cd.shard == s {
				l := lanes[cd.lane]
				cl.cands = append(cl.cands, claimCandidate{id: cd.id, queue: l.queue, typ: l.typ})
			}
		}
		calls = append(calls, cl)
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
