package queue

import (
	"context"
	"fmt"
	"runtime"
)

// maxCompleteBatch bounds the runs one complete.lua call acknowledges.
const maxCompleteBatch = 128

// completeYields is how many times the completer yields the processor,
// once no completion is waiting, before it sends the batch it has.
const completeYields = 3

// completion is one run's request to be acknowledged as completed.
type completion struct {
	r    *run
	body string     // result JSON, "" for none
	done chan error // receives the outcome
}

// completeLoop acknowledges the completions of the worker's runs in
// batches: each finished run hands its completion over and waits, and one
// complete.lua call acknowledges every run waiting (River's batch
// completer does the same). Alone, a run's completion goes out at once;
// under load one round trip completes many jobs.
func (w *Worker) completeLoop(ctx context.Context) {
	defer close(w.completerDone)
	for {
		var batch []*completion
		select {
		case <-ctx.Done():
			return
		case c := <-w.completions:
			batch = append(batch, c)
		}
		// Runs of one claim often finish together: yield a few times so
		// that those about to hand their completion over join this batch.
		// Only runnable goroutines run meanwhile; nothing sleeps.
		for yields := 0; len(batch) < maxCompleteBatch; {
			select {
			case c := <-w.completions:
				batch = append(batch, c)
				continue
			default:
			}
			if yields == completeYields {
				break
			}
			yields++
			runtime.Gosched()
		}
		w.completeBatch(batch)
	}
}

// submitCompletion hands c to the completer, or acknowledges it here once
// the completer stopped (or in a Worker that was never started).
func (w *Worker) submitCompletion(c *completion) error {
	if w.completions != nil {
		select {
		case w.completions <- c:
			return <-c.done
		case <-w.completerDone:
		}
	}
	w.completeBatch([]*completion{c})
	return <-c.done
}

// completeBatch acknowledges a batch as one final write (see final) and
// tells each run its own outcome.
func (w *Worker) completeBatch(batch []*completion) {
	var errs []error
	err := w.final(func(ctx context.Context) error {
		var err error
		errs, err = w.c.completeRuns(ctx, batch)
		return err
	})
	for i, c := range batch {
		if err != nil {
			c.done <- err
		} else {
			c.done <- errs[i]
		}
	}
}

// completeRuns is the engine half of completeBatch: one complete.lua call.
// The error is set when the call failed as a whole.
func (c *Client) completeRuns(ctx context.Context, batch []*completion) ([]error, error) {
	keys := make([]string, 0, 5+2*len(batch))
	keys = append(keys, c.keys.leases(), c.keys.counts(), c.keys.typeRunning(), c.keys.typeLimits(),
		c.keys.done(StateCompleted))
	args := make([]any, 0, 2+3*len(batch))
	args = append(args, c.keys.eventsChannel(), c.wakeCap)
	for _, cp := range batch {
		j := cp.r.job
		keys = append(keys, c.keys.job(j.ID), c.keys.wake(j.Queue))
		args = append(args, j.ID, cp.r.token, cp.body)
	}
	res, err := c.eval(ctx, c.scripts.complete, keys, args...)
	if err != nil {
		return nil, err
	}
	if len(res) != 1+len(batch) {
		return nil, fmt.Errorf("complete: %d replies for %d runs", len(res)-1, len(batch))
	}
	errs := make([]error, len(batch))
	for i, cp := range batch {
		row, _ := res[1+i].([]any)
		if len(row) == 0 {
			errs[i] = fmt.Errorf("complete %s: unexpected script reply %v", cp.r.job.ID, res[1+i])
			continue
		}
		errs[i] = scriptError(row, cp.r.job.ID, StateCompleted)
	}
	return errs, nil
}
