package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Leases for workers that are not Go code linked to this package: a
// worker in any language takes jobs, extends, completes and fails them
// through these calls (the API's lease protocol), riding the same scripts
// and run tokens as a Go Worker. Nothing is kept in the calling process:
// any caller may make any call of any lease.

// Bounds of a lease taken through Lease.
const (
	MinLeaseDuration = 5 * time.Second
	MaxLeaseDuration = 300 * time.Second
	// MaxLeaseJobs is the most jobs one Lease call takes.
	MaxLeaseJobs = 100
)

// validWorkerID reports whether id may name a worker of the lease
// protocol: 1-128 of [A-Za-z0-9._:-], as a job type.
func validWorkerID(id string) bool { return typePattern.MatchString(id) }

// LeaseParams asks for jobs.
type LeaseParams struct {
	// WorkerID names the worker (1-128 of [A-Za-z0-9._:-]).
	WorkerID string
	// Types are the job types the worker runs; only these are taken.
	Types []string
	// Queues are the queues to take from, in order of preference. Nil
	// means every queue, ranked as one: by priority, then submission.
	Queues []string
	// Max is the most jobs to take (1-MaxLeaseJobs).
	Max int
	// Lease is how long each job is held without a heartbeat
	// (MinLeaseDuration-MaxLeaseDuration).
	Lease time.Duration
}

// Validate checks p as Lease does, so that a caller can refuse it before
// doing anything else.
func (p *LeaseParams) Validate() error {
	if !validWorkerID(p.WorkerID) {
		return invalidf("worker_id %q: want 1-128 of [A-Za-z0-9._:-]", p.WorkerID)
	}
	if len(p.Types) == 0 {
		return invalidf("types: want at least one job type")
	}
	for _, t := range p.Types {
		if err := CheckType(t); err != nil {
			return err
		}
	}
	for _, q := range p.Queues {
		if !namePattern.MatchString(q) {
			return invalidf("queue %q: want 1-64 of [A-Za-z0-9_.-]", q)
		}
	}
	if p.Max < 1 || p.Max > MaxLeaseJobs {
		return invalidf("max_jobs %d: want 1-%d", p.Max, MaxLeaseJobs)
	}
	if p.Lease < MinLeaseDuration || p.Lease > MaxLeaseDuration {
		return invalidf("lease_seconds %g: want %g-%g", p.Lease.Seconds(), MinLeaseDuration.Seconds(), MaxLeaseDuration.Seconds())
	}
	return nil
}

// Leased is a job taken by Lease: the job as it now is (running) and the
// token of its run, which every later call about the run must give.
type Leased struct {
	Job   *Job
	Token string
	// Inputs are the results of the job's parents in its pipeline, by
	// their keys; nil for a job without parents.
	Inputs map[string]json.RawMessage
	// TraceParent is the W3C trace context the worker continues: that of
	// this claim's span when the client traces, else the one stored with
	// the job; "" for an untraced job.
	TraceParent string
}

// LeaseResult is what one Lease call took.
type LeaseResult struct {
	Jobs []Leased
	// Blocked: runnable jobs were seen but none was taken — other workers
	// took them first, or their type is at its running limit, so a run
	// of the type ending may free one.
	Blocked bool
	// RetryAfter, when not 0, is how long until a type its rate limit
	// held back may start a job again: a waiting caller tries then.
	RetryAfter time.Duration
}

// Lease takes up to p.Max runnable jobs of p.Types for worker p.WorkerID,
// each held for p.Lease: they become running exactly as with a Go Worker.
// It returns at once, with none when none is runnable. A run token of a
// lease names its duration (LeaseOfToken), so that later calls about the
// run need not be told it again.
func (c *Client) Lease(ctx context.Context, p LeaseParams) (*LeaseResult, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p.Lease = p.Lease.Truncate(time.Second)
	suffix := "." + strconv.Itoa(int(p.Lease/time.Second))
	start := time.Now()
	var jobs []*Job
	var seen bool
	var wait time.Duration
	var err error
	if p.Queues == nil {
		jobs, seen, wait, err = c.claimAllQueues(ctx, p, suffix)
	} else {
		jobs, seen, wait, err = c.claimLanes(ctx, p.WorkerID, lanesOf(p.Queues, p.Types), p.Max, p.Lease, suffix)
	}
	if err != nil {
		return nil, err
	}
	c.leased.add(jobs)
	out := &LeaseResult{Jobs: make([]Leased, len(jobs)), Blocked: seen && len(jobs) == 0, RetryAfter: wait}
	// The jobs are taken: should their parents' results not be read, the
	// worker is told the error and the lease expires (and is recovered).
	inputs, err := c.inputsOf(ctx, jobs)
	if err != nil {
		return nil, err
	}
	for i, j := range jobs {
		out.Jobs[i] = Leased{Job: j, Token: j.token, Inputs: inputs[i],
			TraceParent: c.leaseTrace(ctx, j, p.WorkerID, start)}
	}
	return out, nil
}

