package queue

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shirou/gopsutil/v3/process"
)

// Worker defaults.
const (
	DefaultConcurrency      = 10
	DefaultLeaseTTL         = 15 * time.Second
	MaxLeaseTTL             = 30 * time.Second
	DefaultShutdownTimeout  = 30 * time.Second
	DefaultProgressInterval = 100 * time.Millisecond
	DefaultRetryBaseDelay   = time.Second
	DefaultRetryMaxDelay    = 10 * time.Minute
	DefaultPromoteInterval  = time.Second
	DefaultJanitorInterval  = 30 * time.Second
	// idleBlock is how long an idle worker blocks on its wake lists before
	// it looks again on its own: a safety net, not the pickup path.
	idleBlock = 5 * time.Second
)

// WorkerConfig configures a Worker. Zero fields take the defaults.
type WorkerConfig struct {
	// ID names the worker in the registry and on the jobs it runs.
	// Default host-pid-random.
	ID string
	// Queues maps the queues to take from to their weights. A claim visits
	// queues in a random order drawn by weight (or by descending weight
	// with StrictPriority). Default {"default": 1}.
	Queues         map[string]int
	StrictPriority bool
	// Concurrency is how many jobs run at once. Default DefaultConcurrency.
	Concurrency int
	// LeaseTTL is how long a run holds its job without a heartbeat; a dead
	// worker's jobs run again within about 1.25×LeaseTTL. Default 15 s, at most 30 s.
	LeaseTTL time.Duration
	// ShutdownTimeout is how long Stop lets running jobs finish before it
	// cancels them and puts them back as pending. Default 30 s.
	ShutdownTimeout time.Duration
	// ProgressInterval coalesces progress writes: at most one per run per
	// interval. Default 100 ms.
	ProgressInterval time.Duration
	// RetryBaseDelay and RetryMaxDelay bound the exponential backoff
	// (with jitter) between attempts. Defaults 1 s and 10 min.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// Retention of finished jobs, enforced by the janitor. Zero value:
	// DefaultRetention().
	Retention *Retention
	// TypeLimits sets fleet-wide limits of running jobs per type (written
	// to Redis at start; the last worker started wins).
	TypeLimits map[string]int
	// MaxCPUPercent (host) and MaxMemoryMB (this process's RSS): while
	// either is exceeded the worker takes no new jobs. 0 disables.
	MaxCPUPercent float64
	MaxMemoryMB   float64
	// DisableMaintenance turns off promotion, reaping and the janitor in
	// this worker (some other process must run them).
	DisableMaintenance bool
	// PromoteInterval, ReapInterval and JanitorInterval pace maintenance.
	// Defaults 1 s, LeaseTTL/4 and 30 s.
	PromoteInterval time.Duration
	ReapInterval    time.Duration
	JanitorInterval time.Duration
	Logger          *slog.Logger
}

func (cfg *WorkerConfig) withDefaults() (WorkerConfig, error) {
	c := *cfg
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = fmt.Sprintf("%s-%d-%s", cmp.Or(host, "worker"), os.Getpid(), randomHex(3))
	}
	if len(c.ID) > 128 || strings.ContainsAny(c.ID, "{} \t\n") {
		return c, invalidf("worker id %q: at most 128 bytes, no braces or spaces", c.ID)
	}
	if len(c.Queues) == 0 {
		c.Queues = map[string]int{DefaultQueue: 1}
	}
	for q, w := range c.Queues {
		if !namePattern.MatchString(q) {
			return c, invalidf("queue %q: want 1-64 of [A-Za-z0-9_.-]", q)
		}
		if w <= 0 {
			return c, invalidf("queue %q: weight %d must be positive", q, w)
		}
	}
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	if c.Concurrency < 0 || c.Concurrency > 10000 {
		return c, invalidf("concurrency %d: want 1-10000", c.Concurrency)
	}
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultLeaseTTL)
	if c.LeaseTTL < 100*time.Millisecond || c.LeaseTTL > MaxLeaseTTL {
		return c, invalidf("lease ttl %s: want 100ms-%s", c.LeaseTTL, MaxLeaseTTL)
	}
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	c.ProgressInterval = cmp.Or(c.ProgressInterval, DefaultProgressInterval)
	c.RetryBaseDelay = cmp.Or(c.RetryBaseDelay, DefaultRetryBaseDelay)
	c.RetryMaxDelay = cmp.Or(c.RetryMaxDelay, DefaultRetryMaxDelay)
	if c.Retention == nil {
		r := DefaultRetention()
		c.Retention = &r
	}
	c.PromoteInterval = cmp.Or(c.PromoteInterval, DefaultPromoteInterval)
	c.ReapInterval = cmp.Or(c.ReapInterval, c.LeaseTTL/4)
	c.JanitorInterval = cmp.Or(c.JanitorInterval, DefaultJanitorInterval)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Logger = c.Logger.With("worker", c.ID)
	return c, nil
}

