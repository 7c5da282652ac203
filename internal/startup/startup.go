// Package startup is the start-up every command shares: its logger (with
// go-redis's own lines routed to it), its metrics registry, its queue
// settings, and its connection to the queue, made by waiting for a Redis
// that is not reachable yet instead of exiting. cmd/apiserver and
// cmd/worker start the same way through it.
package startup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/compileo/jobqueue/internal/logging"
	"github.com/compileo/jobqueue/internal/redisconn"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// redisLogInterval is the most often go-redis's own lines are logged.
const redisLogInterval = 5 * time.Second

// Logger returns the process's logger ("debug" to "error", "text" or
// "json", on w) and routes go-redis's own lines to it.
func Logger(w io.Writer, level, format string) (*slog.Logger, error) {
	log, err := logging.New(w, level, format)
	if err != nil {
		return nil, err
	}
	redisconn.RouteLogs(log, redisLogInterval)
	return log, nil
}

// Metrics returns the registry a process serves at /metrics: the Go
// runtime's and the process's collectors; the API and the workers add
// theirs.
func Metrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// QueueFlags registers the queue settings every process of a deployment
// must agree on, each with its environment variable, and returns a
// function that reads them into a queue.Config once fs is parsed and
// checks them. prefixHelp describes -prefix for the command.
func QueueFlags(fs *envflag.Set, prefixHelp string) func() (queue.Config, error) {
	prefix := fs.String("prefix", "QUEUE_PREFIX", queue.DefaultPrefix, prefixHelp)
	shards := fs.Int("shards", "QUEUE_SHARDS", 1, "hash tags the jobs are spread over, so a Redis Cluster's masters share the load; the same in every process (see docs/cluster.md)")
	waitN := fs.Int("redis-wait-replicas", "REDIS_WAIT_REPLICAS", 0, "after each submission, WAIT for this many replicas to acknowledge it, else fail it with 503 (0: off; see docs/cluster.md)")
	waitT := fs.Duration("redis-wait-timeout", "REDIS_WAIT_TIMEOUT", queue.DefaultWaitTimeout, "how long a submission waits for its replicas")
	logLines := fs.Int("log-lines", "LOG_LINES", queue.DefaultLogLines, "log lines kept per job (the newest; the others are counted as dropped)")
	logBytes := fs.Int("log-line-bytes", "LOG_LINE_BYTES", queue.DefaultLogLineBytes, "longest log line kept, in bytes; a longer one is cut")
	return func() (queue.Config, error) {
		c := queue.Config{Prefix: *prefix, Shards: *shards, WaitReplicas: *waitN, WaitTimeout: *waitT,
			LogLines: *logLines, LogLineBytes: *logBytes}
		switch {
		case c.LogLines < 1 || c.LogLineBytes < 1:
			return c, fmt.Errorf("LOG_LINES %d, LOG_LINE_BYTES %d: want at least 1", c.LogLines, c.LogLineBytes)
		case c.Shards < 0 || c.Shards > queue.MaxShards:
			return c, fmt.Errorf("QUEUE_SHARDS %d: want 1-%d", c.Shards, queue.MaxShards)
		case c.WaitReplicas < 0 || c.WaitTimeout < 0:
			return c, fmt.Errorf("REDIS_WAIT_REPLICAS and REDIS_WAIT_TIMEOUT must not be negative")
		case c.WaitTimeout >= redisconn.DefaultIOTimeout:
			// The WAIT reply must come within the connection's read timeout.
			return c, fmt.Errorf("REDIS_WAIT_TIMEOUT %s: must be below %s", c.WaitTimeout, redisconn.DefaultIOTimeout)
		}
		return c, nil
	}
}

// Connect opens the configured Redis (its connections named name) and
// builds the queue's client on it, waiting while Redis is unreachable
// (WaitReachable) until ctx ends. The caller closes the Redis client.
func Connect(ctx context.Context, log *slog.Logger, name string, rc redisconn.Config, qc queue.Config) (redis.UniversalClient, *queue.Client, error) {
	rdb, err := rc.Open(name)
	if err != nil {
		return nil, nil, err
	}
	var client *queue.Client
	err = WaitReachable(ctx, log, func() (err error) {
		client, err = queue.NewClient(ctx, rdb, &qc)
		return err
	})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	return rdb, client, nil
}

// WaitReachable calls f until it succeeds or fails for another reason
// than an unavailable Redis (queue.ErrUnavailable: unreachable, loading,
// a cluster still forming or failing over), backing off from 100 ms to
// 5 s: a process started before its Redis waits for it.
func WaitReachable(ctx context.Context, log *slog.Logger, f func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil || !errors.Is(err, queue.ErrUnavailable) {
			return err
		}
		log.Warn("waiting for redis", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis unreachable: %w", ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
