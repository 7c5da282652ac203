package queue

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// CheckInvariants verifies the data model: every per-state counter equals
// the size of its index, every job is in exactly the index of its status,
// the per-type running counters equal the running jobs of each type, and
// every job hash is in some index. It returns an error listing the first
// problems found.
//
// It reads the indexes one after another and scans every job key, so it is
// exact only while nothing moves jobs, and costs O(jobs): it is for tests
// and for an operator checking a quiet queue, not for a hot path.
func (c *Client) CheckInvariants(ctx context.Context) error {
	st, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	rdb := c.rdb
	queues := rdb.SMembers(ctx, c.keys.queues()).Val()
	index := map[State][]string{}
	for _, q := range queues {
		index[StatePending] = append(index[StatePending], rdb.ZRange(ctx, c.keys.pending(q), 0, -1).Val()...)
		index[StateScheduled] = append(index[StateScheduled], rdb.ZRange(ctx, c.keys.scheduled(q), 0, -1).Val()...)
		index[StateRetrying] = append(index[StateRetrying], rdb.ZRange(ctx, c.keys.retrying(q), 0, -1).Val()...)
	}
	index[StateRunning] = rdb.ZRange(ctx, c.keys.leases(), 0, -1).Val()
	for _, s := range []State{StateCompleted, StateFailed, StateCancelled} {
		index[s] = rdb.ZRange(ctx, c.keys.done(s), 0, -1).Val()
	}
	var problems []string
	seen := map[string]State{}
	for _, s := range States() {
		if int64(len(index[s])) != st.Counts[s] {
			problems = append(problems, fmt.Sprintf("counter %s=%d but index holds %d", s, st.Counts[s], len(index[s])))
		}
		for _, id := range index[s] {
			if prev, dup := seen[id]; dup {
				problems = append(problems, fmt.Sprintf("job %s in both %s and %s", id, prev, s))
			}
			seen[id] = s
			status := rdb.HGet(ctx, c.keys.job(id), fStatus).Val()
			if State(status) != s {
				problems = append(problems, fmt.Sprintf("job %s in %s index but status %q", id, s, status))
			}
		}
	}
	// Per-type running counts equal the running jobs of each type.
	byType := map[string]int64{}
	for _, id := range index[StateRunning] {
		byType[rdb.HGet(ctx, c.keys.job(id), fType).Val()]++
	}
	for typ, n := range st.RunningByType {
		if byType[typ] != n {
			problems = append(problems, fmt.Sprintf("type %s running counter %d, actual %d", typ, n, byType[typ]))
		}
	}
	for typ, n := range byType {
		if st.RunningByType[typ] != n {
			problems = append(problems, fmt.Sprintf("type %s running counter %d, actual %d", typ, st.RunningByType[typ], n))
		}
	}
	// Every job hash is in some index.
	var scanner redis.Cmdable = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		// SCAN reads one node: on a cluster, scan the master of the
		// prefix's slot, which holds every key of the prefix.
		if scanner, err = cc.MasterForKey(ctx, c.keys.counts()); err != nil {
			return err
		}
	}
	var cursor uint64
	for {
		keys, next, err := scanner.Scan(ctx, cursor, c.keys.job("*"), 500).Result()
		if err != nil {
			return err
		}
		for _, k := range keys {
			id := k[strings.LastIndex(k, ":")+1:]
			if _, ok := seen[id]; !ok {
				problems = append(problems, fmt.Sprintf("job %s (status %q) is in no index", id, rdb.HGet(ctx, k, fStatus).Val()))
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if len(problems) > 0 {
		if len(problems) > 10 {
			problems = problems[:10]
		}
		return fmt.Errorf("invariants broken:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}
