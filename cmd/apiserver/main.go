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
	"github.com/compileo/jobqueue/internal/logging"
	"github.com/compileo/jobqueue/internal/redisconn"
	"github.com/compileo/jobqueue/pkg/api"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Defaults of the process (the API's own are in package api).
const (
	defaultAddr            = ":8000"
	defaultShutdownTimeout = 10 * time.Second
	defaultDevWorkers      = 4
)

// config is the apiserver's whole configuration.
type config struct {
	// Redis is the Redis to serve from; none at all means dev mode.
	Redis  redisconn.Config
	Prefix string
	Addr   string
	API    api.Config
	// MaxQueues bounds the queue registry (queue.Config.MaxQueues).
	MaxQueues int
	// ShutdownTimeout bounds the graceful shutdown on SIGTERM.
	ShutdownTimeout time.Duration
	// DevWorkers is the concurrency of dev mode's in-process worker
	// (0: no worker). Ignored with a RedisURL.
	DevWorkers int
	LogLevel   string
	LogFmt     string

	// Test hooks: where logs go (default stderr), and a callback with the
	// address once the server listens (HTTP_ADDR may name port 0).
	logOut  io.Writer
	onReady func(addr string)
}

func parseConfig(args []string) (*config, error) {
	fs := envflag.New("apiserver")
	redisCfg := redisconn.AddFlags(fs, "", "Redis URL of a single node (redis:// or rediss://, user:password@ for ACL); with no Redis at all (no URL, cluster or sentinel): dev mode with an embedded in-memory Redis and an in-process worker")
	prefix := fs.String("prefix", "QUEUE_PREFIX", queue.DefaultPrefix, "key prefix of the queue (the workers' -prefix)")
	addr := fs.String("addr", "HTTP_ADDR", defaultAddr, "HTTP listen address")
	bodyLimit := fs.Int("body-limit", "API_BODY_LIMIT", api.DefaultBodyLimit, "largest request body, in bytes (413 above)")
	bodyTimeout := fs.Duration("body-timeout", "API_BODY_TIMEOUT", api.DefaultBodyTimeout, "time a request body may take to arrive after its headers (408 and the connection closed past it)")
	reqTimeout := fs.Duration("request-timeout", "API_REQUEST_TIMEOUT", api.DefaultRequestTimeout, "bound of each Redis call made for a request (503 past it)")
	heartbeat := fs.Duration("sse-heartbeat", "API_SSE_HEARTBEAT", api.DefaultHeartbeat, "interval of the SSE keep-alive comment")
	shutdown := fs.Duration("shutdown-timeout", "API_SHUTDOWN_TIMEOUT", defaultShutdownTimeout, "on SIGTERM, how long open requests may take to finish")
	devWorkers := fs.Int("dev-workers", "DEV_WORKERS", defaultDevWorkers, "dev mode only: concurrency of the in-process worker (0: none)")
	keys := fs.String("api-keys", "API_KEYS", "", "API keys as name:role:secret, comma-separated; roles read, submit, admin (empty: the API is open)")
	allowNoKeys := fs.Bool("allow-no-keys", "API_ALLOW_NO_KEYS", false, "serve without API keys on a real Redis: anyone who reaches the port may submit, cancel and restart jobs (dev mode needs no keys)")
	keysFile := fs.String("api-keys-file", "API_KEYS_FILE", "", "file of API keys, one name:role:secret per line (# comments), added to -api-keys")
	rate := fs.String("rate-limit", "API_RATE_LIMIT", "", "requests per caller (API key, else client address) across all instances, e.g. 100/s, 6000/m, 50/10s (empty: none)")
	burst := fs.Int("rate-burst", "API_RATE_BURST", 0, "requests a caller may send at once (0: the rate's count)")
	maxRun := fs.Duration("max-job-timeout", "API_MAX_JOB_TIMEOUT", api.DefaultMaxJobTimeout, fmt.Sprintf("longest run a job may have (its timeout_seconds), and the timeout of jobs submitted without one; at most %s", queue.MaxTimeout))
	quota := fs.Int("job-quota", "API_JOB_QUOTA", api.DefaultJobQuota, "unfinished jobs one caller (API key, else client address) may have; past it submissions get 429 (0: no quota)")
	maxQueues := fs.Int("max-queues", "API_MAX_QUEUES", queue.DefaultMaxQueues, "distinct queue names the queue may hold (per shard); a submission to a new queue past it gets 409 too_many_queues until empty queues are forgotten")
	listBytes := fs.Int("list-page-bytes", "API_LIST_PAGE_BYTES", queue.DefaultListBytes, "bytes of job fields one list page may hold (payloads and results when asked for); past it the page ends early with a cursor")
	maxStreams := fs.Int("max-streams", "API_MAX_STREAMS", 0, fmt.Sprintf("SSE streams and long polls open at once on this instance, 429 past it (0: half the open-file limit, at most %d)", api.DefaultMaxStreams))
	maxPerCaller := fs.Int("max-streams-per-caller", "API_MAX_STREAMS_PER_CALLER", api.DefaultMaxStreamsPerCaller, "SSE streams and long polls one caller (API key, else client address) may hold open on this instance, 429 past it")
	tokenTTL := fs.Duration("stream-token-ttl", "API_STREAM_TOKEN_TTL", api.DefaultStreamTokenTTL, "how long a stream token (POST .../stream-token) opens its job's stream")
	tokenSecret := fs.String("token-secret", "API_TOKEN_SECRET", "", "secret that signs stream tokens, the same on every apiserver (empty: derived from the API keys)")
	authFailures := fs.String("auth-failure-limit", "API_AUTH_FAILURE_LIMIT", "10/m", "failed authentications per client address across all instances before the address is barred (429), e.g. 10/m (empty: no throttle)")
	cors := fs.String("cors-origins", "API_CORS_ORIGINS", "", "origins browsers may call from, comma-separated, or * (empty: no CORS)")
	proxies := fs.String("trusted-proxies", "API_TRUSTED_PROXIES", "", "addresses/CIDRs of proxies whose X-Forwarded-For names the client (empty: none)")
	logLevel := fs.String("log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	logFmt := fs.String("log-format", "LOG_FORMAT", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case *bodyLimit <= 0:
		return nil, fmt.Errorf("body limit %d: must be positive", *bodyLimit)
	case *bodyTimeout <= 0 || *reqTimeout <= 0 || *heartbeat <= 0 || *shutdown <= 0:
		return nil, fmt.Errorf("body timeout, request timeout, SSE heartbeat and shutdown timeout must be positive")
	case *devWorkers < 0:
		return nil, fmt.Errorf("dev workers %d: must be 0 or more", *devWorkers)
	case *tokenTTL <= 0:
		return nil, fmt.Errorf("stream token lifetime must be positive")
	case *maxRun <= 0 || *maxRun > queue.MaxTimeout:
		return nil, fmt.Errorf("max job timeout %s: want more than 0 and at most %s", *maxRun, queue.MaxTimeout)
	case *quota < 0:
		return nil, fmt.Errorf("job quota %d: want 0 (none) or more", *quota)
	case *maxQueues <= 0:
		return nil, fmt.Errorf("max queues %d: must be positive", *maxQueues)
	case *listBytes <= 0:
		return nil, fmt.Errorf("list page bytes %d: must be positive", *listBytes)
	case *maxStreams < 0 || *maxPerCaller <= 0:
		return nil, fmt.Errorf("API_MAX_STREAMS must be 0 (automatic) or more, API_MAX_STREAMS_PER_CALLER 1 or more")
	}
	if *maxStreams == 0 {
		*maxStreams = autoMaxStreams()
	}
	apiCfg := api.Config{BodyLimit: int64(*bodyLimit), BodyTimeout: *bodyTimeout, RequestTimeout: *reqTimeout, Heartbeat: *heartbeat,
		ListBytes: *listBytes, MaxStreams: *maxStreams, MaxStreamsPerCaller: *maxPerCaller, MaxJobTimeout: *maxRun,
		StreamTokenTTL: *tokenTTL, TokenSecret: *tokenSecret,
		CORSOrigins: envflag.List(*cors), TrustedProxies: envflag.List(*proxies)}
	apiCfg.JobQuota = *quota
	if *quota == 0 {
		apiCfg.JobQuota = -1 // none
	}
	spec := *keys
	if *keysFile != "" {
		b, err := os.ReadFile(*keysFile)
		if err != nil {
			return nil, fmt.Errorf("API_KEYS_FILE: %w", err)
		}
		spec += "\n" + string(b)
	}
	var err error
	if apiCfg.Keys, err = api.ParseKeys(spec); err != nil {
		return nil, err
	}
	if apiCfg.RateLimit, err = api.ParseRateLimit(*rate, *burst); err != nil {
		return nil, err
	}
	authLimit, err := api.ParseRateLimit(*authFailures, 0)
	if err != nil {
		return nil, fmt.Errorf("API_AUTH_FAILURE_LIMIT: %w", err)
	}
	apiCfg.AuthFailureLimit = &authLimit
	rc := redisCfg()
	mode, err := rc.Mode()
	if err != nil {
		return nil, err
	}
	if len(apiCfg.Keys) == 0 && mode != redisconn.ModeNone && !*allowNoKeys {
		return nil, errNoKeys
	}
	return &config{Redis: rc, Prefix: *prefix, Addr: *addr, API: apiCfg, MaxQueues: *maxQueues,
		ShutdownTimeout: *shutdown, DevWorkers: *devWorkers, LogLevel: *logLevel, LogFmt: *logFmt}, nil
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
// process's one event Hub, and serves on cfg.Addr.
func run(ctx context.Context, cfg *config) error {
	log, err := logging.New(cmp.Or[io.Writer](cfg.logOut, os.Stderr), cfg.LogLevel, cfg.LogFmt)
	if err != nil {
		return err
	}
	cfg.API.Logger = log
	redisconn.RouteLogs(log, 5*time.Second)
	cfg.API.Metrics = metricsRegistry()
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
	rdb, err := redisCfg.Open("jobqueue-apiserver")
	if err != nil {
		return err
	}
	defer rdb.Close()

	var client *queue.Client
	err = redisconn.WaitReachable(ctx, log, func() (err error) {
		qc := redisCfg.QueueConfig(cfg.Prefix)
		qc.MaxQueues = cfg.MaxQueues
		client, err = queue.NewClient(ctx, rdb, qc)
		return err
	})
	if err != nil {
		return err
	}
	hub := client.NewHub()
	if err := redisconn.WaitReachable(ctx, log, func() error { return hub.Start(ctx) }); err != nil {
		return err
	}
	defer hub.Stop()
	if dev != nil && cfg.DevWorkers > 0 {
		if err := dev.startWorker(ctx, cfg.Prefix, cfg.DevWorkers, cfg.API.Metrics); err != nil {
			return err
		}
	}
	handler, err := api.New(cfg.API, client, hub)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("apiserver listening", "addr", ln.Addr().String(), "redis", redisCfg.String(),
		"prefix", cfg.Prefix, "pid", os.Getpid(), "api_keys", len(cfg.API.Keys),
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

// autoMaxStreams is API_MAX_STREAMS when not set: half the process's
// open-file limit (Go raises the soft limit to the hard one at start-up),
// leaving the other half to the other clients, Redis and the listener;
// at most api.DefaultMaxStreams.
func autoMaxStreams() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur == 0 {
		return api.DefaultMaxStreams
	}
	return int(max(1, min(l.Cur/2, api.DefaultMaxStreams)))
}

// metricsRegistry is the registry /metrics serves: the Go runtime's and
// the process's collectors; the API (and dev mode's worker) add theirs.
func metricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
