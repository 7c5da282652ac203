package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// checkPipelines checks every pipeline of shard k (CheckInvariants): a
// job that is not waiting and not cancelled or failed has all its parents
// completed (none ran early); a waiting job's count of parents it waits
// for is the number of its parents not completed; the pipeline's counters
// of ended jobs and its status match its jobs; an ended pipeline is in
// the set of ended ones, a running one is not.
func (c *Client) checkPipelines(ctx context.Context, k keyspace) ([]string, error) {
	scanner, err := c.nodeOf(ctx, k) // SCAN reads one node: the shard's
	if err != nil {
		return nil, err
	}
	var problems []string
	var cursor uint64
	for {
		keys, next, err := scanner.Scan(ctx, cursor, k.pipeline("*"), 500).Result()
		if err != nil {
			return nil, storageErr(err)
		}
		for _, key := range keys {
			id := key[len(k.pipeline("")):]
			p, err := c.GetPipeline(ctx, id)
			if err != nil {
				return nil, err
			}
			problems = append(problems, c.checkPipeline(ctx, k, p)...)
		}
		if cursor = next; cursor == 0 {
			return problems, nil
		}
	}
}

// checkPipeline checks one pipeline read by GetPipeline.
func (c *Client) checkPipeline(ctx context.Context, k keyspace, p *Pipeline) []string {
	var problems []string
	status := map[string]State{}
	for _, m := range p.Jobs {
		if m.Job == nil {
			problems = append(problems, fmt.Sprintf("pipeline %s: job %s (%s) is gone", p.ID, m.Key, m.ID))
			continue
		}
		status[m.Key] = m.Job.Status
	}
	ended := map[State]int{}
	for _, m := range p.Jobs {
		st, ok := status[m.Key]
		if !ok {
			continue
		}
		if st.Terminal() {
			ended[st]++
		}
		open := 0
		for _, d := range m.DependsOn {
			if status[d] != StateCompleted {
				open++
			}
		}
		switch {
		case st == StateWaiting:
			v, err := c.rdb.HGet(ctx, k.job(m.ID), fWaits).Result()
			if errors.Is(err, redis.Nil) && len(m.DependsOn) == 1 {
				v = "1" // one parent: no count kept
			}
			waits, _ := strconv.Atoi(v)
			if waits != open || open == 0 {
				problems = append(problems, fmt.Sprintf("pipeline %s: job %s waits for %d parents, %d not completed",
					p.ID, m.Key, waits, open))
			}
		case st != StateCancelled && st != StateFailed && open > 0:
			problems = append(problems, fmt.Sprintf("pipeline %s: job %s is %s with %d parents not completed",
				p.ID, m.Key, st, open))
		}
	}
	h, err := c.rdb.HMGet(ctx, k.pipeline(p.ID), "completed", "failed", "cancelled").Result()
	if err != nil {
		return append(problems, fmt.Sprintf("pipeline %s: read its counters: %v", p.ID, err))
	}
	for i, st := range []State{StateCompleted, StateFailed, StateCancelled} {
		s, _ := h[i].(string)
		if n, _ := strconv.Atoi(s); n != ended[st] {
			problems = append(problems, fmt.Sprintf("pipeline %s: counter %s=%d, jobs %d", p.ID, st, n, ended[st]))
		}
	}
	want := PipelineRunning
	if ended[StateCompleted]+ended[StateFailed]+ended[StateCancelled] == len(p.Jobs) {
		switch {
		case ended[StateFailed] > 0:
			want = PipelineFailed
		case ended[StateCancelled] > 0:
			want = PipelineCancelled
		default:
			want = PipelineCompleted
		}
	}
	if p.Status != want {
		problems = append(problems, fmt.Sprintf("pipeline %s is %s, its jobs say %s", p.ID, p.Status, want))
	}
	_, err = c.rdb.ZScore(ctx, k.pipelinesDone(), p.ID).Result()
	if indexed := err == nil; indexed != p.Status.Ended() {
		problems = append(problems, fmt.Sprintf("pipeline %s (%s) in the set of ended ones: %v", p.ID, p.Status, indexed))
	}
	// An ended pipeline's pending delivery is in the hooks set (checkDeliveries).
	if p.Status.Ended() && p.Delivery != nil && p.Delivery.State == DeliveryPending &&
		c.rdb.ZScore(ctx, k.hooks(), pipelineHookPrefix+p.ID).Err() != nil {
		problems = append(problems, fmt.Sprintf("pipeline %s: callback delivery pending but not in the hooks set", p.ID))
	}
	return problems
}
