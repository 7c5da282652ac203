package queue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
)

// Defaults and limits of a Client's configuration.
const (
	DefaultPrefix = "jq"
	// DefaultWakeCap bounds each queue's wake list (see lua/lib.lua wake).
	DefaultWakeCap = 256
	// DefaultWaitTimeout bounds a submission's wait for its replicas
	// (Config.WaitReplicas).
	DefaultWaitTimeout = 100 * time.Millisecond
	// MaxShards bounds Config.Shards.
	MaxShards = 256
)

// Config configures a Client.
type Config struct {
	// Prefix namespaces every key and channel; it is the Redis Cluster hash
	// tag of all of them. Default DefaultPrefix.
	Prefix string
	// WakeCap bounds each queue's wake list. Default DefaultWakeCap.
	WakeCap int
	// WaitReplicas, when above 0, makes each submission (Enqueue,
	// EnqueueBatch) wait until that many replicas acknowledged its writes
	// (Redis WAIT, on the connection that wrote them), for up to
	// WaitTimeout; a submission fewer replicas acknowledged fails with
	// ErrNotReplicated. Redis replication is asynchronous: without this a
	// job acknowledged to its caller is lost if the master dies before
	// replicating it. WAIT narrows that window but is not strong
	// consistency; docs/cluster.md says what it does and does not promise.
	// Default 0: no wait.
	WaitReplicas int
	// WaitTimeout bounds that wait. Default DefaultWaitTimeout.
	WaitTimeout time.Duration
	// MaxQueues bounds the queue names each shard's registry holds
	// (queues.go): a submission to a queue it does not hold yet fails with
	// ErrQueueLimit once it holds that many. Queues whose jobs are all gone
	// are forgotten (ForgetEmptyQueues), which makes room again. Default
	// DefaultMaxQueues; negative means no bound.
	MaxQueues int
	// MaxSchedules bounds the schedules there may be (schedule.go). Default
	// DefaultMaxSchedules; negative means no bound.
	MaxSchedules int
	// Shards splits the jobs over that many hash tags, {P:s0} to
	// {P:s<n-1>}, so that on a Redis Cluster they spread over the masters
	// (keys.go; docs/cluster.md). A job's shard follows from its id. Every
	// process of a deployment must use the same number. Default 1: one tag,
	// {P}, the unsharded layout. At most MaxShards.
	Shards int
	// LogLines bounds each job's log: its newest lines are kept, the
	// others counted as dropped (log.go). Default DefaultLogLines.
	LogLines int
	// LogLineBytes bounds a log line's message; a longer one is cut.
	// Default DefaultLogLineBytes.
	LogLineBytes int
	// Tracer, when set, traces submissions and runs (tracing.go): spans
	// of the submission and of each run's claim, handler and completion,
	// joined to the trace of the request that submitted the job. Nil
	// makes none, at no cost: a job still keeps the trace context its
	// submitter's context carries, for the next process that traces.
	Tracer trace.TracerProvider
}

// Client is the engine's entry point: submits, reads and moves jobs. It is
// safe for concurrent use and holds no job state of its own.
type Client struct {
	rdb redis.UniversalClient
	// keys is the global keyspace; shards hold the jobs (keys.go).
	keys    keyspace
	shards  shards
	scripts *scripts
	wakeCap int
	// maxQueues is Config.MaxQueues, maxSchedules Config.MaxSchedules;
	// 0 for no bound.
	maxQueues, maxSchedules int
	// waitReplicas and waitTimeout: Config.WaitReplicas and WaitTimeout.
	waitReplicas int
	waitTimeout  time.Duration
	// logLines and logLineBytes: Config.LogLines and LogLineBytes.
	logLines, logLineBytes int

	// submits shares the round trips of concurrent Enqueue calls,
	// pipeSubmits those of concurrent SubmitPipeline calls,
	// leaseCompletions those of concurrent lease completions, inputReads
	// those of concurrent ActiveJob.Inputs calls (coalesce.go).
	submits          coalescer[EnqueueParams, BatchResult]
	pipeSubmits      coalescer[*pipeSubmit, pipeCreated]
	leaseCompletions coalescer[completeRun, error]
	inputReads       coalescer[*Job, inputsRead]
	// leased remembers the lanes of the jobs Lease took (leasedjobs.go).
	leased leasedJobs
	// graphs keeps the graphs of pipelines read (pipegraphs.go).
	graphs pipeGraphs
	// leaseQueues remembers the queue registry for Lease (leasequeues.go).
	leaseQueues leaseQueues
	// nextShard spreads submissions over the shards in turn; limited
	// caches which types have a concurrency limit (limits.go).
	nextShard atomic.Uint32
	limited   limitedTypes
	// tracer is Config.Tracer's; nil when tracing is off.
	tracer trace.Tracer
	// watch is the channel whose subscribers tell the hot scripts that
	// job events are watched (keys.go watchChannel); "" on a Redis
	// Cluster, whose nodes count only their own subscribers: there the
	// scripts always publish.
	watch string
}

