package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults and limits of submissions.
const (
	DefaultPrefix     = "jq"
	DefaultQueue      = "default"
	DefaultMaxRetries = 3
	MaxPriority       = 100
	MaxMaxRetries     = 100
	MaxTimeout        = 7 * 24 * time.Hour
	MaxUniqueKeyLen   = 256
	// DefaultWakeCap bounds each queue's wake list (see lua/lib.lua wake).
	DefaultWakeCap = 256
	// DefaultWaitTimeout bounds a submission's wait for its replicas
	// (Config.WaitReplicas).
	DefaultWaitTimeout = 100 * time.Millisecond
	// MaxShards bounds Config.Shards.
	MaxShards = 256
)

// ErrUnavailable wraps every error of reaching Redis (refused, reset,
// timed out): the caller may retry later; nothing was decided.
var ErrUnavailable = errors.New("redis unavailable")

// ErrNotReplicated is a submission that Redis applied but fewer replicas
// than Config.WaitReplicas acknowledged in time: the job exists on the
// master but may be lost if the master fails now. It is an ErrUnavailable
// (retry later; a unique key makes the retry safe).
var ErrNotReplicated = fmt.Errorf("%w: not acknowledged by enough replicas", ErrUnavailable)

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
	// Shards splits the jobs over that many hash tags, {P:s0} to
	// {P:s<n-1>}, so that on a Redis Cluster they spread over the masters
	// (keys.go; docs/cluster.md). A job's shard follows from its id. Every
	// process of a deployment must use the same number. Default 1: one tag,
	// {P}, the unsharded layout. At most MaxShards.
	Shards int
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
	// maxQueues is Config.MaxQueues; 0 for no bound.
	maxQueues int
	// waitReplicas and waitTimeout: Config.WaitReplicas and WaitTimeout.
	waitReplicas int
	waitTimeout  time.Duration

	coalesce coalescer
	// nextShard spreads submissions over the shards in turn; limited
	// caches which types have a concurrency limit (limits.go).
	nextShard atomic.Uint32
	limited   limitedTypes
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
	if cfg.WaitReplicas < 0 || cfg.WaitTimeout < 0 {
		return nil, invalidf("wait replicas %d, timeout %s: must not be negative", cfg.WaitReplicas, cfg.WaitTimeout)
	}
	c := &Client{
		rdb:          rdb,
		keys:         newKeyspace(prefix),
		shards:       newShards(prefix, cfg.Shards),
		scripts:      loadScripts(),
		wakeCap:      cmp.Or(cfg.WakeCap, DefaultWakeCap),
		maxQueues:    max(cmp.Or(cfg.MaxQueues, DefaultMaxQueues), 0),
		waitReplicas: cfg.WaitReplicas,
		waitTimeout:  cmp.Or(cfg.WaitTimeout, DefaultWaitTimeout),
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

// Redis returns the client's Redis connection.
func (c *Client) Redis() redis.UniversalClient { return c.rdb }

// Ping reports whether Redis answers.
func (c *Client) Ping(ctx context.Context) error {
	return storageErr(c.rdb.Ping(ctx).Err())
}

// eval runs a script, reloading the script cache once if Redis lost it.
func (c *Client) eval(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]any, error) {
	res, err := evalScript(ctx, c.rdb, s, keys, args...)
	if isNoScript(err) {
		if err = c.scripts.preload(ctx, c.rdb); err == nil {
			res, err = evalScript(ctx, c.rdb, s, keys, args...)
		}
	}
	return res, storageErr(err)
}

// scriptCall is one call of evalMany.
type scriptCall struct {
	keys []string
	args []any
}