// Causes with which a run's context is cancelled; they decide what the
// worker writes when the handler returns.
var (
	errCancelledByUser = errors.New("job cancelled")
	errRunLeaseLost    = errors.New("lease lost: the job was recovered by another worker")
	errShutdown        = errors.New("worker shutting down")
	errJobTimeout      = errors.New("job timed out")
)

// Worker claims jobs from Redis and runs their handlers. Start it, then
// Stop it; see WorkerConfig for what it does in between.
type Worker struct {
	c   *Client
	mux *Mux
	cfg WorkerConfig
	log *slog.Logger

	mu   sync.Mutex
	runs map[string]*run // by job id
	free chan struct{}   // signalled when a run ends

	fetchCancel context.CancelFunc // stops claiming
	runCtx      context.Context    // parent of every handler context
	runCancel   context.CancelFunc
	loopsCancel context.CancelFunc // stops heartbeat, maintenance, sampler
	fetchDone   chan struct{}
	loops       sync.WaitGroup
	runWG       sync.WaitGroup

	// completions hands finished runs to completeLoop, which closes
	// completerDone when it stops.
	completions   chan *completion
	completerDone chan struct{}

	cancels   channelListener
	beatNow   chan struct{}
	lastBeat  atomic.Int64 // unix ms of the last heartbeat Redis accepted
	throttled atomic.Bool
	cpuPct    atomic.Uint64 // float64 bits: the host's CPU
	ownCPUPct atomic.Uint64 // float64 bits: this process's CPU
	// self is this process, as sample measures it; each worker has its
	// own, since Percent keeps the previous sample unguarded.
	self      *process.Process
	rssMB     atomic.Uint64 // float64 bits
	startedAt time.Time
	started   bool
	stopOnce  sync.Once
}

// NewWorker builds a worker running mux's handlers on jobs from c.
func NewWorker(c *Client, mux *Mux, cfg WorkerConfig) (*Worker, error) {
	full, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Worker{c: c, mux: mux, cfg: full, log: full.Logger,
		runs: make(map[string]*run), free: make(chan struct{}, 1),
		beatNow: make(chan struct{}, 1)}, nil
}

// ID is the worker's id in the registry.
func (w *Worker) ID() string { return w.cfg.ID }