// LeaseOfToken is the duration of the lease whose run token is token, as
// Lease made it ("<16 hex digits>.<seconds>"); ok is false for any other
// token.
func LeaseOfToken(token string) (d time.Duration, ok bool) {
	hexPart, secs, found := strings.Cut(token, ".")
	if !found || len(hexPart) != 16 || strings.Trim(hexPart, "0123456789abcdef") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(secs)
	if err != nil || strconv.Itoa(n) != secs {
		return 0, false
	}
	d = time.Duration(n) * time.Second
	return d, d >= MinLeaseDuration && d <= MaxLeaseDuration
}

// Announce records worker id, taking up to concurrency jobs at once of
// types from queues (nil: all) by protocol, in the registry of live
// workers (Workers) for ttl: it counts as active, and its types as
// served, until ttl passes without another Announce or a heartbeat of
// one of its leases.
func (c *Client) Announce(ctx context.Context, id, protocol string, types, queues []string, concurrency int, ttl time.Duration) error {
	if !validWorkerID(id) {
		return invalidf("worker_id %q: want 1-128 of [A-Za-z0-9._:-]", id)
	}
	return c.luaRegister(ctx, id, ttl, []any{"protocol", protocol, "types", strings.Join(types, ","),
		"queues", strings.Join(queues, ","), "concurrency", concurrency})
}

// touch keeps worker id's registry entry alive for ttl more, if it has
// one (a heartbeat says the worker lives, not what it serves).
func (c *Client) touch(ctx context.Context, id string, ttl time.Duration) error {
	return c.luaRegister(ctx, id, ttl, nil)
}

// HeartbeatLease extends the lease of the run holding job id (token) to
// lease from now. With progress, it also writes the job's progress and
// step exactly as a Go handler's progress does (one event). A run that no
// longer holds the job gets *LeaseLostError (with the job's status), a
// job that is gone ErrJobNotFound. The worker running it stays in the
// registry for ttl more.
func (c *Client) HeartbeatLease(ctx context.Context, id, token string, lease time.Duration, progress *float64, step string, ttl time.Duration) error {
	if progress != nil {
		if err := c.luaProgressOne(ctx, id, token, *progress, step, lease); err != nil {
			return err
		}
	} else {
		outs, err := c.luaExtend(ctx, lease, []runRef{{id: id, token: token}})
		if err != nil {
			return err
		}
		if outs[0] != nil {
			return outs[0]
		}
	}
	f, err := c.jobFields(ctx, id, fStatus, fWorker)
	if err != nil || f[1] == "" {
		return nil // the lease was extended; presence is best effort
	}
	_ = c.touch(ctx, f[1], ttl)
	return nil
}

// CompleteLease completes job id for the run holding it (token), with
// result (JSON; "" for none). Repeating it with the same token once it
// succeeded succeeds again and changes nothing; any other token gets
// *LeaseLostError. Concurrent calls share their round trips and script
// calls (leasecomplete.go).
func (c *Client) CompleteLease(ctx context.Context, id, token, result string) (err error) {
	ctx, end := c.startLeaseSpan(ctx, spanComplete, id)
	defer func() { end(err) }()
	errs, err := c.leaseCompletions.do(ctx, []completeRun{{id: id, token: token, result: result}})
	if err != nil {
		return err
	}
	return errs[0]
}

// FailLease fails the run holding job id (token) with message: the job
// retries after the Go Worker's backoff (RetryBackoff with the default
// delays) while it has attempts left and retryable is set, and fails
// otherwise. It returns the job's status after it; repeating it with the
// same token returns the job's status as it now is and changes nothing.
func (c *Client) FailLease(ctx context.Context, id, token, message string, retryable bool) (_ State, err error) {
	ctx, end := c.startLeaseSpan(ctx, spanFail, id)
	defer func() { end(err) }()
	f, err := c.jobFields(ctx, id, fStatus, fQueue, fType, fAttempts, fPipeline, fPipeKey)
	if err != nil {
		return "", err
	}
	attempts, _ := strconv.Atoi(f[3])
	j := &Job{ID: id, Queue: cmp.Or(f[1], DefaultQueue), Type: f[2], Pipeline: f[4], PipelineKey: f[5]}
	backoff := RetryBackoff(attempts, DefaultRetryBaseDelay, DefaultRetryMaxDelay)
	var to State
	if j.Pipeline != "" {
		to, err = c.failInPipeline(ctx, j, token, message, !retryable, backoff)
	} else {
		to, err = c.luaFail(ctx, j, token, message, !retryable, backoff)
	}
	if err != nil {
		return "", fmt.Errorf("fail %s: %w", id, err)
	}
	return to, nil
}
