package queue

import (
	"context"
	"slices"
	"sync"
	"time"
)

// leaseQueues remembers the queue registry for the Lease calls that take
// from every queue (LeaseParams.Queues nil), so that a busy worker's call
// costs one round trip (the claim), not two: the registry changes only
// when a queue is first used or forgotten. A call that finds nothing in
// the queues remembered reads the registry again before it answers, so a
// job of a new queue waits at most leaseQueuesAge for its queue to be
// known while older queues have work, and never when they have none.
type leaseQueues struct {
	mu    sync.Mutex
	names []string
	at    time.Time
}

// leaseQueuesAge bounds how long a remembered registry is used.
const leaseQueuesAge = time.Second

// allQueues returns the queue names: remembered when younger than
// leaseQueuesAge (cached), else read (and remembered).
func (c *Client) allQueues(ctx context.Context, fresh bool) (names []string, cached bool, err error) {
	lq := &c.leaseQueues
	lq.mu.Lock()
	names, at := lq.names, lq.at
	lq.mu.Unlock()
	if !fresh && names != nil && time.Since(at) < leaseQueuesAge {
		return names, true, nil
	}
	start := time.Now()
	if names, err = c.queueNames(ctx); err != nil {
		return nil, false, err
	}
	lq.mu.Lock()
	if start.After(lq.at) {
		lq.names, lq.at = names, start
	}
	lq.mu.Unlock()
	return names, false, nil
}

// claimAllQueues claims for p from every queue, ranked as one: by
// priority, then submission order.
func (c *Client) claimAllQueues(ctx context.Context, p LeaseParams, suffix string) ([]*Job, bool, time.Duration, error) {
	names, cached, err := c.allQueues(ctx, false)
	for {
		if err != nil {
			return nil, false, 0, err
		}
		lanes := lanesOf(names, p.Types)
		for i := range lanes {
			lanes[i].rank = 0 // one group
		}
		jobs, seen, wait, err := c.claimLanes(ctx, p.WorkerID, lanes, p.Max, p.Lease, suffix)
		if err != nil || len(jobs) > 0 || !cached {
			return jobs, seen, wait, err
		}
		// Nothing in the queues remembered: one new since may hold some.
		fresh, _, err := c.allQueues(ctx, true)
		if err == nil && slices.Equal(fresh, names) {
			return jobs, seen, wait, nil
		}
		names, cached = fresh, false
	}
}