// evalMany runs one script several times (on several shards) in one
// pipelined round trip, reloading the script cache once if Redis lost it.
// Each call gets its own reply or error.
func (c *Client) evalMany(ctx context.Context, s *redis.Script, calls []scriptCall) ([][]any, []error) {
	if len(calls) == 1 {
		res, err := c.eval(ctx, s, calls[0].keys, calls[0].args...)
		return [][]any{res}, []error{err}
	}
	out, errs := make([][]any, len(calls)), make([]error, len(calls))
	for attempt := 0; ; attempt++ {
		pipe := c.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(calls))
		for i, cl := range calls {
			cmds[i] = s.EvalSha(ctx, pipe, cl.keys, cl.args...)
		}
		_, _ = pipe.Exec(ctx)
		reload := false
		for i, cmd := range cmds {
			out[i], errs[i] = cmd.Slice()
			if isNoScript(errs[i]) {
				reload = true
			} else if errs[i] == nil && len(out[i]) == 0 {
				errs[i] = fmt.Errorf("lua script returned an empty reply")
			}
			errs[i] = storageErr(errs[i])
		}
		if !reload || attempt > 0 {
			return out, errs
		}
		if err := c.scripts.preload(ctx, c.rdb); err != nil {
			for i := range errs {
				errs[i] = storageErr(err)
			}
			return out, errs
		}
	}
}

// storageErr translates go-redis errors at the storage edge: failures to
// reach Redis wrap ErrUnavailable. A nil reply (redis.Nil) is not an
// error of its own: callers that expect one (a missing job, a missing
// key) test for it before they get here and say what was missing; one
// that reaches storageErr is a bug, reported as such rather than as a
// missing job.
func storageErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("unexpected nil reply from redis: %w", err)
	case isConnErr(err):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

func isConnErr(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		isLoading(err)
}

// isLoading: Redis is up but still reading its AOF/RDB.
func isLoading(err error) bool {
	return err != nil && len(err.Error()) >= 7 && err.Error()[:7] == "LOADING"
}

var namePattern = charPattern{max: 64}               // ^[A-Za-z0-9_.-]{1,64}$
var typePattern = charPattern{max: 128, colon: true} // ^[A-Za-z0-9_.:-]{1,128}$

// EnqueueParams describes one job to submit.
type EnqueueParams struct {
	// Type selects the handler; required, 1-128 of [A-Za-z0-9_.:-].
	Type string
	// Payload is the handler's input, a JSON value. Default {}.
	Payload json.RawMessage
	// Queue, default DefaultQueue; 1-64 of [A-Za-z0-9_.-].
	Queue string
	// Priority within the queue, 0-MaxPriority; higher runs first.
	Priority int
	// MaxRetries is how many runs may follow a failed first run; nil means
	// DefaultMaxRetries.
	MaxRetries *int
	// Timeout bounds each run; 0 means none.
	Timeout time.Duration
	// RunAt schedules the job; zero or past means now.
	RunAt time.Time
	// UniqueKey, when set, refuses a second job with the same key while the
	// first one's record exists (ErrDuplicate).
	UniqueKey string
	// Owner, when set, is the submitter whose quota of unfinished jobs
	// counts the job (quota.go); it is recorded in the same round trip.
	Owner string
}

// Validate checks p and fills its defaults.
func (p *EnqueueParams) Validate() error {
	if !typePattern.MatchString(p.Type) {
		return invalidf("type %q: want 1-128 of [A-Za-z0-9_.:-]", p.Type)
	}
	p.Queue = cmp.Or(p.Queue, DefaultQueue)
	if !namePattern.MatchString(p.Queue) {
		return invalidf("queue %q: want 1-64 of [A-Za-z0-9_.-]", p.Queue)
	}
	if len(p.Payload) == 0 {
		p.Payload = json.RawMessage(`{}`)
	} else if !json.Valid(p.Payload) {
		return invalidf("payload is not valid JSON")
	}
	if p.Priority < 0 || p.Priority > MaxPriority {
		return invalidf("priority %d: want 0-%d", p.Priority, MaxPriority)
	}
	if p.MaxRetries == nil {
		n := DefaultMaxRetries
		p.MaxRetries = &n
	} else if *p.MaxRetries < 0 || *p.MaxRetries > MaxMaxRetries {
		return invalidf("max_retries %d: want 0-%d", *p.MaxRetries, MaxMaxRetries)
	}
	if p.Timeout < 0 || p.Timeout > MaxTimeout {
		return invalidf("timeout %s: want 0-%s", p.Timeout, MaxTimeout)
	}
	if len(p.UniqueKey) > MaxUniqueKeyLen {
		return invalidf("unique_key longer than %d bytes", MaxUniqueKeyLen)
	}
	return nil
}

