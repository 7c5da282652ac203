package queue

import (
	"cmp"
	"context"
	"errors"
	"math"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// The worker's fetch loop: it claims jobs while slots are free and, with
// nothing to take, blocks on its queues' wake lists.

// fetchLoop claims jobs while slots are free; with nothing to take it
// blocks on the queues' wake lists, so an idle worker costs Redis one
// blocked connection and picks up a new job as soon as it is submitted.
func (w *Worker) fetchLoop(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if w.sampler.throttled.Load() {
			sleepCtx(ctx, 250*time.Millisecond)
			continue
		}
		free := w.cfg.Concurrency - w.running()
		if free <= 0 {
			select {
			case <-ctx.Done():
			case <-w.free:
				w.gatherFreeSlots(ctx)
			}
			continue
		}
		n, wait, err := w.claimAndRun(ctx, free)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("claim failed; backing off", "err", err, "backoff", backoff)
				sleepCtx(ctx, backoff)
				backoff = min(backoff*2, 5*time.Second)
			}
			continue
		}
		backoff = 50 * time.Millisecond
		switch {
		case n >= free:
		case wait > 0 && wait < time.Second:
			// A type's rate limit holds jobs back for less than a BLPOP
			// can wait (whole seconds): try again then.
			sleepCtx(ctx, wait)
		default:
			if err := w.waitForWork(ctx, min(cmp.Or(wait, idleBlock), idleBlock)); err != nil && ctx.Err() == nil {
				sleepCtx(ctx, backoff)
			}
		}
	}
}

// claimGather is how long a full worker, once a slot frees up, waits for
// more to free up before it claims, so that under load one claim takes
// several jobs instead of one per round trip. An idle worker never waits.
const claimGather = time.Millisecond

// gatherFreeSlots waits up to claimGather, or until half the slots are free.
func (w *Worker) gatherFreeSlots(ctx context.Context) {
	t := time.NewTimer(claimGather)
	defer t.Stop()
	for w.cfg.Concurrency-w.running() < max(w.cfg.Concurrency/2, 1) {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-w.free:
		}
	}
}

// waitGroup is a set of wake lists one BLPOP can wait on (keys of one
// Cluster slot, or of any slots on a single node), with the worker's
// private wake list among them.
type waitGroup struct {
	keys    []string
	private string
}

// waitGroups is how the worker's wake lists — those of the lanes of its
// queues and its handlers' types — split into BLPOPs: one on a single
// node; one per shard on a cluster, where a BLPOP stays in a slot.
func (w *Worker) waitGroups() []waitGroup {
	_, cluster := w.c.rdb.(*redis.ClusterClient)
	types := w.mux.Types()
	var groups []waitGroup
	for i, k := range w.c.shards {
		if i == 0 || cluster {
			groups = append(groups, waitGroup{private: k.workerWake(w.cfg.ID)})
		}
		g := &groups[len(groups)-1]
		for q := range w.cfg.Queues {
			for _, t := range types {
				g.keys = append(g.keys, k.laneWake(q, t))
			}
		}
	}
	for i := range groups {
		groups[i].keys = append(groups[i].keys, groups[i].private)
	}
	return groups
}

// waitForWork blocks until a wake token arrives on one of the worker's
// queues (or its private wake list), or block passes. On a sharded
// cluster it waits on every shard at once, one BLPOP each; the first to
// return ends the others through their private wake lists, and the queue
// tokens the others took meanwhile go back for other idle workers.
func (w *Worker) waitForWork(ctx context.Context, block time.Duration) error {
	if w.testIdle != nil {
		w.testIdle(true)
		defer w.testIdle(false)
	}
	groups := w.waitGroups()
	if len(groups) == 1 {
		err := w.c.rdb.BLPop(ctx, block, groups[0].keys...).Err()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		return storageErr(err)
	}
	type popped struct {
		group int
		kv    []string
		err   error
	}
	results := make(chan popped, len(groups))
	for i, g := range groups {
		go func() {
			kv, err := w.c.rdb.BLPop(ctx, block, g.keys...).Result()
			results <- popped{i, kv, err}
		}()
	}
	first := <-results
	if ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		w.release(rctx, append(slices.Clone(groups[:first.group]), groups[first.group+1:]...))
		cancel()
	}
	var giveBack []string
	for range len(groups) - 1 {
		r := <-results
		if r.err == nil && len(r.kv) == 2 && r.kv[0] != groups[r.group].private {
			giveBack = append(giveBack, r.kv[0])
		}
	}
	if len(giveBack) > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		pipe := w.c.rdb.Pipeline()
		for _, key := range giveBack {
			pipe.LPush(rctx, key, "1")
		}
		_, _ = pipe.Exec(rctx)
		cancel()
	}
	if errors.Is(first.err, redis.Nil) {
		return nil
	}
	return storageErr(first.err)
}

// queueOrder is the order one claim visits the queues in.
func (w *Worker) queueOrder() []string {
	names := make([]string, 0, len(w.cfg.Queues))
	for q := range w.cfg.Queues {
		names = append(names, q)
	}
	slices.Sort(names)
	if w.cfg.StrictPriority || len(names) == 1 {
		slices.SortStableFunc(names, func(a, b string) int { return w.cfg.Queues[b] - w.cfg.Queues[a] })
		return names
	}
	// Weighted random order: key each queue by rand^(1/weight) and sort
	// descending (Efraimidis–Spirakis), so a queue of weight 3 comes first
	// three times as often as one of weight 1.
	keysOf := make(map[string]float64, len(names))
	for _, q := range names {
		keysOf[q] = math.Pow(mrand.Float64(), 1/float64(w.cfg.Queues[q]))
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case keysOf[a] > keysOf[b]:
			return -1
		case keysOf[a] < keysOf[b]:
			return 1
		}
		return 0
	})
	return names
}

// claimAndRun claims up to n jobs of the types it has handlers for (one
// round trip on one shard) and starts them.
func (w *Worker) claimAndRun(ctx context.Context, n int) (int, time.Duration, error) {
	start := time.Now()
	jobs, wait, err := w.c.claimWait(ctx, w.cfg.ID, w.queueOrder(), w.mux.Types(), n, w.cfg.LeaseTTL)
	if err != nil {
		return 0, 0, err
	}
	for _, j := range jobs {
		w.startRun(j, start) // a job of a pipeline reads its inputs when its handler asks
	}
	return len(jobs), wait, nil
}

// wakeSelf ends the fetch loop's blocking wait at once.
func (w *Worker) wakeSelf() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	w.release(ctx, w.waitGroups())
}

// release pushes a token onto the private wake list of each group, which
// ends a blocking wait on it.
func (w *Worker) release(ctx context.Context, groups []waitGroup) {
	pipe := w.c.rdb.Pipeline()
	for _, g := range groups {
		pipe.LPush(ctx, g.private, "stop")
		pipe.PExpire(ctx, g.private, 10*time.Second)
	}
	_, _ = pipe.Exec(ctx)
}
