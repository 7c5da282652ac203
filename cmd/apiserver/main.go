// Command apiserver serves the job queue's HTTP API: /api/v1/jobs (see
// docs/api.md), /healthz and /readyz. It keeps nothing about jobs in
// memory, so any number of instances can run behind a load balancer on
// one Redis; workers (cmd/worker) run the jobs.
//
// Without REDIS_URL it starts in dev mode: an embedded in-memory Redis and
// an in-process worker running the built-in handlers, so that
// `go run ./cmd/apiserver` is the whole service on one machine. Dev mode
// keeps nothing across restarts and is not for production.
//
// Every flag has an environment variable; see -h.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/compileo/jobqueue/internal/redisconn"
	"github.com/compileo/jobqueue/internal/startup"
	"github.com/compileo/jobqueue/pkg/api"
	"github.com/compileo/jobqueue/pkg/handlers"
	"github.com/compileo/jobqueue/pkg/queue"
)

// Defaults of the process (the API's own are in package api).
const (
	defaultAddr            = ":8000"
	defaultShutdownTimeout = 10 * time.Second
	defaultDevWorkers      = 4
	// maintenanceReap is how often an apiserver reaps expired leases: a
	// lease of the shortest allowed (queue.MinLeaseDuration) is then
	// recovered within twice its length.
	maintenanceReap = 2 * time.Second
)

// config is the apiserver's whole configuration.
type config struct {
	// Redis is the Redis to serve from; none at all means dev mode.
	Redis redisconn.Config
	// Queue is the queue's settings (its prefix, shards, replica waits,
	// the bound of the queue registry).
	Queue queue.Config
	Addr  string
	API   api.Config
	// ShutdownTimeout bounds the graceful shutdown on SIGTERM.
	ShutdownTimeout time.Duration
	// DevWorkers is the concurrency of dev mode's in-process worker
	// (0: no worker). Ignored with a RedisURL.
	DevWorkers int
	// Maintenance runs the queue's maintenance (promotion of due jobs,
	// reaping of expired leases, the janitor) in this process too, so that
	// a deployment of apiservers and HTTP workers only needs nothing else.
	Maintenance bool
	LogLevel    string
	LogFmt      string
	// Webhooks are the callback settings: with a secret, submissions may
	// name a callback_url and this process delivers callbacks too.
	Webhooks startup.Webhooks
	// HeapFloorMB is the GC's heap floor (startup.HeapFloor).
	HeapFloorMB int

	// Test hooks: where logs go (default stderr), and a callback with the
	// address once the server listens (HTTP_ADDR may name port 0).
	logOut  io.Writer
	onReady func(addr string)
}

