package queue

import (
	"cmp"
	"context"
	"fmt"
)

// Concurrent CompleteLease and CompleteLeases calls (an apiserver serving
// many HTTP workers) go out together through the Client's leaseCompletions
// coalescer: one round trip reads their jobs' lanes and one complete.lua
// call per shard completes them, as a Go worker acknowledges its finished
// runs together.

// completeLeaseChunk bounds the completions of one batch.
const completeLeaseChunk = 500

// MaxLeaseCompletions is the most completions one CompleteLeases call takes.
const MaxLeaseCompletions = 100

// LeaseCompletion is one run to complete through CompleteLeases: job ID
// held by the run of Token, with Result (JSON; "" for none).
type LeaseCompletion struct {
	ID, Token, Result string
}

// CompleteLeases completes each of runs as CompleteLease would, together,
// and returns each one's outcome (nil, *LeaseLostError, ErrJobNotFound or
// a storage error) in order. err is set only for the call as a whole
// (too many runs, ctx ended).
func (c *Client) CompleteLeases(ctx context.Context, runs []LeaseCompletion) ([]error, error) {
	if len(runs) > MaxLeaseCompletions {
		return nil, invalidf("completions: want at most %d", MaxLeaseCompletions)
	}
	in := make([]completeRun, len(runs))
	for i, r := range runs {
		in[i] = completeRun{id: r.ID, token: r.Token, result: r.Result}
	}
	return c.leaseCompletions.do(ctx, in)
}

// completeLeaseBatch is the leaseCompletions coalescer's batch: it reads
// the lanes of runs' jobs (their queue and type name the wake list a freed
// slot of a limited type is announced on) in one round trip, unless this
// Client leased them (leasedJobs), and completes those found in another.
func (c *Client) completeLeaseBatch(ctx context.Context, runs []completeRun) []error {
	out := make([]error, len(runs))
	var unknown []int // runs whose lanes must be read
	for i := range runs {
		r := &runs[i]
		if j, ok := c.leased.take(r.id); ok {
			r.queue, r.typ, r.pipeline, r.children, r.edges = j.queue, j.typ, j.pipeline, j.children, j.edges
		} else {
			unknown = append(unknown, i)
		}
	}
	if err := c.readLanes(ctx, runs, unknown, out); err != nil {
		for i := range out {
			out[i] = err
		}
		return out
	}
	var found []completeRun
	var at []int
	for i := range runs {
		if out[i] == nil {
			found = append(found, runs[i])
			at = append(at, i)
		}
	}
	if len(found) == 0 {
		return out
	}
	outs, err := c.completeAny(ctx, found)
	for k, i := range at {
		if err != nil {
			out[i] = err
		} else {
			out[i] = outs[k]
		}
	}
	return out
}

// readLanes reads the lanes and pipelines of runs[idx] in one round trip;
// out[i] is set for a job that is gone.
func (c *Client) readLanes(ctx context.Context, runs []completeRun, idx []int, out []error) error {
	if len(idx) == 0 {
		return nil
	}
	ids := make([]string, len(idx))
	for k, i := range idx {
		ids[k] = runs[i].id
	}
	f, err := c.fieldsOfMany(ctx, ids, fStatus, fQueue, fType, fPipeline, fChildren)
	if err != nil {
		return err
	}
	for k, i := range idx {
		r := &runs[i]
		if f[0][k] == "" {
			out[i] = fmt.Errorf("job %s: %w", r.id, ErrJobNotFound)
			continue
		}
		r.queue, r.typ = cmp.Or(f[1][k], DefaultQueue), f[2][k]
		if r.pipeline = f[3][k]; r.pipeline != "" && f[4][k] != "" { // stored before layout 3
			r.children, r.edges = decodeChildren(f[4][k]), true
		}
	}
	return nil
}
