package queue

import (
	"context"
	"fmt"
	"strconv"
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
	var problems []string
	for n, k := range c.shards {
		p, err := c.checkShard(ctx, k)
		if err != nil {
			return err
		}
		for _, msg := range p {
			if len(c.shards) > 1 {
				msg = fmt.Sprintf("shard %d: %s", n, msg)
			}
			problems = append(problems, msg)
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

// checkShard checks one shard's keys; every job hash of the shard must
// belong there (its id's shard).
func (c *Client) checkShard(ctx context.Context, k keyspace) ([]string, error) {
	rdb := c.rdb
	counts := map[State]int64{}
	for f, v := range rdb.HGetAll(ctx, k.counts()).Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		counts[State(f)] = n
	}
	runningByType := map[string]int64{}
	for f, v := range rdb.HGetAll(ctx, k.typeRunning()).Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		runningByType[f] = n
	}
	queues := rdb.SMembers(ctx, k.queues()).Val()
	index := map[State][]string{}
	for _, q := range queues {
		index[StatePending] = append(index[StatePending], rdb.ZRange(ctx, k.pending(q), 0, -1).Val()...)
		index[StateScheduled] = append(index[StateScheduled], rdb.ZRange(ctx, k.scheduled(q), 0, -1).Val()...)
		index[StateRetrying] = append(index[StateRetrying], rdb.ZRange(ctx, k.retrying(q), 0, -1).Val()...)
	}
	index[StateRunning] = rdb.ZRange(ctx, k.leases(), 0, -1).Val()
	for _, s := range []State{StateCompleted, StateFailed, StateCancelled} {
		index[s] = rdb.ZRange(ctx, k.done(s), 0, -1).Val()
	}
	var problems []string
	seen := map[string]State{}
	for _, s := range States() {
		if int64(len(index[s])) != counts[s] {
			problems = append(problems, fmt.Sprintf("counter %s=%d but index holds %d", s, counts[s], len(index[s])))
		}
		for _, id := range index[s] {
			if prev, dup := seen[id]; dup {
				problems = append(problems, fmt.Sprintf("job %s in both %s and %s", id, prev, s))
			}
			seen[id] = s
			if c.shards.of(id) != k {
				problems = append(problems, fmt.Sprintf("job %s indexed in the wrong shard", id))
			}
			status := rdb.HGet(ctx, k.job(id), fStatus).Val()
			if State(status) != s {
				problems = append(problems, fmt.Sprintf("job %s in %s index but status %q", id, s, status))
			}
		}
	}
	// Per-type running counts equal the running jobs of each type.
	byType := map[string]int64{}
	for _, id := range index[StateRunning] {
		byType[rdb.HGet(ctx, k.job(id), fType).Val()]++
	}
	for typ, n := range runningByType {
		if byType[typ] != n {
			problems = append(problems, fmt.Sprintf("type %s running counter %d, actual %d", typ, n, byType[typ]))
		}
	}
	for typ, n := range byType {
		if runningByType[typ] != n {
			problems = append(problems, fmt.Sprintf("type %s running counter %d, actual %d", typ, runningByType[typ], n))
		}
	}
	// Every job hash is in some index.
	var scanner redis.Cmdable = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		// SCAN reads one node: on a cluster, scan the master of the
		// shard's slot, which holds every key of the shard.
		var err error
		if scanner, err = cc.MasterForKey(ctx, k.counts()); err != nil {
			return nil, err
		}
	}
	var cursor uint64
	for {
		keys, next, err := scanner.Scan(ctx, cursor, k.job("*"), 500).Result()
		if err != nil {
			return nil, err
		}
		for _, key := range keys {
			id := key[strings.LastIndex(key, ":")+1:]
			if _, ok := seen[id]; !ok {
				problems = append(problems, fmt.Sprintf("job %s (status %q) is in no index", id, rdb.HGet(ctx, key, fStatus).Val()))
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return problems, nil
}
