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
	"syscall"
	"time"

	"github.com/google/uuid"
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
}

// Client is the engine's entry point: submits, reads and moves jobs. It is
// safe for concurrent use and holds no job state of its own.
type Client struct {
	rdb     redis.UniversalClient
	keys    keyspace
	scripts *scripts
	wakeCap int
	// waitReplicas and waitTimeout: Config.WaitReplicas and WaitTimeout.
	waitReplicas int
	waitTimeout  time.Duration

	coalesce coalescer
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
	if cfg.WaitReplicas < 0 || cfg.WaitTimeout < 0 {
		return nil, invalidf("wait replicas %d, timeout %s: must not be negative", cfg.WaitReplicas, cfg.WaitTimeout)
	}
	c := &Client{
		rdb:          rdb,
		keys:         newKeyspace(prefix),
		scripts:      loadScripts(),
		wakeCap:      cmp.Or(cfg.WakeCap, DefaultWakeCap),
		waitReplicas: cfg.WaitReplicas,
		waitTimeout:  cmp.Or(cfg.WaitTimeout, DefaultWaitTimeout),
	}
	if err := c.scripts.preload(ctx, rdb); err != nil {
		return nil, storageErr(err)
	}
	return c, nil
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

// storageErr translates go-redis errors at the storage edge: redis.Nil
// becomes ErrJobNotFound, failures to reach Redis wrap ErrUnavailable.
func storageErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return ErrJobNotFound
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
	// One submit.lua call per queue and chunk: the script writes a
	// queue's shared keys once per call.
	type call struct {
		idx  []int
		ids  []string
		keys []string
		args []any
	}
	var calls []*call
	open := map[string]*call{}
	for i := range params {
		p := &params[i]
		if err := p.Validate(); err != nil {
			out[i].Err = err
			continue
		}
		cl := open[p.Queue]
		if cl == nil || len(cl.idx) == submitChunk {
			cl = &call{
				keys: []string{c.keys.pending(p.Queue), c.keys.scheduled(p.Queue), c.keys.counts(),
					c.keys.queues(), c.keys.seq(), c.keys.wake(p.Queue)},
				args: []any{p.Queue, c.keys.eventsChannel(), c.wakeCap},
			}
			open[p.Queue] = cl
			calls = append(calls, cl)
		}
		id := uuid.NewString()
		runAt := int64(0)
		if !p.RunAt.IsZero() {
			runAt = p.RunAt.UnixMilli()
		}
		uk := c.keys.job(id)
		if p.UniqueKey != "" {
			uk = c.keys.unique(p.UniqueKey)
		}
		cl.idx = append(cl.idx, i)
		cl.ids = append(cl.ids, id)
		cl.keys = append(cl.keys, c.keys.job(id), uk)
		cl.args = append(cl.args, id, p.Type, string(p.Payload), p.Priority, *p.MaxRetries,
			p.Timeout.Milliseconds(), runAt, p.UniqueKey)
	}
	valid := 0
	for _, cl := range calls {
		valid += len(cl.idx)
	}
	for attempt := 0; len(calls) > 0; attempt++ {
		pipe, err := c.writePipeline(ctx)
		if err != nil {
			return nil, err
		}
		cmds := make([]*redis.Cmd, len(calls))
		for i, cl := range calls {
			cmds[i] = c.scripts.submit.EvalSha(ctx, pipe, cl.keys, cl.args...)
		}
		var wait *redis.Cmd
		if c.waitReplicas > 0 {
			// Pipeliner has no Wait; the read timeout of the connection
			// must exceed waitTimeout (redisconn checks it).
			wait = pipe.Do(ctx, "wait", c.waitReplicas, c.waitTimeout.Milliseconds())
		}
		_, _ = pipe.Exec(ctx)
		replicated := c.replicated(wait)
		var retry []*call
		for i, cl := range calls {
			res, err := cmds[i].Slice()
			switch {
			case isNoScript(err) && attempt == 0:
				retry = append(retry, cl)
				continue
			case err != nil:
				err = storageErr(err)
				if errors.Is(err, ErrUnavailable) && valid == len(params) {
					return nil, err
				}
				for _, idx := range cl.idx {
					out[idx].Err = err
				}
				continue
			}
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
	return out, nil
}

// writePipeline is the pipeline a state change is sent in. With
// WaitReplicas it must end with WAIT on the very connection that wrote:
// WAIT counts the replicas that have this connection's writes. A single
// node's or a failover client's pipeline runs on one connection; a
// cluster client would send the keyless WAIT to any master, so the
// pipeline goes to the master of the prefix's slot (every key of the
// prefix lives there) directly.
func (c *Client) writePipeline(ctx context.Context) (redis.Pipeliner, error) {
	if cc, ok := c.rdb.(*redis.ClusterClient); ok && c.waitReplicas > 0 {
		node, err := cc.MasterForKey(ctx, c.keys.counts())
		if err != nil {
			return nil, storageErr(err)
		}
		return node.Pipeline(), nil
	}
	return c.rdb.Pipeline(), nil
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
	h, err := c.rdb.HGetAll(ctx, c.keys.job(id)).Result()
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
		cmds[i] = pipe.HGetAll(ctx, c.keys.job(id))
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
	vals, err := c.rdb.HMGet(ctx, c.keys.job(id), fields...).Result()
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
	res, err := c.eval(ctx, c.scripts.cancel,
		[]string{c.keys.job(id), c.keys.counts(), c.keys.pending(q), c.keys.scheduled(q),
			c.keys.retrying(q), c.keys.leases(), c.keys.typeRunning(), c.keys.typeLimits(),
			c.keys.wake(q), c.keys.done(StateCancelled)},
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
	res, err := c.eval(ctx, c.scripts.restart,
		[]string{c.keys.job(id), c.keys.counts(), c.keys.done(StateFailed),
			c.keys.done(StateCancelled), c.keys.pending(q), c.keys.seq(), c.keys.wake(q)},
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
	uk := c.keys.job(id)
	if f[1] != "" {
		uk = c.keys.unique(f[1])
	}
	res, err := c.eval(ctx, c.scripts.delete,
		[]string{c.keys.job(id), c.keys.counts(), c.keys.done(StateCompleted),
			c.keys.done(StateFailed), c.keys.done(StateCancelled), uk}, id)
	if err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return scriptError(res, id, "deleted")
}

// SetTypeLimit sets the fleet-wide limit of running jobs of one type;
// limit <= 0 removes it.
func (c *Client) SetTypeLimit(ctx context.Context, jobType string, limit int) error {
	if limit <= 0 {
		return storageErr(c.rdb.HDel(ctx, c.keys.typeLimits(), jobType).Err())
	}
	return storageErr(c.rdb.HSet(ctx, c.keys.typeLimits(), jobType, limit).Err())
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

// Stats reads the per-state counters and the per-queue breakdown.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	pipe := c.rdb.Pipeline()
	counts := pipe.HGetAll(ctx, c.keys.counts())
	queues := pipe.SMembers(ctx, c.keys.queues())
	types := pipe.HGetAll(ctx, c.keys.typeRunning())
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	st := &Stats{Counts: make(map[State]int64), RunningByType: make(map[string]int64)}
	for _, s := range States() {
		st.Counts[s] = 0
	}
	for f, v := range counts.Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		st.Counts[State(f)] = n
	}
	for f, v := range types.Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		st.RunningByType[f] = n
	}
	names := queues.Val()
	slices.Sort(names)
	pipe = c.rdb.Pipeline()
	cards := make([][3]*redis.IntCmd, len(names))
	heads := make([]*redis.StringSliceCmd, len(names))
	for i, q := range names {
		cards[i] = [3]*redis.IntCmd{pipe.ZCard(ctx, c.keys.pending(q)),
			pipe.ZCard(ctx, c.keys.scheduled(q)), pipe.ZCard(ctx, c.keys.retrying(q))}
		heads[i] = pipe.ZRange(ctx, c.keys.pending(q), 0, 0)
	}
	if len(names) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, storageErr(err)
		}
	}
	for i, q := range names {
		st.Queues = append(st.Queues, QueueStats{Name: q, Pending: cards[i][0].Val(),
			Scheduled: cards[i][1].Val(), Retrying: cards[i][2].Val()})
	}
	if err := c.headAges(ctx, st.Queues, heads); err != nil {
		return nil, err
	}
	return st, nil
}

// headAges fills each queue's OldestPendingAge from the job at the head
// of its pending set: one pipelined read of the heads' times.
func (c *Client) headAges(ctx context.Context, qs []QueueStats, heads []*redis.StringSliceCmd) error {
	pipe := c.rdb.Pipeline()
	times := make([]*redis.SliceCmd, len(qs))
	for i := range qs {
		if ids := heads[i].Val(); len(ids) == 1 {
			times[i] = pipe.HMGet(ctx, c.keys.job(ids[0]), fCreatedAt, fRunAt)
		}
	}
	if pipe.Len() == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return storageErr(err)
	}
	now := time.Now()
	for i := range qs {
		if times[i] == nil {
			continue
		}
		var since time.Time // runnable since: run_at when it was scheduled, else created_at
		for _, v := range times[i].Val() {
			if s, ok := v.(string); ok {
				if t := msTime(s); t.After(since) {
					since = t
				}
			}
		}
		if !since.IsZero() {
			qs[i].OldestPendingAge = max(0, now.Sub(since).Seconds())
		}
	}
	return nil
}
