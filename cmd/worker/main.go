// Command worker runs job handlers: it claims jobs from Redis, runs them,
// and keeps the queue healthy (promotes due jobs, recovers the jobs of dead
// workers, expires old finished jobs). Run as many as the load needs.
// With -maintenance-only it keeps the queue healthy and runs no jobs.
//
// Every flag has an environment variable; see -h.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/compileo/jobqueue/internal/redisconn"
	"github.com/compileo/jobqueue/internal/runmetrics"
	"github.com/compileo/jobqueue/internal/startup"
	"github.com/compileo/jobqueue/pkg/api"
	"github.com/compileo/jobqueue/pkg/handlers"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// config is the worker's whole configuration.
type config struct {
	Redis    redisconn.Config
	Queue    queue.Config
	Worker   queue.WorkerConfig
	LogLevel string
	LogFmt   string
	// MetricsAddr serves /metrics when set.
	MetricsAddr string
	// MaintenanceOnly runs the queue's maintenance (for every queue) and
	// no jobs: the process that workers run with DisableMaintenance need.
	MaintenanceOnly bool
	// Webhooks are the callback settings: with a secret, this process
	// delivers callbacks too.
	Webhooks startup.Webhooks
	// HeapFloorMB is the GC's heap floor (startup.HeapFloor).
	HeapFloorMB int
}

