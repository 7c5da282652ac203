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
// jobs of queues (in that order of preference) for workerID, in two round
// trips. It peeks every shard's pending sets in one (peekCandidates),
// ranks the candidates (rankCandidates), and makes one claim.lua call per
// shard with candidates among the first n in the second (claimCalls),
// each call handed all its shard's candidates so it can take the next ones
// when others were taken meanwhile. The jobs come back in rank order.
func (c *Client) claim(ctx context.Context, workerID string, queues []string, n int, lease time.Duration) ([]*Job, error) {
	cands, err := c.peekCandidates(ctx, queues, n)
	if err != nil || len(cands) == 0 {
		return nil, err
	}
	c.rankCandidates(cands)
	calls := claimCalls(cands, queues, n, len(c.shards))
	taken, errs := c.luaClaim(ctx, workerID, lease, calls)
	var jobs []*Job
	var firstErr error
	for i := range calls {
		if errs[i] != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("claim (shard %d): %w", calls[i].shard, errs[i]))
			continue
		}
		jobs = append(jobs, taken[i]...)
	}
	if len(jobs) == 0 && firstErr != nil {
		return nil, firstErr
	}
	if len(calls) > 1 { // in rank order, as one shard's script returns them
		rank := make(map[string]int, len(cands))
		for i, cd := range cands {
			rank[cd.id] = i
		}
		slices.SortFunc(jobs, func(a, b *Job) int { return cmp.Compare(rank[a.ID], rank[b.ID]) })
	}
	return jobs, nil
}

// candidate is a pending job a claim may take, with what ranks it.
type candidate struct {
	queue     int  // index in the claim's queues
	band      int  // priority band (lower first)
	front     bool // put back at the front of its band (recovered, requeued)
	pos, turn int  // place in its shard's line; its shard's turn in this claim
	shard     int
	id        string
}

// peekCandidates reads the head of every pending set of queues in every
// shard, in one round trip: a window larger than n, so that workers
// claiming at the same moment mostly take different jobs instead of
// colliding. One shard needs no ranking (its sets are in run order
// already), so its peek skips the scores.
func (c *Client) peekCandidates(ctx context.Context, queues []string, n int) ([]candidate, error) {
	sharded := len(c.shards) > 1
	window := int64(min(2*n+16, 1000))
	if sharded {
		window = int64(min(n+16, 1000))
	}
	pipe := c.rdb.Pipeline()
	type peek struct {
		ids    *redis.StringSliceCmd
		scored *redis.ZSliceCmd
	}
	peeks := make([][]peek, len(c.shards)) // shard, queue
	for s, k := range c.shards {
		peeks[s] = make([]peek, len(queues))
		for i, q := range queues {
			if sharded {
				peeks[s][i].scored = pipe.ZRangeWithScores(ctx, k.pending(q), 0, window-1)
			} else {
				peeks[s][i].ids = pipe.ZRange(ctx, k.pending(q), 0, window-1)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	var cands []candidate
	start := mrand.IntN(len(c.shards))
	for s := range c.shards {
		for i := range queues {
			if !sharded {
				for _, id := range peeks[s][i].ids.Val() {
					cands = append(cands, candidate{queue: i, id: id})
				}
				continue
			}
			for pos, z := range peeks[s][i].scored.Val() {
				id, _ := z.Member.(string)
				band := math.Round(z.Score / priorityBand) // see pending_score in lua/lib.lua
				cands = append(cands, candidate{queue: i, band: int(band), front: z.Score < band*priorityBand,
					pos: pos, turn: (s - start + len(c.shards)) % len(c.shards), shard: s, id: id})
			}
		}
	}
	return cands, nil
}

// rankCandidates orders candidates across shards: by the queue order,
// then priority (recovered jobs first within it), then by shard, in turn
// from a random one, then by place in the shard's line. Within a priority
// a claim thus takes from as few shards as it can (one script call each;
// spreading every claim over all shards cost 2x the Redis CPU per job),
// each shard stays FIFO, and the random start makes the shards drain at
// the same pace over many claims. One shard's candidates are in order
// already.
func (c *Client) rankCandidates(cands []candidate) {
	if len(c.shards) == 1 {
		return
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.queue, b.queue), cmp.Compare(a.band, b.band),
			-compareBool(a.front, b.front), cmp.Compare(a.turn, b.turn), cmp.Compare(a.pos, b.pos))
	})
}

// claimCalls is one claim.lua call per shard holding some of the first n
// ranked candidates: it asks for as many jobs as the shard holds among
// them, and hands over all the shard's candidates, in rank order.
func claimCalls(cands []candidate, queues []string, n, shards int) []claimCall {
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
				cl.cands = append(cl.cands, claimCandidate{id: cd.id, queue: queues[cd.queue]})
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