// NewClient builds a Client on rdb and loads the Lua scripts into Redis.
func NewClient(ctx context.Context, rdb redis.UniversalClient, cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	prefix := cmp.Or(cfg.Prefix, DefaultPrefix)
	if !namePattern.MatchString(prefix) {
		return nil, invalidf("prefix %q: want 1-64 of [A-Za-z0-9_.-]", prefix)
	}
	if cfg.Shards < 0 || cfg.Shards > MaxShards {
		return nil, invalidf("shards %d: want 1-%d", cfg.Shards, MaxShards)
	}
	if cfg.LogLines < 0 || cfg.LogLineBytes < 0 {
		return nil, invalidf("log lines %d, line bytes %d: must not be negative", cfg.LogLines, cfg.LogLineBytes)
	}
	if cfg.WaitReplicas < 0 || cfg.WaitTimeout < 0 {
		return nil, invalidf("wait replicas %d, timeout %s: must not be negative", cfg.WaitReplicas, cfg.WaitTimeout)
	}
	c := &Client{
		rdb:          rdb,
		keys:         newKeyspace(prefix),
		shards:       newShards(prefix, cfg.Shards),
		scripts:      sharedScripts(),
		wakeCap:      cmp.Or(cfg.WakeCap, DefaultWakeCap),
		maxQueues:    max(cmp.Or(cfg.MaxQueues, DefaultMaxQueues), 0),
		maxSchedules: max(cmp.Or(cfg.MaxSchedules, DefaultMaxSchedules), 0),
		waitReplicas: cfg.WaitReplicas,
		waitTimeout:  cmp.Or(cfg.WaitTimeout, DefaultWaitTimeout),
		logLines:     cmp.Or(cfg.LogLines, DefaultLogLines),
		logLineBytes: cmp.Or(cfg.LogLineBytes, DefaultLogLineBytes),
	}
	if _, cluster := rdb.(*redis.ClusterClient); !cluster {
		c.watch = c.keys.watchChannel()
	}
	c.submits.run, c.submits.chunk = c.submitBatch, submitChunk
	c.pipeSubmits.run, c.pipeSubmits.chunk = c.luaPipelineSubmit, pipelineSubmitChunk
	c.leaseCompletions.run, c.leaseCompletions.chunk = c.completeLeaseBatch, completeLeaseChunk
	c.inputReads.run, c.inputReads.chunk = c.readInputs, inputsChunk
	if cfg.Tracer != nil {
		c.tracer = cfg.Tracer.Tracer(tracerName)
	}
	if err := c.scripts.preload(ctx, rdb); err != nil {
		return nil, storageErr(err)
	}
	if err := c.checkLayout(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// checkLayout refuses a shard count other than the one the prefix's queue
// was created with: its jobs would be in keys this client never looks at.
// The first client records the count in {P}:shards. A queue from before
// shards existed has its counters at {P}:counts and is a one-shard queue.
func (c *Client) checkLayout(ctx context.Context) error {
	want := len(c.shards)
	got, found, err := c.readLayout(ctx)
	if err != nil {
		return err
	}
	if !found {
		if want > 1 {
			n, err := c.rdb.Exists(ctx, c.keys.counts()).Result()
			if err != nil {
				return storageErr(err)
			}
			if n > 0 {
				return c.layoutError(1) // an unsharded queue with jobs
			}
		}
		set, err := c.rdb.SetNX(ctx, c.keys.layout(), want, 0).Result()
		if err != nil || set {
			return storageErr(err)
		}
		// Another process recorded the count first (processes that start
		// together race here): its count is the queue's.
		if got, found, err = c.readLayout(ctx); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("layout key %s vanished right after it was written", c.keys.layout())
		}
	}
	if got != want {
		return c.layoutError(got)
	}
	return nil
}

// readLayout reads the recorded shard count; found is false when no
// process has recorded one yet.
func (c *Client) readLayout(ctx context.Context) (n int, found bool, err error) {
	n, err = c.rdb.Get(ctx, c.keys.layout()).Int()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, storageErr(err)
	}
	return n, true, nil
}

func (c *Client) layoutError(got int) error {
	return invalidf("prefix %s holds a queue of %d shard(s) (key %s); with %d this process would not see its jobs: "+
		"configure %d shard(s) (QUEUE_SHARDS), or drain the queue and delete that key, or use another prefix (docs/cluster.md)",
		c.keys.tag, got, c.keys.layout(), len(c.shards), got)
}

// Ping reports whether Redis answers.
func (c *Client) Ping(ctx context.Context) error {
	return storageErr(c.rdb.Ping(ctx).Err())
}