// Start registers the worker and starts its loops. It returns once the
// worker listens for cancels and takes jobs.
func (w *Worker) Start(ctx context.Context) error {
	if w.started {
		return errors.New("worker already started")
	}
	w.startedAt = time.Now()
	for typ, n := range w.cfg.TypeLimits {
		if err := w.c.SetTypeLimit(ctx, typ, n); err != nil {
			return fmt.Errorf("set type limit: %w", err)
		}
	}
	w.sample()
	if err := w.heartbeat(ctx); err != nil {
		return fmt.Errorf("register worker: %w", err)
	}
	w.cancels = channelListener{rdb: w.c.rdb, channel: w.c.keys.cancelChannel(),
		onMessage: func(id string) { w.cancelRun(id, errCancelledByUser) },
		onSubscribed: func(first bool) {
			if !first { // cancels may have been published while we were away
				w.triggerHeartbeat()
			}
		}}
	if err := w.cancels.start(ctx); err != nil {
		return fmt.Errorf("subscribe to cancels: %w", err)
	}
	w.started = true // from here on Stop has something to stop
	base := context.WithoutCancel(ctx)
	w.runCtx, w.runCancel = context.WithCancel(base)
	loopsCtx, loopsCancel := context.WithCancel(base)
	w.loopsCancel = loopsCancel
	fetchCtx, fetchCancel := context.WithCancel(base)
	w.fetchCancel = fetchCancel
	w.fetchDone = make(chan struct{})

	w.completions, w.completerDone = make(chan *completion), make(chan struct{})
	w.goLoop(func() { w.completeLoop(loopsCtx) })
	w.goLoop(func() { w.heartbeatLoop(loopsCtx) })
	w.goLoop(func() { w.samplerLoop(loopsCtx) })
	if !w.cfg.DisableMaintenance {
		w.goLoop(func() { w.maintenanceLoop(loopsCtx) })
	}
	go func() {
		defer close(w.fetchDone)
		w.fetchLoop(fetchCtx)
	}()
	w.log.Info("worker started", "queues", w.cfg.Queues, "concurrency", w.cfg.Concurrency,
		"lease_ttl", w.cfg.LeaseTTL, "types", w.mux.Types())
	return nil
}

func (w *Worker) goLoop(f func()) {
	w.loops.Add(1)
	go func() {
		defer w.loops.Done()
		f()
	}()
}

// Stop shuts the worker down gracefully: it stops taking jobs, lets the
// running ones finish for up to ShutdownTimeout, then cancels the rest and
// puts them back as pending without charging an attempt, and leaves the
// registry. Safe to call more than once.
func (w *Worker) Stop() {
	if !w.started {
		// Nothing runs (Start was not called, or failed): and the Stop
		// of a later, successful Start must still stop it.
		return
	}
	w.stopOnce.Do(func() {
		w.fetchCancel()
		w.wakeSelf()
		<-w.fetchDone

		drained := make(chan struct{})
		go func() { w.runWG.Wait(); close(drained) }()
		timer := time.NewTimer(w.cfg.ShutdownTimeout)
		defer timer.Stop()
		select {
		case <-drained:
		case <-timer.C:
			w.log.Warn("shutdown timeout: cancelling running jobs", "running", w.running())
			for _, r := range w.snapshotRuns() {
				r.cancel(errShutdown)
			}
			// Handlers that ignore their context get a short grace; then
			// their jobs are put back from here and their late writes will
			// be refused.
			select {
			case <-drained:
			case <-time.After(cmp.Or(w.cfg.ShutdownTimeout/10, time.Second)):
				for _, r := range w.snapshotRuns() {
					w.requeue(r)
				}
			}
		}
		w.runCancel()
		w.loopsCancel()
		w.loops.Wait()
		w.cancels.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		pipe := w.c.rdb.Pipeline()
		pipe.Del(ctx, w.c.keys.worker(w.cfg.ID))
		for _, k := range w.c.shards {
			pipe.Del(ctx, k.workerWake(w.cfg.ID))
		}
		pipe.ZRem(ctx, w.c.keys.workers(), w.cfg.ID)
		_, _ = pipe.Exec(ctx)
		w.log.Info("worker stopped")
	})
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

func (w *Worker) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.runs)
}

func (w *Worker) snapshotRuns() []*run {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*run, 0, len(w.runs))
	for _, r := range w.runs {
		out = append(out, r)
	}
	return out
}