func parseConfig(args []string) (*config, error) {
	fs := envflag.New("apiserver")
	redisCfg := redisconn.AddFlags(fs, "", "Redis URL of a single node (redis:// or rediss://, user:password@ for ACL); with no Redis at all (no URL, cluster or sentinel): dev mode with an embedded in-memory Redis and an in-process worker")
	queueCfg := startup.QueueFlags(fs, "key prefix of the queue (the workers' -prefix)")
	addr := fs.String("addr", "HTTP_ADDR", defaultAddr, "HTTP listen address")
	bodyLimit := fs.Int("body-limit", "API_BODY_LIMIT", api.DefaultBodyLimit, "largest request body, in bytes (413 above)")
	reqTimeout := fs.Duration("request-timeout", "API_REQUEST_TIMEOUT", api.DefaultRequestTimeout, "bound of each Redis call made for a request (503 past it)")
	heartbeat := fs.Duration("sse-heartbeat", "API_SSE_HEARTBEAT", api.DefaultHeartbeat, "interval of the SSE keep-alive comment")
	shutdown := fs.Duration("shutdown-timeout", "API_SHUTDOWN_TIMEOUT", defaultShutdownTimeout, "on SIGTERM, how long open requests may take to finish")
	devWorkers := fs.Int("dev-workers", "DEV_WORKERS", defaultDevWorkers, "dev mode only: concurrency of the in-process worker (0: none)")
	keys := fs.String("api-keys", "API_KEYS", "", "API keys as name:role:secret, comma-separated; roles read, submit, worker, admin (empty: the API is open)")
	jobTypes := fs.String("job-types", "API_JOB_TYPES", "", "job types accepted before any worker that runs them is up, comma-separated (besides the built-in ones; any payload)")
	maintenance := fs.Bool("maintenance", "API_MAINTENANCE", true, "run the queue's maintenance here too: due jobs promoted, expired leases recovered, old jobs removed (safe on every instance)")
	allowNoKeys := fs.Bool("allow-no-keys", "API_ALLOW_NO_KEYS", false, "serve without API keys on a real Redis: anyone who reaches the port may submit, cancel and restart jobs (dev mode needs no keys)")
	keysFile := fs.String("api-keys-file", "API_KEYS_FILE", "", "file of API keys, one name:role:secret per line (# comments), added to -api-keys")
	rate := fs.String("rate-limit", "API_RATE_LIMIT", "", "requests per caller (API key, else client address) across all instances, e.g. 100/s, 6000/m, 50/10s (empty: none)")
	burst := fs.Int("rate-burst", "API_RATE_BURST", 0, "requests a caller may send at once (0: the rate's count)")
	cors := fs.String("cors-origins", "API_CORS_ORIGINS", "", "origins browsers may call from, comma-separated, or * (empty: no CORS)")
	proxies := fs.String("trusted-proxies", "API_TRUSTED_PROXIES", "", "addresses/CIDRs of proxies whose X-Forwarded-For names the client (empty: none)")
	logLevel := fs.String("log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	logFmt := fs.String("log-format", "LOG_FORMAT", "text", "text or json")
	webhooks := startup.WebhookFlags(fs)
	limits := limitFlags(fs)
	heapFloor := startup.HeapFloorFlag(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case *bodyLimit <= 0:
		return nil, fmt.Errorf("body limit %d: must be positive", *bodyLimit)
	case *reqTimeout <= 0 || *heartbeat <= 0 || *shutdown <= 0:
		return nil, fmt.Errorf("request timeout, SSE heartbeat and shutdown timeout must be positive")
	case *devWorkers < 0:
		return nil, fmt.Errorf("dev workers %d: must be 0 or more", *devWorkers)
	}
	apiCfg := api.Config{BodyLimit: int64(*bodyLimit), RequestTimeout: *reqTimeout, Heartbeat: *heartbeat,
		CORSOrigins: envflag.List(*cors), TrustedProxies: envflag.List(*proxies),
		// The built-in handlers' types are accepted even before a worker
		// that runs them is up; other types once a live worker advertises them.
		JobTypes: declaredTypes(envflag.List(*jobTypes))}
	for _, t := range envflag.List(*jobTypes) {
		if err := queue.CheckType(t); err != nil {
			return nil, fmt.Errorf("API_JOB_TYPES: %w", err)
		}
	}
	maxQueues, maxSchedules, err := limits(&apiCfg)
	if err != nil {
		return nil, err
	}
	spec := *keys
	if *keysFile != "" {
		b, err := os.ReadFile(*keysFile)
		if err != nil {
			return nil, fmt.Errorf("API_KEYS_FILE: %w", err)
		}
		spec += "\n" + string(b)
	}
	if apiCfg.Keys, err = api.ParseKeys(spec); err != nil {
		return nil, err
	}
	if apiCfg.RateLimit, err = api.ParseRateLimit(*rate, *burst); err != nil {
		return nil, err
	}
	rc := redisCfg()
	mode, err := rc.Mode()
	if err != nil {
		return nil, err
	}
	if len(apiCfg.Keys) == 0 && mode != redisconn.ModeNone && !*allowNoKeys {
		return nil, errNoKeys
	}
	qc, err := queueCfg()
	if err != nil {
		return nil, err
	}
	qc.MaxQueues, qc.MaxSchedules = maxQueues, maxSchedules
	hooks, err := webhooks()
	if err != nil {
		return nil, err
	}
	if hooks.On() {
		apiCfg.Callbacks = hooks.Guard
	}
	return &config{Redis: rc, Queue: qc, Addr: *addr, API: apiCfg, Webhooks: hooks,
		ShutdownTimeout: *shutdown, DevWorkers: *devWorkers, Maintenance: *maintenance,
		LogLevel: *logLevel, LogFmt: *logFmt, HeapFloorMB: *heapFloor}, nil
}

// declaredTypes is the types submissions may name before a worker runs
// them: the built-in handlers' (with their payload checks) and those the
// operator declares (any payload).
func declaredTypes(declared []string) api.TypesWithInputs {
	set := api.TypeSet(handlers.Validators())
	for _, t := range declared {
		if _, ok := set[t]; !ok {
			set[t] = nil
		}
	}
	return api.TypesWithInputs{TypeSet: set, Inputs: handlers.InputValidators()}
}

// errNoKeys refuses to serve an open API by accident: outside dev mode,
// no keys must be asked for.
var errNoKeys = errors.New("no API keys: set API_KEYS or API_KEYS_FILE (`jobctl keygen` prints a key), " +
	"or API_ALLOW_NO_KEYS=1 (-allow-no-keys) to let anyone who reaches this port submit, cancel and restart jobs")

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		os.Exit(1)
	}
}