// Enqueued is the outcome of one submission.
type Enqueued struct {
	ID        string
	Status    State
	CreatedAt time.Time
}

// Enqueue submits one job. A duplicate unique key returns *DuplicateError.
// Concurrent calls share round trips (see coalescer).
func (c *Client) Enqueue(ctx context.Context, p EnqueueParams) (*Enqueued, error) {
	return c.enqueueCoalesced(ctx, p)
}

// BatchResult is one submission's outcome in EnqueueBatch.
type BatchResult struct {
	Job *Enqueued
	Err error
}

// submitChunk bounds the jobs one submit.lua call takes, so that one call
// keeps Redis busy for at most about a millisecond.
const submitChunk = 128

// EnqueueBatch submits many jobs in one round trip. Each job is atomic on
// its own; the returned slice matches params by index. The error is set
// only when Redis could not be reached at all.
func (c *Client) EnqueueBatch(ctx context.Context, params []EnqueueParams) ([]BatchResult, error) {
	out := make([]BatchResult, len(params))
	// One submit.lua call per queue, shard and chunk: the script writes a
	// queue's shared keys once per call. Jobs go to one shard per batch
	// (in turn across batches), except a job with a unique key, which goes
	// to its key's shard, and one of a limited type (its type's shard).
	type call struct {
		idx  []int
		ids  []string
		keys []string
		args []any
		pipe *writePipe
	}
	type group struct {
		queue string
		shard int
	}
	var calls []*call
	open := map[group]*call{}
	owned := map[string][]string{} // owner → the ids of its jobs
	base := c.batchShard()
	for i := range params {
		p := &params[i]
		if err := p.Validate(); err != nil {
			out[i].Err = err
			continue
		}
		n, err := c.submitShard(ctx, p, base)
		if err != nil {
			return nil, err
		}
		k := c.shards[n]
		cl := open[group{p.Queue, n}]
		if cl == nil || len(cl.idx) == submitChunk {
			cl = &call{
				keys: []string{k.pending(p.Queue), k.scheduled(p.Queue), k.counts(),
					k.queues(), k.seq(), k.wake(p.Queue)},
				args: []any{p.Queue, c.keys.eventsChannel(), c.wakeCap, c.maxQueues},
			}
			open[group{p.Queue, n}] = cl
			calls = append(calls, cl)
		}
		id := c.shards.newID(n)
		runAt := int64(0)
		if !p.RunAt.IsZero() {
			runAt = p.RunAt.UnixMilli()
		}
		uk := k.job(id)
		if p.UniqueKey != "" {
			uk = k.unique(p.UniqueKey)
		}
		if p.Owner != "" {
			owned[p.Owner] = append(owned[p.Owner], id)
		}
		cl.idx = append(cl.idx, i)
		cl.ids = append(cl.ids, id)
		cl.keys = append(cl.keys, k.job(id), uk)
		cl.args = append(cl.args, id, p.Type, string(p.Payload), p.Priority, *p.MaxRetries,
			p.Timeout.Milliseconds(), runAt, p.UniqueKey)
	}
	valid := 0
	for _, cl := range calls {
		valid += len(cl.idx)
	}
	for attempt := 0; len(calls) > 0; attempt++ {
		w := c.newWrite()
		cmds := make([]*redis.Cmd, len(calls))
		for i, cl := range calls {
			var err error
			if cl.pipe, err = w.pipeFor(ctx, cl.keys[0]); err != nil {
				return nil, err
			}
			cmds[i] = c.scripts.submit.EvalSha(ctx, cl.pipe.Pipeliner, cl.keys, cl.args...)
		}
		if attempt == 0 {
			if err := c.recordOwned(ctx, w, owned); err != nil {
				return nil, err
			}
		}
		w.exec(ctx)
		var retry []*call
		for i, cl := range calls {
			res, err := cmds[i].Slice()
			switch {
			case isNoScript(err) && attempt == 0:
				retry = append(retry, cl)
				continue
			case err != nil:
				err = storageErr(err)
				for _, idx := range cl.idx {
					out[idx].Err = err
				}
				continue
			}
			if code, _ := res[0].(int64); code != codeOK { // the queue registry is full
				err := fmt.Errorf("queue %s: %w", params[cl.idx[0]].Queue, scriptError(res, "", StatePending))
				for _, idx := range cl.idx {
					out[idx].Err = err
				}
				continue
			}
			replicated := c.replicated(cl.pipe.wait)
			created, _ := res[1].(string)
			for k, idx := range cl.idx {
				var row []any
				if len(res) > 2+k {
					row, _ = res[2+k].([]any)
				}
				if len(row) == 0 {
					out[idx].Err = fmt.Errorf("submit %s: unexpected script reply %v", cl.ids[k], res)
					continue
				}
				if err := scriptError(row, cl.ids[k], StatePending); err != nil {
					var dup *DuplicateError
					if errors.As(err, &dup) {
						dup.UniqueKey = params[idx].UniqueKey
					}
					out[idx].Err = err
					continue
				}
				status, _ := row[1].(string)
				out[idx].Job = &Enqueued{ID: cl.ids[k], Status: State(status), CreatedAt: msTime(created)}
				if replicated != nil {
					out[idx].Err = fmt.Errorf("submit %s: %w", cl.ids[k], replicated)
				}
			}
		}
		if len(retry) > 0 {
			if err := c.scripts.preload(ctx, c.rdb); err != nil {
				return nil, storageErr(err)
			}
		}
		calls = retry
	}
	if valid > 0 && valid == len(params) {
		// Every job failed to reach Redis: say so once, as one error.
		var err error
		for i := range out {
			if out[i].Err == nil || !errors.Is(out[i].Err, ErrUnavailable) || errors.Is(out[i].Err, ErrNotReplicated) {
				return out, nil
			}
			err = out[i].Err
		}
		return nil, err
	}
	return out, nil
}

