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
	// OldestPendingAge is how long the job next in line (the head of the
	// pending set: highest priority, then first submitted) has waited
	// since it became runnable, in seconds; 0 when none is pending.
	OldestPendingAge float64
}

// Stats is the queue's state, read in O(queues) without scanning jobs.
type Stats struct {
	// Counts holds the number of jobs in each state.
	Counts map[State]int64
	// Queues breaks the waiting jobs down per queue, sorted by name.
	Queues []QueueStats
	// Running counts running jobs per type.
	RunningByType map[string]int64
}

// Stats reads the per-state counters and the per-queue breakdown, summed
// over the shards: two pipelined round trips (plus one for the heads' ages).
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	pipe := c.rdb.Pipeline()
	counts := make([]*redis.MapStringStringCmd, len(c.shards))
	queues := make([]*redis.StringSliceCmd, len(c.shards))
	types := make([]*redis.MapStringStringCmd, len(c.shards))
	for i, k := range c.shards {
		counts[i] = pipe.HGetAll(ctx, k.counts())
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
	}
	slices.Sort(names)
	names = slices.Compact(names)
	pipe = c.rdb.Pipeline()
	type queueCmds struct {
		cards [3]*redis.IntCmd
		head  *redis.StringSliceCmd
	}
	cmds := make([][]queueCmds, len(names)) // by queue, then shard
	for i, q := range names {
		cmds[i] = make([]queueCmds, len(c.shards))
		for n, k := range c.shards {
			cmds[i][n] = queueCmds{cards: [3]*redis.IntCmd{pipe.ZCard(ctx, k.pending(q)),
				pipe.ZCard(ctx, k.scheduled(q)), pipe.ZCard(ctx, k.retrying(q))},
				head: pipe.ZRange(ctx, k.pending(q), 0, 0)}
		}
	}
	if len(names) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, storageErr(err)
		}
	}
	var heads []string // every shard's head of every queue
	for i, q := range names {
		qs := QueueStats{Name: q}
		for _, qc := range cmds[i] {
			qs.Pending += qc.cards[0].Val()
			qs.Scheduled += qc.cards[1].Val()
			qs.Retrying += qc.cards[2].Val()
			heads = append(heads, qc.head.Val()...)
		}
		st.Queues = append(st.Queues, qs)
	}
	if err := c.headAges(ctx, st.Queues, heads); err != nil {
		return nil, err
	}
	return st, nil
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