func (w *Worker) cancelRun(id string, cause error) {
	w.mu.Lock()
	r := w.runs[id]
	w.mu.Unlock()
	if r != nil {
		r.cancel(cause)
	}
}

// fetchLoop claims jobs while slots are free; with nothing to take it
// blocks on the queues' wake lists, so an idle worker costs Redis one
// blocked connection and picks up a new job as soon as it is submitted.
func (w *Worker) fetchLoop(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		if w.throttled.Load() {
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
		n, err := w.claimAndRun(ctx, free)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("claim failed; backing off", "err", err, "backoff", backoff)
				sleepCtx(ctx, backoff)
				backoff = min(backoff*2, 5*time.Second)
			}
			continue
		}
		backoff = 50 * time.Millisecond
		if n < free {
			if err := w.waitForWork(ctx); err != nil && ctx.Err() == nil {
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

// waitGroups is how the worker's wake lists split into BLPOPs: one on a
// single node; one per shard on a cluster, where a BLPOP stays in a slot.
func (w *Worker) waitGroups() []waitGroup {
	_, cluster := w.c.rdb.(*redis.ClusterClient)
	var groups []waitGroup
	for i, k := range w.c.shards {
		if i == 0 || cluster {
			groups = append(groups, waitGroup{private: k.workerWake(w.cfg.ID)})
		}
		g := &groups[len(groups)-1]
		for q := range w.cfg.Queues {
			g.keys = append(g.keys, k.wake(q))
		}
	}
	for i := range groups {
		groups[i].keys = append(groups[i].keys, groups[i].private)
	}
	return groups
}

// waitForWork blocks until a wake token arrives on one of the worker's
// queues (or its private wake list), or idleBlock passes. On a sharded
// cluster it waits on every shard at once, one BLPOP each; the first to
// return ends the others through their private wake lists, and the queue
// tokens the others took meanwhile go back for other idle workers.
func (w *Worker) waitForWork(ctx context.Context) error {
	groups := w.waitGroups()
	if len(groups) == 1 {
		err := w.c.rdb.BLPop(ctx, idleBlock, groups[0].keys...).Err()
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
			kv, err := w.c.rdb.BLPop(ctx, idleBlock, g.keys...).Result()
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

// claimAndRun claims up to n jobs in two round trips and starts them. It
// peeks a window of candidates larger than n, so that workers claiming at
// the same moment mostly take different jobs instead of colliding.
func (w *Worker) claimAndRun(ctx context.Context, n int) (int, error) {
	jobs, err := w.c.claim(ctx, w.cfg.ID, w.queueOrder(), n, w.cfg.LeaseTTL)
	if err != nil {
		return 0, err
	}
	for _, j := range jobs {
		w.startRun(j)
	}
	return len(jobs), nil
}

// claim is the engine half of claimAndRun: peek every shard's pending
// sets in one round trip, then one claim.lua call per shard with
// candidates, in a second. Across shards, candidates are ranked by the
// queue order, then priority (recovered jobs first within it), then by
// shard, in turn from a random one, then by place in the shard's line:
// within a priority a claim takes from as few shards as it can (one
// script call each; spreading every claim over all shards cost 2x the
// Redis CPU per job), each shard stays FIFO, and the random start makes
// the shards drain at the same pace over many claims. A shard is asked
// for as many jobs as it holds among the first n, and is handed all its
// candidates so it can take the next ones when others were taken meanwhile.
func (c *Client) claim(ctx context.Context, workerID string, queues []string, n int, lease time.Duration) ([]*Job, error) {
	window := int64(min(2*n+16, 1000))
	if len(c.shards) > 1 {
		window = int64(min(n+16, 1000))
	}
	// One shard needs no ranking: its sets are in run order already, so
	// the peek skips the scores.
	sharded := len(c.shards) > 1
	pipe := c.rdb.Pipeline()
	type peek struct {
		ids    *redis.StringSliceCmd
		scored *redis.ZSliceCmd
	}
	peeks := make([][]peek, len(c.shards)) // shard, queue
	for s, k := range c.shards {
		peeks[s] = make([]peek, len(queues))
		for i, q := range queues {
			if sharded {
				peeks[s][i].scored = pipe.ZRangeWithScores(ctx, k.pending(q), 0, window-1)
			} else {
				peeks[s][i].ids = pipe.ZRange(ctx, k.pending(q), 0, window-1)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	type candidate struct {
		queue, band int
		front       bool
		pos, turn   int
		shard       int
		id          string
	}
	var cands []candidate
	start := mrand.IntN(len(c.shards))
	for s := range c.shards {
		for i := range queues {
			if !sharded {
				for _, id := range peeks[s][i].ids.Val() {
					cands = append(cands, candidate{queue: i, id: id})
				}
				continue
			}
			for pos, z := range peeks[s][i].scored.Val() {
				id, _ := z.Member.(string)
				band := math.Round(z.Score / priorityBand) // see pending_score in lua/lib.lua
				cands = append(cands, candidate{queue: i, band: int(band), front: z.Score < band*priorityBand,
					pos: pos, turn: (s - start + len(c.shards)) % len(c.shards), shard: s, id: id})
			}
		}
	}
	if len(cands) == 0 {
		return nil, nil
	}
	if sharded {
		slices.SortFunc(cands, func(a, b candidate) int {
			return cmp.Or(cmp.Compare(a.queue, b.queue), cmp.Compare(a.band, b.band),
				-compareBool(a.front, b.front), cmp.Compare(a.turn, b.turn), cmp.Compare(a.pos, b.pos))
		})
	}
	want := map[int]int{}
	for _, cd := range cands[:min(n, len(cands))] {
		want[cd.shard]++
	}
	calls := make([]scriptCall, 0, len(want))
	shardOf := make([]int, 0, len(want))
	for s, k := range c.shards {
		if want[s] == 0 {
			continue
		}
		keys := []string{k.leases(), k.counts(), k.typeRunning(), k.typeLimits()}
		args := []any{workerID, want[s], lease.Milliseconds(), c.keys.eventsChannel()}
		for _, cd := range cands {
			if cd.shard == s {
				keys = append(keys, k.job(cd.id), k.pending(queues[cd.queue]))
				args = append(args, cd.id, randomHex(8))
			}
		}
		calls = append(calls, scriptCall{keys, args})
		shardOf = append(shardOf, s)
	}
	replies, errs := c.evalMany(ctx, c.scripts.claim, calls)
	var jobs []*Job
	var firstErr error
	for i, res := range replies {
		if errs[i] != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("claim (shard %d): %w", shardOf[i], errs[i]))
			continue
		}
		// {OK, now, id, row, ...}: each row is the job before the claim,
		// in candidate order; args holds each candidate's run token after
		// its id.
		args := calls[i].args
		now, _ := res[1].(string)
		next := 4
		for k := 2; k+1 < len(res); k += 2 {
			id, _ := res[k].(string)
			pairs, _ := res[k+1].([]any)
			for next+2 < len(args) && args[next] != id {
				next += 2
			}
			token, _ := args[next+1].(string)
			jobs = append(jobs, claimedJob(jobFromPairs(id, pairs), workerID, token, msTime(now)))
		}
	}
	if len(jobs) == 0 && firstErr != nil {
		return nil, firstErr
	}
	if len(calls) > 1 { // in rank order, as one shard's script returns them
		rank := make(map[string]int, len(cands))
		for i, cd := range cands {
			rank[cd.id] = i
		}
		slices.SortFunc(jobs, func(a, b *Job) int { return cmp.Compare(rank[a.ID], rank[b.ID]) })
	}
	return jobs, nil
}

// priorityBand is the span of pending scores of one priority (lua/lib.lua
// pending_score): (100 - priority) · priorityBand + sequence, minus half a
// band for a job put back at the front.
const priorityBand = 1e12

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
