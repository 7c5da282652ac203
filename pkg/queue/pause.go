package queue

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Pausing a queue. A paused queue's field (pausedField) is set in the
// global type limits hash, the source, and in every shard's copy, which
// claim.lua reads with the type limit it reads anyway: no claim that
// starts after PauseQueue returns takes a job of the queue, Go worker or
// lease, and a claim pays nothing for it while no queue is paused.
// Submissions go on; running jobs finish.

// PauseQueue pauses queue: its jobs stay where they are until
// ResumeQueue. Pausing a paused queue, or one that holds no job yet, is
// fine.
func (c *Client) PauseQueue(ctx context.Context, queue string) error {
	return c.setQueuePaused(ctx, queue, true)
}

// ResumeQueue lets workers take queue's jobs again, and wakes the idle
// workers of its lanes.
func (c *Client) ResumeQueue(ctx context.Context, queue string) error {
	if err := c.setQueuePaused(ctx, queue, false); err != nil {
		return err
	}
	return c.wakeQueue(ctx, queue)
}

func (c *Client) setQueuePaused(ctx context.Context, queue string, paused bool) error {
	if !namePattern.MatchString(queue) {
		return invalidf("queue %q: want 1-64 of [A-Za-z0-9_.-]", queue)
	}
	pipe := c.rdb.Pipeline()
	for _, k := range append(shards{c.keys}, c.shards...) {
		if paused {
			pipe.HSet(ctx, k.typeLimits(), pausedField(queue), "1")
		} else {
			pipe.HDel(ctx, k.typeLimits(), pausedField(queue))
		}
	}
	_, err := pipe.Exec(ctx)
	return storageErr(err)
}

// wakeQueue pushes, on the wake list of each lane of queue, a token per
// pending job (up to the cap), and publishes a lane notice per lane, as a
// submission of them would: idle Go workers and waiting lease calls try
// again.
func (c *Client) wakeQueue(ctx context.Context, queue string) error {
	for _, k := range c.shards {
		types, err := c.rdb.SMembers(ctx, k.laneTypes(queue)).Result()
		if err != nil {
			return storageErr(err)
		}
		if len(types) == 0 {
			continue
		}
		pipe := c.rdb.Pipeline()
		cards := make([]*redis.IntCmd, len(types))
		for i, t := range types {
			cards[i] = pipe.ZCard(ctx, k.lane(queue, t))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return storageErr(err)
		}
		pipe = c.rdb.Pipeline()
		var notices []string
		for i, t := range types {
			if n := min(int(cards[i].Val()), c.wakeCap); n > 0 {
				notices = append(notices, `{"status":"pending","type":"`+t+`","queue":"`+queue+`"}`)
				tokens := make([]any, n)
				for j := range tokens {
					tokens[j] = "1"
				}
				pipe.LPush(ctx, k.laneWake(queue, t), tokens...)
				pipe.LTrim(ctx, k.laneWake(queue, t), 0, int64(c.wakeCap)-1)
			}
		}
		if len(notices) > 0 {
			pipe.Publish(ctx, c.keys.eventsChannel(), "["+strings.Join(notices, ",")+"]")
		}
		if pipe.Len() > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return storageErr(err)
			}
		}
	}
	return nil
}

// PausedQueues lists the paused queues, sorted.
func (c *Client) PausedQueues(ctx context.Context) ([]string, error) {
	fields, err := c.rdb.HGetAll(ctx, c.keys.typeLimits()).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	return controlsOf(fields).paused, nil
}

// claimControls are the claim controls of the global type limits hash.
type claimControls struct {
	paused []string // sorted
}

// controlsOf reads the claim controls from the fields of a type limits hash.
func controlsOf(fields map[string]string) claimControls {
	var ctl claimControls
	for f := range fields {
		if q, ok := strings.CutPrefix(f, pausedPrefix); ok {
			ctl.paused = append(ctl.paused, q)
		}
	}
	slices.Sort(ctl.paused)
	return ctl
}

// QueueInfo is one queue as its operators see it: its waiting jobs and
// whether it is paused (as in Stats), and its running jobs.
type QueueInfo struct {
	QueueStats
	Running int64
	// RateLimited are the types of its pending jobs that wait on their
	// rate limit now (RateState.Waiting).
	RateLimited []string
}

// runningScan bounds the running jobs Queues reads the queue of, per
// shard: past it, the running counts are of the first runningScan.
const runningScan = 10000

// Queues lists every queue — those the registry holds and the paused
// ones — sorted by name. The waiting counts come from Stats; the running
// ones from the running jobs' records (O(running)).
func (c *Client) Queues(ctx context.Context) ([]QueueInfo, error) {
	st, err := c.Stats(ctx)
	if err != nil {
		return nil, err
	}
	running, err := c.runningByQueue(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]QueueInfo, 0, len(st.Queues))
	for _, qs := range st.Queues {
		qi := QueueInfo{QueueStats: qs, Running: running[qs.Name]}
		for _, r := range st.RateLimits {
			if r.Waiting && qs.PendingByType[r.Type] > 0 {
				qi.RateLimited = append(qi.RateLimited, r.Type)
			}
		}
		out = append(out, qi)
		delete(running, qs.Name)
	}
	for q, n := range running { // forgotten by the registry while its last jobs run
		out = append(out, QueueInfo{QueueStats: QueueStats{Name: q}, Running: n})
	}
	slices.SortFunc(out, func(a, b QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// runningByQueue counts the running jobs of each queue: the leases of
// every shard, then their jobs' queues, in two round trips.
func (c *Client) runningByQueue(ctx context.Context) (map[string]int64, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(c.shards))
	for i, k := range c.shards {
		cmds[i] = pipe.ZRange(ctx, k.leases(), 0, runningScan-1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	var ids []string
	for _, cmd := range cmds {
		ids = append(ids, cmd.Val()...)
	}
	out := map[string]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	f, err := c.fieldsOfMany(ctx, ids, fStatus, fQueue)
	if err != nil {
		return nil, err
	}
	for i := range ids {
		if f[0][i] == string(StateRunning) {
			out[cmp.Or(f[1][i], DefaultQueue)]++
		}
	}
	return out, nil
}