// write is where one submission's script calls go: a single pipeline, or,
// when WAIT is asked for on a cluster, one pipeline per master, each
// ending with WAIT on the connection that wrote (WAIT counts the replicas
// that have this connection's writes; a cluster client would send the
// keyless WAIT to any master).
type write struct {
	c     *Client
	pipes map[string]*writePipe // by master address ("" without WAIT on a cluster)
}

type writePipe struct {
	redis.Pipeliner
	wait *redis.Cmd // WAIT at its end, with Config.WaitReplicas
}

func (c *Client) newWrite() *write { return &write{c: c, pipes: map[string]*writePipe{}} }

// pipeFor is the pipeline for a script call whose first key is key.
func (w *write) pipeFor(ctx context.Context, key string) (*writePipe, error) {
	addr, pipeline := "", w.c.rdb.Pipeline
	if cc, cluster := w.c.rdb.(*redis.ClusterClient); cluster && w.c.waitReplicas > 0 {
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, storageErr(err)
		}
		addr, pipeline = node.Options().Addr, node.Pipeline
	}
	p := w.pipes[addr]
	if p == nil {
		p = &writePipe{Pipeliner: pipeline()}
		w.pipes[addr] = p
	}
	return p, nil
}

// exec sends every pipeline (at once when there are several); each
// command's own result tells how it went.
func (w *write) exec(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range w.pipes {
		if w.c.waitReplicas > 0 {
			// Pipeliner has no Wait; the read timeout of the connection
			// must exceed waitTimeout (redisconn checks it).
			p.wait = p.Do(ctx, "wait", w.c.waitReplicas, w.c.waitTimeout.Milliseconds())
		}
		if len(w.pipes) == 1 { // the usual case: no goroutine on the hot path
			_, _ = p.Exec(ctx)
			return
		}
		wg.Go(func() { _, _ = p.Exec(ctx) })
	}
	wg.Wait()
}

// replicated tells why a WAIT at the end of a write pipeline fell short:
// nil when there was none or enough replicas acknowledged.
func (c *Client) replicated(wait *redis.Cmd) error {
	if wait == nil {
		return nil
	}
	n, err := wait.Int64()
	if err != nil {
		return fmt.Errorf("%w: WAIT: %v", ErrNotReplicated, err)
	}
	if n < int64(c.waitReplicas) {
		return fmt.Errorf("%w: %d of %d replicas within %s", ErrNotReplicated, n, c.waitReplicas, c.waitTimeout)
	}
	return nil
}

