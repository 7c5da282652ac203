package queue

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// queueNames lists, sorted, every queue any shard has held a job of.
func (c *Client) queueNames(ctx context.Context) ([]string, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(c.shards))
	for i, k := range c.shards {
		cmds[i] = pipe.SMembers(ctx, k.queues())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	var names []string
	for _, cmd := range cmds {
		names = append(names, cmd.Val()...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// QueueStats is one queue's share of the jobs waiting.
type QueueStats struct {
	Name      string
	Pending   int64
	Scheduled int64
	Retrying  int64
	// OldestPendingAge is how long the job next in line (the head of its
	// lanes: highest priority, then first submitted) has waited
	// since it became runnable, in seconds; 0 when none is pending.
	OldestPendingAge float64
	// Paused: no worker takes the queue's jobs (PauseQueue).
	Paused bool
	// PendingByType breaks Pending down by type (its lanes).
	PendingByType map[string]int64
}

// Stats is the queue's state, read in O(queues) without scanning jobs.
type Stats struct {
	// Counts holds the number of jobs in each state.
	Counts map[State]int64
	// Queues breaks the waiting jobs down per queue, sorted by name.
	Queues []QueueStats
	// Running counts running jobs per type.
	RunningByType map[string]int64
	// DeadlineExceeded counts the jobs failed because their deadline
	// passed before they started; TimedOut the runs the reaper ended at
	// their job's timeout (lease runs; a Go worker fails its own). Since
	// the queue was created, fleet-wide.
	DeadlineExceeded, TimedOut int64
	// RateLimits are the types' rate limits and how they stand, by type.
	RateLimits []RateState
}

// Stats reads the per-state counters and the per-queue breakdown, summed
// over the shards, and the claim controls (paused queues): three
// pipelined round trips (plus one for the heads' ages), O(lanes).
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	pipe := c.rdb.Pipeline()
	counts := make([]*redis.MapStringStringCmd, len(c.shards))
	queues := make([]*redis.StringSliceCmd, len(c.shards))
	types := make([]*redis.MapStringStringCmd, len(c.shards))
	tallies := make([]*redis.SliceCmd, len(c.shards))
	controls := pipe.HGetAll(ctx, c.keys.typeLimits())
	for i, k := range c.shards {
		counts[i] = pipe.HGetAll(ctx, k.counts())
		tallies[i] = pipe.HMGet(ctx, k.tallies(), "deadline_exceeded", "timed_out")
		queues[i] = pipe.SMembers(ctx, k.queues())
		types[i] = pipe.HGetAll(ctx, k.typeRunning())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	st := &Stats{Counts: make(map[State]int64), RunningByType: make(map[string]int64)}
	for _, s := range States() {
		st.Counts[s] = 0
	}
	var names []string
	for i := range c.shards {
		for f, v := range counts[i].Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			st.Counts[State(f)] += n
		}
		for f, v := range types[i].Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			if n != 0 {
				st.RunningByType[f] += n
			}
		}
		names = append(names, queues[i].Val()...)
		vals := tallies[i].Val()
		st.DeadlineExceeded += intOf(vals, 0)
		st.TimedOut += intOf(vals, 1)
	}
	ctl := controlsOf(controls.Val())
	names = append(names, ctl.paused...)
	slices.Sort(names)
	names = slices.Compact(names)
	qstats, heads, err := c.queueBreakdown(ctx, names)
	if err != nil {
		return nil, err
	}
	pendingByType := map[string]int64{}
	for i := range qstats {
		qstats[i].Paused = slices.Contains(ctl.paused, qstats[i].Name)
		for t, n := range qstats[i].PendingByType {
			pendingByType[t] += n
		}
	}
	st.Queues = qstats
	if st.RateLimits, err = c.rateStates(ctx, ratesOf(controls.Val()), pendingByType); err != nil {
		return nil, err
	}
	if err := c.headAges(ctx, st.Queues, heads); err != nil {
		return nil, err
	}
	return st, nil
}

// queueBreakdown reads the waiting jobs of each queue of names, summed
// over its lanes and the shards, in two round trips (its lanes' types,
// then their sizes and heads), and the job next in line in each shard
// and queue (the lowest score of its lanes' heads).
func (c *Client) queueBreakdown(ctx context.Context, names []string) ([]QueueStats, []string, error) {
	if len(names) == 0 {
		return nil, nil, nil
	}
	pipe := c.rdb.Pipeline()
	type queueCmds struct {
		lanes *redis.StringSliceCmd
		cards [2]*redis.IntCmd
	}
	cmds := make([][]queueCmds, len(names)) // by queue, then shard
	for i, q := range names {
		cmds[i] = make([]queueCmds, len(c.shards))
		for n, k := range c.shards {
			cmds[i][n] = queueCmds{lanes: pipe.SMembers(ctx, k.laneTypes(q)),
				cards: [2]*redis.IntCmd{pipe.ZCard(ctx, k.scheduled(q)), pipe.ZCard(ctx, k.retrying(q))}}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, storageErr(err)
	}
	pipe = c.rdb.Pipeline()
	type laneCmds struct {
		typ  string
		card *redis.IntCmd
		head *redis.ZSliceCmd
	}
	lanes := make([][][]laneCmds, len(names)) // by queue, shard, lane
	for i, q := range names {
		lanes[i] = make([][]laneCmds, len(c.shards))
		for n, k := range c.shards {
			for _, t := range cmds[i][n].lanes.Val() {
				lanes[i][n] = append(lanes[i][n], laneCmds{typ: t, card: pipe.ZCard(ctx, k.lane(q, t)),
					head: pipe.ZRangeWithScores(ctx, k.lane(q, t), 0, 0)})
			}
		}
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, nil, storageErr(err)
		}
	}
	var out []QueueStats
	var heads []string // every shard's next in line of every queue
	for i, q := range names {
		qs := QueueStats{Name: q, PendingByType: map[string]int64{}}
		for n := range c.shards {
			qs.Scheduled += cmds[i][n].cards[0].Val()
			qs.Retrying += cmds[i][n].cards[1].Val()
			var head *redis.Z
			for _, l := range lanes[i][n] {
				qs.Pending += l.card.Val()
				if l.card.Val() > 0 {
					qs.PendingByType[l.typ] += l.card.Val()
				}
				if zs := l.head.Val(); len(zs) == 1 && (head == nil || zs[0].Score < head.Score) {
					head = &zs[0]
				}
			}
			if head != nil {
				id, _ := head.Member.(string)
				heads = append(heads, id)
			}
		}
		out = append(out, qs)
	}
	return out, heads, nil
}

// headAges fills each queue's OldestPendingAge from the jobs at the heads
// of its pending sets (one per shard): one pipelined read of their times.
func (c *Client) headAges(ctx context.Context, qs []QueueStats, heads []string) error {
	if len(heads) == 0 {
		return nil
	}
	pipe := c.rdb.Pipeline()
	times := make([]*redis.SliceCmd, len(heads))
	for i, id := range heads {
		times[i] = pipe.HMGet(ctx, c.shards.of(id).job(id), fQueue, fCreatedAt, fRunAt)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return storageErr(err)
	}
	now := time.Now()
	oldest := map[string]float64{}
	for _, t := range times {
		vals := t.Val()
		if len(vals) != 3 {
			continue
		}
		q, _ := vals[0].(string)
		q = cmp.Or(q, DefaultQueue)
		var since time.Time // runnable since: run_at when it was scheduled, else created_at
		for _, v := range vals[1:] {
			if s, ok := v.(string); ok {
				if t := msTime(s); t.After(since) {
					since = t
				}
			}
		}
		if !since.IsZero() {
			oldest[q] = max(oldest[q], now.Sub(since).Seconds())
		}
	}
	for i := range qs {
		qs[i].OldestPendingAge = oldest[qs[i].Name]
	}
	return nil
}

// intOf is the integer at vals[i] of an HMGET reply; 0 when absent.
func intOf(vals []any, i int) int64 {
	if i >= len(vals) {
		return 0
	}
	s, _ := vals[i].(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
