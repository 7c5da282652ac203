package queue

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// Maintenance work that any number of processes may run at once: each
// script re-checks what it was handed, so racing runs are harmless.

// maintenanceBatch bounds how many jobs one maintenance script moves.
const maintenanceBatch = 100

// redisNow reads the Redis clock, the one every deadline is measured on:
// on a cluster, the clock of the node holding shard k, which its scripts
// read too.
func (c *Client) redisNow(ctx context.Context, k keyspace) (time.Time, error) {
	node, err := c.nodeOf(ctx, k)
	if err != nil {
		return time.Time{}, err
	}
	t, err := node.Time(ctx).Result()
	return t, storageErr(err)
}

// nodeOf is where the commands about shard k that name none of its keys
// go (TIME, SCAN): on a cluster, the master of the shard's slot, which
// holds every key of the shard; otherwise the client itself.
func (c *Client) nodeOf(ctx context.Context, k keyspace) (redis.Cmdable, error) {
	cc, ok := c.rdb.(*redis.ClusterClient)
	if !ok {
		return c.rdb, nil
	}
	node, err := cc.MasterForKey(ctx, k.counts())
	if err != nil {
		return nil, storageErr(err)
	}
	return node, nil
}

// Promote moves the due scheduled and retrying jobs of one queue to pending.
// It returns how many moved and when the next one falls due (zero if none).
// One round trip reads every shard's earliest due time; only shards with
// something due are promoted.
func (c *Client) Promote(ctx context.Context, queue string) (int, time.Time, error) {
	if len(c.shards) == 1 {
		return c.promoteShard(ctx, c.shards[0], queue)
	}
	pipe := c.rdb.Pipeline()
	heads := make([][2]*redis.ZSliceCmd, len(c.shards))
	for i, k := range c.shards {
		heads[i] = [2]*redis.ZSliceCmd{pipe.ZRangeWithScores(ctx, k.scheduled(queue), 0, 0),
			pipe.ZRangeWithScores(ctx, k.retrying(queue), 0, 0)}
	}
	now := pipe.Time(ctx)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, time.Time{}, storageErr(err)
	}
	total, next := 0, time.Time{}
	for i, k := range c.shards {
		due := false
		for _, h := range heads[i] {
			for _, z := range h.Val() {
				if t := time.UnixMilli(int64(z.Score)); !t.After(now.Val()) {
					due = true
				} else if next.IsZero() || t.Before(next) {
					next = t
				}
			}
		}
		if !due {
			continue
		}
		n, at, err := c.promoteShard(ctx, k, queue)
		total += n
		if err != nil {
			return total, time.Time{}, err
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return total, next, nil
}

// promoteShard is Promote on one shard.
func (c *Client) promoteShard(ctx context.Context, k keyspace, queue string) (int, time.Time, error) {
	total := 0
	for {
		pipe := c.rdb.Pipeline()
		sched := pipe.ZRangeWithScores(ctx, k.scheduled(queue), 0, maintenanceBatch-1)
		retry := pipe.ZRangeWithScores(ctx, k.retrying(queue), 0, maintenanceBatch-1)
		now := pipe.Time(ctx)
		if _, err := pipe.Exec(ctx); err != nil {
			return total, time.Time{}, storageErr(err)
		}
		nowMS := now.Val().UnixMilli()
		var ids []string
		next := int64(0)
		for _, zs := range [][]redis.Z{sched.Val(), retry.Val()} {
			for _, z := range zs {
				if int64(z.Score) <= nowMS {
					ids = append(ids, z.Member.(string))
				} else if next == 0 || int64(z.Score) < next {
					next = int64(z.Score)
				}
			}
		}
		if len(ids) == 0 {
			var nextT time.Time
			if next != 0 {
				nextT = time.UnixMilli(next)
			}
			return total, nextT, nil
		}
		f, err := c.fieldsOfMany(ctx, ids, fType) // to name their lanes
		if err != nil {
			return total, time.Time{}, err
		}
		n, err := c.luaPromote(ctx, k, queue, ids, f[0])
		if err != nil {
			return total, time.Time{}, err
		}
		total += n
		if n == 0 || len(ids) < maintenanceBatch {
			var nextT time.Time
			if next != 0 {
				nextT = time.UnixMilli(next)
			}
			return total, nextT, nil
		}
		// A full page was due: there may be more behind it.
	}
}

// dueShards is the shards whose sorted set index(k) holds something
// scored at or before now - age: with several shards, one round trip reads
// every shard's first entry, so that quiet shards cost nothing more. (The
// clock is one node's; the shard's own pass reads its node's again.)
func (c *Client) dueShards(ctx context.Context, index func(keyspace) string, age time.Duration) ([]keyspace, error) {
	if len(c.shards) == 1 {
		return c.shards, nil
	}
	pipe := c.rdb.Pipeline()
	firsts := make([]*redis.ZSliceCmd, len(c.shards))
	for i, k := range c.shards {
		firsts[i] = pipe.ZRangeWithScores(ctx, index(k), 0, 0)
	}
	now := pipe.Time(ctx)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	cutoff := now.Val().Add(-age).UnixMilli()
	var due []keyspace
	for i, k := range c.shards {
		if zs := firsts[i].Val(); len(zs) == 1 && int64(zs[0].Score) <= cutoff {
			due = append(due, k)
		}
	}
	return due, nil
}

// MaintenanceConfig configures a Maintenance service. Zero fields take
// the defaults.
type MaintenanceConfig struct {
	// Queues are the queues whose due jobs it promotes. Nil means every
	// queue that ever held a job, read again at each pass.
	Queues []string
	// PromoteInterval, ReapInterval and JanitorInterval pace its three
	// tasks (each jittered). Defaults DefaultPromoteInterval,
	// DefaultLeaseTTL/4 and DefaultJanitorInterval: reaping should run a
	// few times per lease of the workers it recovers from.
	PromoteInterval time.Duration
	ReapInterval    time.Duration
	JanitorInterval time.Duration
	// HistoryInterval paces the history's upkeep: the claim of the
	// current minute's sample of the queue depths (one process of the
	// fleet takes each) and the hourly roll-up. Default
	// DefaultHistoryInterval; it bounds how late in its minute a sample
	// may be taken.
	HistoryInterval time.Duration
	// Name names the process in the history's sample claims (a worker
	// passes its id); default the host name and process id.
	Name string
	// Retention says how long finished jobs are kept. Nil means
	// DefaultRetention().
	Retention *Retention
	Logger    *slog.Logger
}

// Maintenance keeps a queue healthy: it promotes due scheduled and
// retrying jobs, fails the waiting jobs past their deadline, reaps expired leases (the jobs of dead workers), expires
// old finished jobs and forgets empty queues. Every Worker runs one for its queues unless
// told not to; one can also run on its own, in a process that runs no
// jobs. Any number may run at once: the scripts re-check
// what they are handed, so racing passes are harmless. It is a service:
// Start it, then Stop it.
type Maintenance struct {
	service
	c   *Client
	cfg MaintenanceConfig
	log *slog.Logger
}

// NewMaintenance builds a Maintenance service on c.
func NewMaintenance(c *Client, cfg MaintenanceConfig) (*Maintenance, error) {
	cfg.PromoteInterval = cmp.Or(cfg.PromoteInterval, DefaultPromoteInterval)
	cfg.ReapInterval = cmp.Or(cfg.ReapInterval, DefaultLeaseTTL/4)
	cfg.JanitorInterval = cmp.Or(cfg.JanitorInterval, DefaultJanitorInterval)
	cfg.HistoryInterval = cmp.Or(cfg.HistoryInterval, DefaultHistoryInterval)
	cfg.Name = cmp.Or(cfg.Name, defaultProcessName())
	if cfg.PromoteInterval < 0 || cfg.ReapInterval < 0 || cfg.JanitorInterval < 0 || cfg.HistoryInterval < 0 {
		return nil, invalidf("maintenance intervals must not be negative")
	}
	if cfg.Retention == nil {
		r := DefaultRetention()
		cfg.Retention = &r
	}
	for _, q := range cfg.Queues {
		if !namePattern.MatchString(q) {
			return nil, invalidf("queue %q: want 1-64 of [A-Za-z0-9_.-]", q)
		}
	}
	log := cmp.Or(cfg.Logger, slog.Default())
	return &Maintenance{c: c, cfg: cfg, log: log}, nil
}

// Start starts the maintenance passes; the first promotion runs at once.
func (m *Maintenance) Start(ctx context.Context) error { return m.start(ctx, nil, m.loop) }

// Stop stops them, once a pass in progress has ended.
func (m *Maintenance) Stop() { m.stop(nil) }

// loop runs each task when its time comes. Each timer is jittered so a
// fleet started together does not run them in lockstep.
func (m *Maintenance) loop(ctx context.Context) {
	// Recovery keeps its own pace: no slow pass of the other tasks (a big
	// expiry, the history's upkeep) may hold back a dead worker's jobs.
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		m.reapLoop(ctx)
	}()
	defer func() { <-reaped }()
	promoteAt := time.Now()
	janitorAt := time.Now().Add(jitter(m.cfg.JanitorInterval))
	historyAt := time.Now()
	for {
		now := time.Now()
		if !now.Before(promoteAt) {
			m.failPastDeadlines(ctx) // before a promotion would make them runnable
			promoteAt = m.promote(ctx, now.Add(jitter(m.cfg.PromoteInterval)))
		}
		if !now.Before(janitorAt) {
			m.expire(ctx)
			janitorAt = now.Add(jitter(m.cfg.JanitorInterval))
		}
		if !now.Before(historyAt) {
			m.history(ctx)
			historyAt = now.Add(jitter(m.cfg.HistoryInterval))
		}
		next := promoteAt
		for _, at := range []time.Time{janitorAt, historyAt} {
			if at.Before(next) {
				next = at
			}
		}
		sleepCtx(ctx, max(time.Until(next), 5*time.Millisecond))
		if ctx.Err() != nil {
			return
		}
	}
}

