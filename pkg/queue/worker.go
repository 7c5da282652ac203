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
	"slices"
	"strings"
	"sync"
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
	DefaultHistoryInterval  = 5 * time.Second
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
	// Concurrency is how many handlers run at once. Default
	// DefaultConcurrency. A run's slot frees up when its handler returns:
	// the next claim overlaps the writing of its outcome, so a worker may
	// hold up to twice Concurrency jobs running in Redis for a moment.
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
	// RateLimits sets fleet-wide rate limits per type (written to Redis
	// at start, as TypeLimits).
	RateLimits []TypeRate
	// MaxCPUPercent (host) and MaxMemoryMB (this process's RSS): while
	// either is exceeded the worker takes no new jobs. 0 disables.
	MaxCPUPercent float64
	MaxMemoryMB   float64
	// DisableMaintenance turns off promotion, reaping, the janitor and
	// the firing of schedules (Scheduler) in this worker (some other
	// process must run them).
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
	// handlers counts the runs whose handler has not returned (slots).
	handlers int
	free     chan struct{} // signalled when a slot frees up
	// runq hands a run to an idle runner goroutine (run.go runner).
	runq chan *run

	runCtx    context.Context // parent of every handler context
	runCancel context.CancelFunc
	runWG     sync.WaitGroup

	// The worker's background services (service.go): fetch claims jobs;
	// the others are in their files. maintenance and scheduler are nil
	// when maintenance is disabled.
	fetch       service
	completer   *completer
	progress    *progressWriter
	logs        *logWriter
	heartbeat   *heartbeat
	sampler     *sampler
	maintenance *Maintenance
	scheduler   *Scheduler
	cancels     channelListener
	startedAt   time.Time

	// life serialises Start and Stop; started and stopped are what they did.
	life             sync.Mutex
	started, stopped bool

	// testIdle, when set (by a test, before Start), is called with true
	// when the fetch loop is about to block on the wake lists, idle, and
	// with false when the wait is over.
	testIdle func(waiting bool)
}