// Get reads one job.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	h, err := c.rdb.HGetAll(ctx, c.shards.of(id).job(id)).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("job %s: %w", id, ErrJobNotFound)
	}
	return jobFromHash(id, h), nil
}

// GetMany reads several jobs in one round trip; missing jobs are nil.
func (c *Client) GetMany(ctx context.Context, ids []string) ([]*Job, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, c.shards.of(id).job(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	out := make([]*Job, len(ids))
	for i, cmd := range cmds {
		if h := cmd.Val(); len(h) > 0 {
			out[i] = jobFromHash(ids[i], h)
		}
	}
	return out, nil
}

// jobFields reads the fields a transition needs to name its keys.
func (c *Client) jobFields(ctx context.Context, id string, fields ...string) ([]string, error) {
	vals, err := c.rdb.HMGet(ctx, c.shards.of(id).job(id), fields...).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		if v == nil && i == 0 {
			return nil, fmt.Errorf("job %s: %w", id, ErrJobNotFound)
		}
		out[i], _ = v.(string)
	}
	return out, nil
}

// Cancel moves a pending, scheduled, retrying or running job to cancelled.
// A running job is cancelled in Redis at once and its handler is stopped
// on whichever worker runs it. A finished job gives *TransitionError.
func (c *Client) Cancel(ctx context.Context, id string) error {
	f, err := c.jobFields(ctx, id, fStatus, fQueue)
	if err != nil {
		return err
	}
	q := cmp.Or(f[1], DefaultQueue) // not stored when it is the default
	k := c.shards.of(id)
	res, err := c.eval(ctx, c.scripts.cancel,
		[]string{k.job(id), k.counts(), k.pending(q), k.scheduled(q),
			k.retrying(q), k.leases(), k.typeRunning(), k.typeLimits(),
			k.wake(q), k.done(StateCancelled)},
		id, q, c.keys.eventsChannel(), c.keys.cancelChannel(), c.wakeCap)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, err)
	}
	return scriptError(res, id, StateCancelled)
}

// Restart moves a failed or cancelled job back to pending under the same
// id, resetting its run history. Other states give *TransitionError.
func (c *Client) Restart(ctx context.Context, id string) error {
	f, err := c.jobFields(ctx, id, fStatus, fQueue)
	if err != nil {
		return err
	}
	q := cmp.Or(f[1], DefaultQueue) // not stored when it is the default
	k := c.shards.of(id)
	res, err := c.eval(ctx, c.scripts.restart,
		[]string{k.job(id), k.counts(), k.done(StateFailed),
			k.done(StateCancelled), k.pending(q), k.seq(), k.wake(q), k.queues()},
		id, q, c.keys.eventsChannel(), c.wakeCap)
	if err != nil {
		return fmt.Errorf("restart %s: %w", id, err)
	}
	return scriptError(res, id, StatePending)
}

// Delete removes a finished job. Unfinished jobs give *TransitionError
// (cancel them first).
func (c *Client) Delete(ctx context.Context, id string) error {
	f, err := c.jobFields(ctx, id, fStatus, fUnique)
	if err != nil {
		return err
	}
	k := c.shards.of(id)
	uk := k.job(id)
	if f[1] != "" {
		uk = k.unique(f[1])
	}
	res, err := c.eval(ctx, c.scripts.delete,
		[]string{k.job(id), k.counts(), k.done(StateCompleted),
			k.done(StateFailed), k.done(StateCancelled), uk}, id)
	if err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return scriptError(res, id, "deleted")
}

