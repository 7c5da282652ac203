package queue

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
	cpuPct    atomic.Uint64 // float64 bits
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