// reapLoop reaps every ReapInterval (jittered) until ctx ends.
func (m *Maintenance) reapLoop(ctx context.Context) {
	for {
		sleepCtx(ctx, jitter(m.cfg.ReapInterval))
		if ctx.Err() != nil {
			return
		}
		m.reap(ctx)
	}
}

// jitter is d spread over [d/2, 3d/2], so that a fleet's passes do not
// fall together.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)+1))
}

// promote promotes the due jobs of the queues and returns when to promote
// next: at next, or sooner when a job falls due before.
func (m *Maintenance) promote(ctx context.Context, next time.Time) time.Time {
	queues := m.cfg.Queues
	if queues == nil {
		var err error
		if queues, err = m.c.queueNames(ctx); err != nil {
			m.log.Warn("promote failed: cannot list the queues", "err", err)
			return next
		}
	}
	for _, q := range queues {
		n, due, err := m.c.Promote(ctx, q)
		if err != nil {
			m.log.Warn("promote failed", "queue", q, "err", err)
			continue
		}
		if n > 0 {
			m.log.Debug("promoted due jobs", "queue", q, "count", n)
		}
		if !due.IsZero() && due.Before(next) {
			next = due
		}
	}
	return next
}

// failPastDeadlines fails the waiting jobs whose deadline passed.
func (m *Maintenance) failPastDeadlines(ctx context.Context) {
	if n, err := m.c.FailPastDeadlines(ctx); err != nil {
		m.log.Warn("failing jobs past their deadline failed", "err", err)
	} else if n > 0 {
		m.log.Info("jobs failed past their deadline", "count", n)
	}
}