// NewWorker builds a worker running mux's handlers on jobs from c.
func NewWorker(c *Client, mux *Mux, cfg WorkerConfig) (*Worker, error) {
	full, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	w := &Worker{c: c, mux: mux, cfg: full, log: full.Logger,
		runs: make(map[string]*run), free: make(chan struct{}, 1), runq: make(chan *run),
		sampler: &sampler{maxCPU: full.MaxCPUPercent, maxMemMB: full.MaxMemoryMB, log: full.Logger}}
	w.completer = newCompleter(w.completeBatch)
	w.progress = newProgressWriter(w)
	w.logs = newLogWriter(w)
	w.heartbeat = newHeartbeat(w)
	w.cancels = channelListener{rdb: c.rdb, channel: c.keys.cancelChannel(),
		onMessage: func(id string) { w.cancelRun(id, errCancelledByUser) },
		onSubscribed: func(first bool) {
			if !first { // cancels may have been published while we were away
				w.heartbeat.trigger()
			}
		}}
	if !full.DisableMaintenance {
		queues := make([]string, 0, len(full.Queues))
		for q := range full.Queues {
			queues = append(queues, q)
		}
		slices.Sort(queues)
		w.maintenance, err = NewMaintenance(c, MaintenanceConfig{Queues: queues,
			PromoteInterval: full.PromoteInterval, ReapInterval: full.ReapInterval,
			JanitorInterval: full.JanitorInterval, Retention: full.Retention, Logger: full.Logger,
			Name: full.ID})
		if err != nil {
			return nil, err
		}
		if w.scheduler, err = NewScheduler(c, SchedulerConfig{Logger: full.Logger}); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// ID is the worker's id in the registry.
func (w *Worker) ID() string { return w.cfg.ID }

// Start registers the worker and starts its services. It returns once the
// worker listens for cancels and takes jobs. A Start that fails leaves
// nothing running, and may be tried again.
func (w *Worker) Start(ctx context.Context) error {
	w.life.Lock()
	defer w.life.Unlock()
	if w.started || w.stopped {
		return errors.New("worker already started")
	}
	w.startedAt = time.Now()
	for typ, n := range w.cfg.TypeLimits {
		if err := w.c.SetTypeLimit(ctx, typ, n); err != nil {
			return fmt.Errorf("set type limit: %w", err)
		}
	}
	for _, r := range w.cfg.RateLimits {
		if err := w.c.SetTypeRate(ctx, r); err != nil {
			return fmt.Errorf("set rate limit: %w", err)
		}
	}
	w.runCtx, w.runCancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := w.startServices(ctx); err != nil {
		w.stopServices()
		w.runCancel()
		return err
	}
	w.started = true
	w.log.Info("worker started", "queues", w.cfg.Queues, "concurrency", w.cfg.Concurrency,
		"lease_ttl", w.cfg.LeaseTTL, "types", w.mux.Types())
	return nil
}

// startServices starts the services in order: the sampler and the
// heartbeat (which registers the worker) first, the cancel listener
// before any job runs, the fetch loop last.
func (w *Worker) startServices(ctx context.Context) error {
	if err := w.sampler.Start(ctx); err != nil {
		return err
	}
	if err := w.heartbeat.Start(ctx); err != nil {
		return err
	}
	if err := w.cancels.start(ctx); err != nil {
		return fmt.Errorf("subscribe to cancels: %w", err)
	}
	if err := w.completer.Start(ctx); err != nil {
		return err
	}
	if err := w.progress.Start(ctx); err != nil {
		return err
	}
	if err := w.logs.Start(ctx); err != nil {
		return err
	}
	if w.maintenance != nil {
		if err := w.maintenance.Start(ctx); err != nil {
			return err
		}
		if err := w.scheduler.Start(ctx); err != nil {
			return err
		}
	}
	return w.fetch.start(ctx, nil, w.fetchLoop)
}

// stopServices stops what startServices started, fetching first.
func (w *Worker) stopServices() {
	w.fetch.stop(w.wakeSelf)
	if w.maintenance != nil {
		w.scheduler.Stop()
		w.maintenance.Stop()
	}
	w.logs.Stop()
	w.progress.Stop()
	w.completer.Stop()
	w.cancels.stop()
	w.heartbeat.Stop()
	w.sampler.Stop()
}

// Stop shuts the worker down gracefully: it stops taking jobs, lets the
// running ones finish for up to ShutdownTimeout, then cancels the rest and
// puts them back as pending without charging an attempt, and leaves the
// registry. Safe to call more than once, and before Start (it does
// nothing then).
func (w *Worker) Stop() {
	w.life.Lock()
	defer w.life.Unlock()
	if !w.started || w.stopped {
		return
	}
	w.stopped = true
	w.fetch.stop(w.wakeSelf)
	w.drain()
	w.runCancel()
	w.stopServices()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	w.c.leaveRegistry(ctx, w.cfg.ID)
	w.log.Info("worker stopped")
}

// drain lets the running jobs finish for up to ShutdownTimeout, then
// cancels them; the jobs of handlers that ignore their context are put
// back from here after a short grace, and their late writes are refused.
func (w *Worker) drain() {
	drained := make(chan struct{})
	go func() { w.runWG.Wait(); close(drained) }()
	timer := time.NewTimer(w.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-drained:
		return
	case <-timer.C:
	}
	w.mu.Lock()
	left := len(w.runs) // running() counts slots: not the runs writing their outcome
	w.mu.Unlock()
	w.log.Warn("shutdown timeout: cancelling running jobs", "running", left)
	for _, r := range w.snapshotRuns() {
		r.cancel(errShutdown)
	}
	select {
	case <-drained:
	case <-time.After(cmp.Or(w.cfg.ShutdownTimeout/10, time.Second)):
		for _, r := range w.snapshotRuns() {
			w.requeue(r)
		}
	}
}

// running is the slots in use: the runs whose handler runs, or, when
// more runs are writing their outcome than Concurrency, those beyond it
// (a run's slot frees up when its handler returns, so that the next
// claim overlaps its completion; a worker holds at most twice
// Concurrency runs).
func (w *Worker) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(w.handlers, len(w.runs)-w.cfg.Concurrency)
}

// freeSlot gives r's slot back, once: its handler has returned.
func (w *Worker) freeSlot(r *run) {
	w.mu.Lock()
	was := r.slot
	r.slot = false
	if was {
		w.handlers--
	}
	w.mu.Unlock()
	if was {
		select {
		case w.free <- struct{}{}:
		default:
		}
	}
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