// queueNames lists, sorted, every queue any shard has held a job of.
func (c *Client) queueNames(ctx context.Context) ([]string, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(c.shards))
	for i, k := range c.shards {
		cmds[i] = pipe.SMembers(ctx, k.queues())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	var names []string
	for _, cmd := range cmds {
		names = append(names, cmd.Val()...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// QueueStats is one queue's share of the jobs waiting.
type QueueStats struct {
	Name      string `json:"name"`
	Pending   int64  `json:"pending"`
	Scheduled int64  `json:"scheduled"`
	Retrying  int64  `json:"retrying"`
	// OldestPendingAge is how long the job next in line (the head of the
	// pending set: highest priority, then first submitted) has waited
	// since it became runnable, in seconds; 0 when none is pending.
	OldestPendingAge float64 `json:"oldest_pending_age_seconds"`
}

// Stats is the queue's state, read in O(queues) without scanning jobs.
type Stats struct {
	// Counts holds the number of jobs in each state.
	Counts map[State]int64
	// Queues breaks the waiting jobs down per queue, sorted by name.
	Queues []QueueStats
	// Running counts running jobs per type.
	RunningByType map[string]int64
}

// Stats reads the per-state counters and the per-queue breakdown, summed
// over the shards: two pipelined round trips (plus one for the heads' ages).
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	pipe := c.rdb.Pipeline()
	counts := make([]*redis.MapStringStringCmd, len(c.shards))
	queues := make([]*redis.StringSliceCmd, len(c.shards))
	types := make([]*redis.MapStringStringCmd, len(c.shards))
	for i, k := range c.shards {
		counts[i] = pipe.HGetAll(ctx, k.counts())
		queues[i] = pipe.SMembers(ctx, k.queues())
		types[i] = pipe.HGetAll(ctx, k.typeRunning())
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	st := &Stats{Counts: make(map[State]int64), RunningByType: make(map[string]int64)}
	for _, s := range States() {
		st.Counts[s] = 0
	}
	var names []string
	for i := range c.shards {
		for f, v := range counts[i].Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			st.Counts[State(f)] += n
		}
		for f, v := range types[i].Val() {
			n, _ := strconv.ParseInt(v, 10, 64)
			if n != 0 {
				st.RunningByType[f] += n
			}
		}
		names = append(names, queues[i].Val()...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	pipe = c.rdb.Pipeline()
	type queueCmds struct {
		cards [3]*redis.IntCmd
		head  *redis.StringSliceCmd
	}
	cmds := make([][]queueCmds, len(names)) // by queue, then shard
	for i, q := range names {
		cmds[i] = make([]queueCmds, len(c.shards))
		for n, k := range c.shards {
			cmds[i][n] = queueCmds{cards: [3]*redis.IntCmd{pipe.ZCard(ctx, k.pending(q)),
				pipe.ZCard(ctx, k.scheduled(q)), pipe.ZCard(ctx, k.retrying(q))},
				head: pipe.ZRange(ctx, k.pending(q), 0, 0)}
		}
	}
	if len(names) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, storageErr(err)
		}
	}
	var heads []string // every shard's head of every queue
	for i, q := range names {
		qs := QueueStats{Name: q}
		for _, qc := range cmds[i] {
			qs.Pending += qc.cards[0].Val()
			qs.Scheduled += qc.cards[1].Val()
			qs.Retrying += qc.cards[2].Val()
			heads = append(heads, qc.head.Val()...)
		}
		st.Queues = append(st.Queues, qs)
	}
	if err := c.headAges(ctx, st.Queues, heads); err != nil {
		return nil, err
	}
	return st, nil
}

// headAges fills each queue's OldestPendingAge from the jobs at the heads
// of its pending sets (one per shard): one pipelined read of their times.
func (c *Client) headAges(ctx context.Context, qs []QueueStats, heads []string) error {
	if len(heads) == 0 {
		return nil
	}
	pipe := c.rdb.Pipeline()
	times := make([]*redis.SliceCmd, len(heads))
	for i, id := range heads {
		times[i] = pipe.HMGet(ctx, c.shards.of(id).job(id), fQueue, fCreatedAt, fRunAt)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return storageErr(err)
	}
	now := time.Now()
	oldest := map[string]float64{}
	for _, t := range times {
		vals := t.Val()
		if len(vals) != 3 {
			continue
		}
		q, _ := vals[0].(string)
		q = cmp.Or(q, DefaultQueue)
		var since time.Time // runnable since: run_at when it was scheduled, else created_at
		for _, v := range vals[1:] {
			if s, ok := v.(string); ok {
				if t := msTime(s); t.After(since) {
					since = t
				}
			}
		}
		if !since.IsZero() {
			oldest[q] = max(oldest[q], now.Sub(since).Seconds())
		}
	}
	for i := range qs {
		qs[i].OldestPendingAge = oldest[qs[i].Name]
	}
	return nil
}