// run serves the API until ctx ends, then shuts down gracefully. It
// connects to Redis (waiting for it while unreachable) — or, without a
// RedisURL, starts dev mode's embedded Redis and worker — starts the
// process's one event Hub and its Scheduler, and serves on cfg.Addr.
func run(ctx context.Context, cfg *config) error {
	log, err := startup.Logger(cmp.Or[io.Writer](cfg.logOut, os.Stderr), cfg.LogLevel, cfg.LogFmt)
	if err != nil {
		return err
	}
	cfg.API.Logger = log
	cfg.API.Metrics = startup.Metrics()
	defer startup.HeapFloor(log, cfg.HeapFloorMB)()
	tp, stopTracing, err := startup.Tracing(ctx, log, "jobqueue-apiserver")
	if err != nil {
		return err
	}
	defer flushTraces(stopTracing)
	cfg.API.Tracer, cfg.Queue.Tracer = tp, tp
	redisCfg := cfg.Redis
	mode, err := redisCfg.Mode()
	if err != nil {
		return err
	}
	var dev *devMode
	if mode == redisconn.ModeNone {
		if dev, err = startDevRedis(log); err != nil {
			return err
		}
		defer dev.stop()
		redisCfg.URL = dev.url()
	}
	rdb, client, err := startup.Connect(ctx, log, "jobqueue-apiserver", redisCfg, cfg.Queue)
	if err != nil {
		return err
	}
	defer rdb.Close()
	hub := client.NewHub()
	if err := startup.WaitReachable(ctx, log, func() error { return hub.Start(ctx) }); err != nil {
		return err
	}
	defer hub.Stop()
	// Every apiserver fires the schedules' due ticks too (none leads; a
	// tick makes one job however many fire it): schedules keep running
	// with no worker up, and as long as any process of the fleet is.
	sched, err := queue.NewScheduler(client, queue.SchedulerConfig{Logger: log})
	if err != nil {
		return err
	}
	if err := sched.Start(ctx); err != nil {
		return err
	}
	defer sched.Stop()
	if dev != nil && cfg.DevWorkers > 0 {
		if err := dev.startWorker(ctx, cfg.Queue.Prefix, cfg.DevWorkers, cfg.API.Metrics); err != nil {
			return err
		}
	}
	if cfg.Maintenance {
		m, err := queue.NewMaintenance(client, queue.MaintenanceConfig{ReapInterval: maintenanceReap, Logger: log})
		if err != nil {
			return err
		}
		if err := m.Start(ctx); err != nil {
			return err
		}
		defer m.Stop()
	}
	stopDeliverer, err := startup.StartDeliverer(ctx, log, client, cfg.Webhooks, api.JobRecord, cfg.API.Metrics)
	if err != nil {
		return err
	}
	defer stopDeliverer()
	handler, err := api.New(cfg.API, client, hub)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("apiserver listening", "addr", ln.Addr().String(), "redis", redisCfg.String(),
		"prefix", cfg.Queue.Prefix, "pid", os.Getpid(), "api_keys", len(cfg.API.Keys),
		"rate_limit", cfg.API.RateLimit.Rate > 0, "max_streams", cfg.API.MaxStreams,
		"max_streams_per_caller", cfg.API.MaxStreamsPerCaller)
	if len(cfg.API.Keys) == 0 && dev == nil {
		log.Warn("no API keys (API_ALLOW_NO_KEYS): anyone who reaches this port may submit, cancel and restart jobs")
	}
	if cfg.onReady != nil {
		cfg.onReady(ln.Addr().String())
	}
	return serve(ctx, log, ln, handler, hub.Stop, cfg.ShutdownTimeout)
}

// flushTraces sends the spans still buffered, for a few seconds at most.
func flushTraces(stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = stop(ctx)
}

// serve serves h on ln until ctx ends, then shuts down: it stops
// accepting, calls endStreams (which ends every open stream and long poll,
// so their connections can close), and waits for open requests for up to
// timeout before it closes what is left.
func serve(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler, endStreams func(), timeout time.Duration) error {
	srv := &http.Server{Handler: h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// No WriteTimeout: long polls last up to 300 s and streams longer.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(endStreams) // run by Shutdown once the listener is closed
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: no new connections; open streams and polls end", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown timeout: closing the remaining connections", "err", err)
		_ = srv.Close()
	}
	<-served // http.ErrServerClosed
	endStreams()
	log.Info("http server stopped")
	return nil
}