func parseConfig(args []string) (*config, error) {
	fs := envflag.New("worker")
	redisCfg := redisconn.AddFlags(fs, "redis://127.0.0.1:6379/0", "Redis URL of a single node (redis:// or rediss://, user:password@ for ACL)")
	queueCfg := startup.QueueFlags(fs, "key prefix (and Redis Cluster hash tag) of every key")
	id := fs.String("id", "WORKER_ID", "", "worker id (default host-pid-random)")
	concurrency := fs.Int("concurrency", "WORKER_CONCURRENCY", queue.DefaultConcurrency, "jobs run at once")
	queues := fs.String("queues", "WORKER_QUEUES", queue.DefaultQueue, "queues and weights, e.g. critical=6,default=3,low=1")
	strict := fs.Bool("strict-priority", "WORKER_STRICT_PRIORITY", false, "always take from the heaviest queue first")
	lease := fs.Duration("lease-ttl", "WORKER_LEASE_TTL", queue.DefaultLeaseTTL, "lease of a running job; heartbeats every third of it (max 30s)")
	shutdown := fs.Duration("shutdown-timeout", "WORKER_SHUTDOWN_TIMEOUT", queue.DefaultShutdownTimeout, "on SIGTERM, how long running jobs may finish before they are put back")
	progress := fs.Duration("progress-interval", "WORKER_PROGRESS_INTERVAL", queue.DefaultProgressInterval, "at most one progress write per job per interval")
	retryBase := fs.Duration("retry-base-delay", "WORKER_RETRY_BASE_DELAY", queue.DefaultRetryBaseDelay, "backoff before the first retry (doubles each attempt)")
	retryMax := fs.Duration("retry-max-delay", "WORKER_RETRY_MAX_DELAY", queue.DefaultRetryMaxDelay, "longest backoff between retries")
	keepDone := fs.Duration("retention-completed", "RETENTION_COMPLETED", queue.DefaultRetentionCompleted, "how long completed jobs are kept (0: forever)")
	keepFailed := fs.Duration("retention-failed", "RETENTION_FAILED", queue.DefaultRetentionFailed, "how long failed jobs are kept (0: forever)")
	keepCancelled := fs.Duration("retention-cancelled", "RETENTION_CANCELLED", queue.DefaultRetentionCancelled, "how long cancelled jobs are kept (0: forever)")
	janitor := fs.Duration("janitor-interval", "WORKER_JANITOR_INTERVAL", queue.DefaultJanitorInterval, "how often expired finished jobs are removed (jittered)")
	typeLimits := fs.String("type-limits", "WORKER_TYPE_LIMITS", "", "fleet-wide running limits per job type, e.g. taxonomy_generation=2")
	rateLimits := fs.String("rate-limits", "WORKER_RATE_LIMITS", "", "fleet-wide rate limits per job type, starts per period, e.g. taxonomy_generation=10/1m,ocr=20/s")
	maxCPU := fs.Float("max-cpu-percent", "WORKER_MAX_CPU_PERCENT", 0, "take no new jobs while host CPU is above this (0: off)")
	maxMem := fs.Float("max-memory-mb", "WORKER_MAX_MEMORY_MB", 0, "take no new jobs while this process's RSS is above this (0: off)")
	noMaint := fs.Bool("no-maintenance", "WORKER_NO_MAINTENANCE", false, "do not promote, reap, expire or fire schedules here: a -maintenance-only process must (or workers without this flag on the same queues; apiservers fire schedules too)")
	maintOnly := fs.Bool("maintenance-only", "WORKER_MAINTENANCE_ONLY", false, "run no jobs: only promote the due jobs of every queue, reap expired leases and expire old jobs (for workers run with -no-maintenance)")
	metricsAddr := fs.String("metrics-addr", "WORKER_METRICS_ADDR", "", "serve Prometheus /metrics on this address, e.g. :9100 (empty: off)")
	logLevel := fs.String("log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	logFmt := fs.String("log-format", "LOG_FORMAT", "text", "text or json")
	webhooks := startup.WebhookFlags(fs)
	heapFloor := startup.HeapFloorFlag(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	weights, err := envflag.Weights(*queues)
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	limits, err := envflag.Weights(*typeLimits)
	if err != nil {
		return nil, fmt.Errorf("type limits: %w", err)
	}
	rates, err := queue.ParseTypeRates(*rateLimits)
	if err != nil {
		return nil, fmt.Errorf("rate limits: %w", err)
	}
	if *noMaint && *maintOnly {
		return nil, fmt.Errorf("-no-maintenance and -maintenance-only exclude each other")
	}
	rc := redisCfg()
	if _, err := rc.Mode(); err != nil {
		return nil, err
	}
	qc, err := queueCfg()
	if err != nil {
		return nil, err
	}
	hooks, err := webhooks()
	if err != nil {
		return nil, err
	}
	return &config{Redis: rc, Queue: qc, Webhooks: hooks, LogLevel: *logLevel, LogFmt: *logFmt, MetricsAddr: *metricsAddr,
		MaintenanceOnly: *maintOnly, HeapFloorMB: *heapFloor,
		Worker: queue.WorkerConfig{ID: *id, Queues: weights, StrictPriority: *strict,
			Concurrency: *concurrency, LeaseTTL: *lease, ShutdownTimeout: *shutdown,
			ProgressInterval: *progress, RetryBaseDelay: *retryBase, RetryMaxDelay: *retryMax,
			Retention: &queue.Retention{Completed: *keepDone, Failed: *keepFailed, Cancelled: *keepCancelled,
				CallbackWindow: hooks.Deliverer.RetryWindow},
			TypeLimits: limits, RateLimits: rates, MaxCPUPercent: *maxCPU, MaxMemoryMB: *maxMem,
			DisableMaintenance: *noMaint, JanitorInterval: *janitor}}, nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// run connects to Redis (waiting for it if it is not up yet), runs the
// worker until ctx ends, then shuts it down gracefully.
func run(ctx context.Context, cfg *config) error {
	log, err := startup.Logger(os.Stderr, cfg.LogLevel, cfg.LogFmt)
	if err != nil {
		return err
	}
	cfg.Worker.Logger = log
	defer startup.HeapFloor(log, cfg.HeapFloorMB)()
	// Every running job holds a connection now and then, and the idle
	// loop blocks for seconds: a pool above the concurrency, longer I/O.
	cfg.Redis.PoolSize = max(cfg.Worker.Concurrency+8, 16)
	cfg.Redis.MinIOTimeout = 3 * time.Second
	tp, stopTracing, err := startup.Tracing(ctx, log, "jobqueue-worker")
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = stopTracing(fctx) // the spans still buffered
	}()
	cfg.Queue.Tracer = tp
	rdb, client, err := startup.Connect(ctx, log, "jobqueue-worker", cfg.Redis, cfg.Queue)
	if err != nil {
		return err
	}
	defer rdb.Close()
	mux := queue.NewMux()
	handlers.Register(mux)
	reg := startup.Metrics()
	runmetrics.New(reg).Instrument(mux, queueNames(cfg.Worker.Queues)...)
	if cfg.MetricsAddr != "" {
		stop, err := serveMetrics(log, cfg.MetricsAddr, reg)
		if err != nil {
			return err
		}
		defer stop()
	}
	// The record a callback carries is the API's (the same on every
	// deliverer, whichever process sends it).
	stopDeliverer, err := startup.StartDeliverer(ctx, log, client, cfg.Webhooks, api.JobRecord, reg)
	if err != nil {
		return err
	}
	defer stopDeliverer()
	if cfg.MaintenanceOnly {
		return maintain(ctx, log, client, cfg)
	}
	w, err := queue.NewWorker(client, mux, cfg.Worker)
	if err != nil {
		return err
	}
	if err := startup.WaitReachable(ctx, log, func() error { return w.Start(ctx) }); err != nil {
		return err
	}
	log.Info("worker ready", "pid", os.Getpid(), "redis", cfg.Redis.String())
	<-ctx.Done()
	log.Info("shutting down: no new jobs; running jobs may finish", "timeout", cfg.Worker.ShutdownTimeout)
	w.Stop()
	return nil
}

// queueNames are the queues a worker with these weights takes from.
func queueNames(weights map[string]int) []string {
	if len(weights) == 0 {
		return []string{queue.DefaultQueue}
	}
	return slices.Sorted(maps.Keys(weights))
}

// maintain runs the queue's maintenance for every queue, and fires the
// schedules, until ctx ends: the worker's maintenance, paced by the same
// flags, without its jobs.
func maintain(ctx context.Context, log *slog.Logger, client *queue.Client, cfg *config) error {
	m, err := queue.NewMaintenance(client, queue.MaintenanceConfig{ReapInterval: cfg.Worker.LeaseTTL / 4,
		JanitorInterval: cfg.Worker.JanitorInterval, Retention: cfg.Worker.Retention, Logger: log})
	if err != nil {
		return err
	}
	sched, err := queue.NewScheduler(client, queue.SchedulerConfig{Logger: log})
	if err != nil {
		return err
	}
	if err := m.Start(ctx); err != nil {
		return err
	}
	if err := sched.Start(ctx); err != nil {
		m.Stop()
		return err
	}
	log.Info("maintenance ready: promoting, reaping and expiring for every queue, firing schedules; running no jobs",
		"pid", os.Getpid(), "redis", cfg.Redis.String())
	<-ctx.Done()
	sched.Stop()
	m.Stop()
	log.Info("maintenance stopped")
	return nil
}

// serveMetrics serves reg at /metrics on addr until stop is called.
func serveMetrics(log *slog.Logger, addr string, reg *prometheus.Registry) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