func (m *Maintenance) reap(ctx context.Context) {
	if res, err := m.c.Reap(ctx); err != nil {
		m.log.Warn("reap failed", "err", err)
	} else if res.Recovered+res.Failed > 0 {
		m.log.Info("reaped expired leases", "recovered", res.Recovered, "failed", res.Failed)
	}
}

// history samples the queue depths into the history, once a minute across
// the fleet, and rolls ended hours up.
func (m *Maintenance) history(ctx context.Context) {
	if n, err := m.c.SampleHistory(ctx, m.cfg.Name); err != nil {
		m.log.Warn("sampling the queue depths failed", "err", err)
	} else if n > 0 {
		m.log.Debug("sampled the queue depths into the history", "shards", n)
	}
	if n, err := m.c.RollupHistory(ctx); err != nil {
		m.log.Warn("rolling up the history failed", "err", err)
	} else if n > 0 {
		m.log.Debug("rolled up the history", "hours", n)
	}
}

// expire is the janitor: old finished jobs removed, empty queues
// forgotten.
func (m *Maintenance) expire(ctx context.Context) {
	if n, err := m.c.Expire(ctx, *m.cfg.Retention); err != nil {
		m.log.Warn("janitor failed", "err", err)
	} else if n > 0 {
		m.log.Info("removed expired jobs", "count", n)
	}
	if n, err := m.c.ForgetEmptyQueues(ctx); err != nil {
		m.log.Warn("forgetting empty queues failed", "err", err)
	} else if n > 0 {
		m.log.Debug("forgot empty queues", "count", n)
	}
}
