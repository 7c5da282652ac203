package queue

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// CheckInvariants verifies the data model: every per-state counter equals
// the size of its index, every job is in exactly the index of its status,
// the per-type running counters equal the running jobs of each type,
// every job hash is in some index, and every pending callback delivery
// is in its shard's hooks set (none can be lost); of every pipeline, that
// no job left waiting before all its parents completed, that a waiting
// job counts the parents it waits for exactly, and that the pipeline's
// counters and status match its jobs (pipeline_check.go). It returns an
// error listing the first problems found.
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
	st := c.readShard(ctx, k)
	problems := c.checkIndexes(ctx, k, st)
	problems = append(problems, c.checkLanes(ctx, k, st)...)
	problems = append(problems, c.checkTypeCounts(ctx, k, st)...)
	problems = append(problems, c.checkDeliveries(ctx, k, st)...)
	orphans, err := c.checkOrphans(ctx, k, st.seen)
	if err != nil {
		return nil, err
	}
	pipes, err := c.checkPipelines(ctx, k)
	if err != nil {
		return nil, err
	}
	return append(append(problems, orphans...), pipes...), nil
}

// shardState is what checkShard reads of one shard: its counters and the
// ids in each state's index, and (once checkIndexes ran) the state of
// every indexed job.
type shardState struct {
	counts        map[State]int64
	runningByType map[string]int64
	index         map[State][]string
	seen          map[string]State
	lane          map[string][2]string // pending job → its lane's queue and type
}

// readShard reads a shard's counters and indexes, one after another.
func (c *Client) readShard(ctx context.Context, k keyspace) *shardState {
	rdb := c.rdb
	st := &shardState{counts: map[State]int64{}, runningByType: map[string]int64{},
		index: map[State][]string{}, seen: map[string]State{}, lane: map[string][2]string{}}
	for f, v := range rdb.HGetAll(ctx, k.counts()).Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		st.counts[State(f)] = n
	}
	for f, v := range rdb.HGetAll(ctx, k.typeRunning()).Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		st.runningByType[f] = n
	}
	for _, q := range rdb.SMembers(ctx, k.queues()).Val() {
		for _, t := range rdb.SMembers(ctx, k.laneTypes(q)).Val() {
			ids := rdb.ZRange(ctx, k.lane(q, t), 0, -1).Val()
			st.index[StatePending] = append(st.index[StatePending], ids...)
			for _, id := range ids {
				st.lane[id] = [2]string{q, t}
			}
		}
		st.index[StateScheduled] = append(st.index[StateScheduled], rdb.ZRange(ctx, k.scheduled(q), 0, -1).Val()...)
		st.index[StateRetrying] = append(st.index[StateRetrying], rdb.ZRange(ctx, k.retrying(q), 0, -1).Val()...)
	}
	st.index[StateRunning] = rdb.ZRange(ctx, k.leases(), 0, -1).Val()
	st.index[StateWaiting] = rdb.ZRange(ctx, k.waiting(), 0, -1).Val()
	for _, s := range []State{StateCompleted, StateFailed, StateCancelled} {
		st.index[s] = rdb.ZRange(ctx, k.done(s), 0, -1).Val()
	}
	return st
}

// checkIndexes checks that every counter equals the size of its index,
// and every indexed job is in one index only, of its shard, and of its
// status; it records each job's state in st.seen.
func (c *Client) checkIndexes(ctx context.Context, k keyspace, st *shardState) []string {
	var problems []string
	for _, s := range States() {
		if int64(len(st.index[s])) != st.counts[s] {
			problems = append(problems, fmt.Sprintf("counter %s=%d but index holds %d", s, st.counts[s], len(st.index[s])))
		}
		for _, id := range st.index[s] {
			if prev, dup := st.seen[id]; dup {
				problems = append(problems, fmt.Sprintf("job %s in both %s and %s", id, prev, s))
			}
			st.seen[id] = s
			if c.shards.of(id) != k {
				problems = append(problems, fmt.Sprintf("job %s indexed in the wrong shard", id))
			}
			status := c.rdb.HGet(ctx, k.job(id), fStatus).Val()
			if State(status) != s {
				problems = append(problems, fmt.Sprintf("job %s in %s index but status %q", id, s, status))
			}
		}
	}
	return problems
}

