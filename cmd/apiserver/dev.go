package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/compileo/jobqueue/internal/runmetrics"
	"github.com/compileo/jobqueue/pkg/handlers"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// devMode is what `go run ./cmd/apiserver` without REDIS_URL adds to the
// API, standing in for the production topology inside one process: an
// embedded in-memory Redis (miniredis, on which the engine's Lua scripts
// and pub/sub run) and a worker with the built-in handlers on its own
// Redis connection, as a separate worker process would have.
type devMode struct {
	log    *slog.Logger
	redis  *miniredis.Miniredis
	rdb    *redis.Client // the worker's connection
	worker *queue.Worker
}

// startDevRedis starts the embedded Redis, saying loudly what it is.
func startDevRedis(log *slog.Logger) (*devMode, error) {
	mr, err := miniredis.Run()
	if err != nil {
		return nil, fmt.Errorf("dev mode: start embedded redis: %w", err)
	}
	log.Warn("DEV MODE: REDIS_URL is not set, so this apiserver runs an EMBEDDED IN-MEMORY Redis (miniredis)", "addr", mr.Addr())
	log.Warn("DEV MODE: every job is LOST when this process exits; nothing is persisted")
	log.Warn("DEV MODE: jobs run on an IN-PROCESS worker (built-in handlers, queue \"default\"), not on cmd/worker processes")
	log.Warn("DEV MODE: NOT FOR PRODUCTION: set REDIS_URL to a real Redis and run cmd/worker")
	return &devMode{log: log, redis: mr}, nil
}

func (d *devMode) url() string { return "redis://" + d.redis.Addr() }

// startWorker starts the in-process worker on the default queue.
func (d *devMode) startWorker(ctx context.Context, prefix string, concurrency int, reg prometheus.Registerer) error {
	d.rdb = redis.NewClient(&redis.Options{Addr: d.redis.Addr(), PoolSize: concurrency + 8})
	client, err := queue.NewClient(ctx, d.rdb, &queue.Config{Prefix: prefix})
	if err != nil {
		return fmt.Errorf("dev mode: worker client: %w", err)
	}
	mux := queue.NewMux()
	handlers.Register(mux)
	runmetrics.New(reg).Instrument(mux, queue.DefaultQueue)
	// A short shutdown: nothing survives the process anyway.
	w, err := queue.NewWorker(client, mux, queue.WorkerConfig{Concurrency: concurrency,
		ShutdownTimeout: 2 * time.Second, Logger: d.log})
	if err != nil {
		return fmt.Errorf("dev mode: %w", err)
	}
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("dev mode: start worker: %w", err)
	}
	d.worker = w
	d.log.Warn("DEV MODE: in-process worker started", "worker", w.ID(), "concurrency", concurrency, "types", mux.Types())
	return nil
}

// stop stops the worker (letting its jobs finish for its shutdown
// timeout), then the embedded Redis.
func (d *devMode) stop() {
	if d.worker != nil {
		d.worker.Stop()
	}
	if d.rdb != nil {
		_ = d.rdb.Close()
	}
	d.redis.Close()
}
