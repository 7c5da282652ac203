package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"
)

// Defaults and limits of submissions.
const (
	DefaultQueue      = "default"
	DefaultMaxRetries = 3
	MaxPriority       = 100
	MaxMaxRetries     = 100
	MaxTimeout        = 7 * 24 * time.Hour
	MaxUniqueKeyLen   = 256
)

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
	// Deadline, when set, is when the job ends failed with
	// DeadlineExceeded unless it started: no claim takes it after it.
	// It must be ahead of now (and of RunAt).
	Deadline time.Time
	// UniqueKey, when set, refuses a second job with the same key while the
	// first one's record exists (ErrDuplicate).
	UniqueKey string
	// Owner, when set, is the submitter whose quota of unfinished jobs
	// counts the job (quota.go); it is recorded in the same round trip.
	Owner string
	// CallbackURL, when set, is POSTed the job's record when the job ends
	// (completed, failed for good or cancelled): deliveries.go. Only its
	// form is checked here; which hosts it may name is the caller's
	// policy (package webhook's Guard).
	CallbackURL string
	// TraceParent is the W3C traceparent of the submitting request's
	// span, stored with the job so that its run joins the trace; Enqueue
	// fills it from ctx when the caller left it empty (tracing.go).
	TraceParent string
}

// MaxCallbackURLLen bounds a callback URL.
const MaxCallbackURLLen = 2048

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
	if !p.Deadline.IsZero() && !p.Deadline.After(time.Now()) {
		return invalidf("deadline %s has passed", p.Deadline.UTC().Format(time.RFC3339Nano))
	}
	if !p.Deadline.IsZero() && !p.RunAt.IsZero() && !p.Deadline.After(p.RunAt) {
		return invalidf("deadline %s is not after run_at %s: the job could never start",
			p.Deadline.UTC().Format(time.RFC3339Nano), p.RunAt.UTC().Format(time.RFC3339Nano))
	}
	if len(p.UniqueKey) > MaxUniqueKeyLen {
		return invalidf("unique_key longer than %d bytes", MaxUniqueKeyLen)
	}
	return p.validateCallback()
}

// validateCallback checks the callback URL's form (ValidateCallbackURL).
func (p *EnqueueParams) validateCallback() error {
	return ValidateCallbackURL(p.CallbackURL)
}

// ValidateCallbackURL checks a callback URL's form: "" (none), or an
// absolute http or https URL with a host and no credentials, of at most
// MaxCallbackURLLen bytes. An invalid one wraps ErrInvalid.
func ValidateCallbackURL(callback string) error {
	if callback == "" {
		return nil
	}
	if len(callback) > MaxCallbackURLLen {
		return invalidf("callback_url longer than %d bytes", MaxCallbackURLLen)
	}
	u, err := url.Parse(callback)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return invalidf("callback_url %q: want an absolute http:// or https:// URL without credentials", callback)
	}
	return nil
}

// moreFields is the job's further hash fields as submit.lua takes them: a
// JSON object, or "" when the job has none (the common case costs the
// script nothing).
func (p *EnqueueParams) moreFields() string {
	if p.CallbackURL == "" && p.TraceParent == "" {
		return ""
	}
	m := make(map[string]string, 2)
	if p.CallbackURL != "" {
		m[fCallback] = p.CallbackURL
	}
	if p.TraceParent != "" {
		m[fTrace] = p.TraceParent
	}
	b, _ := json.Marshal(m) // strings only: cannot fail
	return string(b)
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
	ctx, end := c.startSubmitSpan(ctx, 1)
	if p.TraceParent == "" {
		p.TraceParent = traceParentOf(ctx)
	}
	e, err := c.enqueueCoalesced(ctx, p)
	end(err)
	return e, err
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
func (c *Client) EnqueueBatch(ctx context.Context, params []EnqueueParams) (res []BatchResult, err error) {
	ctx, end := c.startSubmitSpan(ctx, len(params))
	defer func() { end(err) }()
	if tp := traceParentOf(ctx); tp != "" {
		for i := range params {
			params[i].TraceParent = cmp.Or(params[i].TraceParent, tp)
		}
	}
	out := make([]BatchResult, len(params))
	calls, err := c.planSubmit(ctx, params, out)
	if err != nil {
		return nil, err
	}
	valid := 0
	for i, res := range c.luaSubmit(ctx, calls, owners(calls)) {
		for k, r := range res {
			out[calls[i].jobs[k].at] = r
			valid++
		}
	}
	if valid == len(params) {
		if err := allUnavailable(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// planSubmit validates params (filling their defaults; the invalid ones
// get their error in out) and groups the valid ones into submit.lua calls:
// one per queue, shard and chunk, as the script writes a queue's shared
// keys once per call. Jobs go to one shard per batch (in turn across
// batches), except a job with a unique key, which goes to its key's
// shard, and one of a limited type (its type's shard). Each job gets its
// id here, one that hashes to its shard.
func (c *Client) planSubmit(ctx context.Context, params []EnqueueParams, out []BatchResult) ([]*submitCall, error) {
	type group struct {
		queue string
		shard int
	}
	var calls []*submitCall
	open := map[group]*submitCall{}
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
		cl := open[group{p.Queue, n}]
		if cl == nil || len(cl.jobs) == submitChunk {
			cl = &submitCall{shard: n, queue: p.Queue}
			open[group{p.Queue, n}] = cl
			calls = append(calls, cl)
		}
		cl.jobs = append(cl.jobs, submitJob{at: i, id: c.shards.newID(n), p: p})
	}
	return calls, nil
}

// owners is the ids of the jobs of each owner in calls (for the quotas'
// owned sets).
func owners(calls []*submitCall) map[string][]string {
	owned := map[string][]string{}
	for _, cl := range calls {
		for _, j := range cl.jobs {
			if j.p.Owner != "" {
				owned[j.p.Owner] = append(owned[j.p.Owner], j.id)
			}
		}
	}
	return owned
}

// allUnavailable is the error of a batch none of whose jobs reached Redis
// (said once, as one error), or nil when any did.
func allUnavailable(out []BatchResult) error {
	var err error
	for i := range out {
		if out[i].Err == nil || !errors.Is(out[i].Err, ErrUnavailable) || errors.Is(out[i].Err, ErrNotReplicated) {
			return nil
		}
		err = out[i].Err
	}
	return err
}