// checkLanes checks that every pending job is in the lane of its own
// queue and type.
func (c *Client) checkLanes(ctx context.Context, k keyspace, st *shardState) []string {
	var problems []string
	for id, lane := range st.lane {
		f := c.rdb.HMGet(ctx, k.job(id), fQueue, fType).Val()
		q, _ := f[0].(string)
		t, _ := f[1].(string)
		if cmp.Or(q, DefaultQueue) != lane[0] || t != lane[1] {
			problems = append(problems, fmt.Sprintf("job %s (queue %q, type %q) in the lane of queue %q, type %q",
				id, cmp.Or(q, DefaultQueue), t, lane[0], lane[1]))
		}
	}
	return problems
}

// checkTypeCounts checks that the per-type running counters equal the
// running jobs of each type.
func (c *Client) checkTypeCounts(ctx context.Context, k keyspace, st *shardState) []string {
	byType := map[string]int64{}
	for _, id := range st.index[StateRunning] {
		byType[c.rdb.HGet(ctx, k.job(id), fType).Val()]++
	}
	var problems []string
	for typ, n := range st.runningByType {
		if byType[typ] != n {
			problems = append(problems, fmt.Sprintf("type %s running counter %d, actual %d", typ, n, byType[typ]))
		}
	}
	for typ, n := range byType {
		if st.runningByType[typ] != n {
			problems = append(problems, fmt.Sprintf("type %s running counter %d, actual %d", typ, st.runningByType[typ], n))
		}
	}
	return problems
}

// checkOrphans scans the shard's job hashes for any in no index (seen),
// and its histories and logs for any whose job is gone.
func (c *Client) checkOrphans(ctx context.Context, k keyspace, seen map[string]State) ([]string, error) {
	scanner, err := c.nodeOf(ctx, k) // SCAN reads one node: the shard's
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, s := range []struct {
		pattern string
		problem func(id, key string) string
	}{
		{k.job("*"), func(id, key string) string {
			return fmt.Sprintf("job %s (status %q) is in no index", id, c.rdb.HGet(ctx, key, fStatus).Val())
		}},
		{k.jobEvents("*"), func(id, _ string) string { return fmt.Sprintf("the history of job %s outlives it", id) }},
		{k.log("*"), func(id, _ string) string { return fmt.Sprintf("the log of job %s outlives it", id) }},
	} {
		var cursor uint64
		for {
			keys, next, err := scanner.Scan(ctx, cursor, s.pattern, 500).Result()
			if err != nil {
				return nil, err
			}
			for _, key := range keys {
				id := key[strings.LastIndex(key, ":")+1:]
				if _, ok := seen[id]; !ok {
					problems = append(problems, s.problem(id, key))
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return problems, nil
}

// checkDeliveries checks that every ended job whose callback delivery is
// pending is in the hooks set: due, or claimed under a lease. (The set
// may hold more: entries of jobs deleted since, dropped when claimed.)
func (c *Client) checkDeliveries(ctx context.Context, k keyspace, st *shardState) []string {
	var problems []string
	for id, s := range st.seen {
		if !s.Terminal() {
			continue
		}
		if c.rdb.HGet(ctx, k.job(id), fHookState).Val() != string(DeliveryPending) {
			continue
		}
		if err := c.rdb.ZScore(ctx, k.hooks(), id).Err(); err != nil {
			problems = append(problems, fmt.Sprintf("job %s: callback delivery pending but not in the hooks set", id))
		}
	}
	return problems
}
