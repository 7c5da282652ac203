package queue

import (
	"context"
	"errors"
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
// tells each run its own outcome. Runs whose shard could not be reached
// are retried as final retries a whole batch.
func (w *Worker) completeBatch(batch []*completion) {
	left := batch
	err := w.final(func(ctx context.Context) error {
		errs, err := w.c.completeRuns(ctx, left)
		if err != nil {
			return err
		}
		var again []*completion
		for i, c := range left {
			if errors.Is(errs[i], ErrUnavailable) {
				again = append(again, c)
				err = errs[i]
				continue
			}
			c.done <- errs[i]
		}
		left = again
		return err
	})
	for _, c := range left {
		c.done <- err
	}
}

// completeRuns is the engine half of completeBatch: one complete.lua call
// per shard holding some of the runs, in one round trip. The error is set
// when no call could be made at all.
func (c *Client) completeRuns(ctx context.Context, batch []*completion) ([]error, error) {
	groups := c.shards.group(len(batch), func(i int) string { return batch[i].r.job.ID })
	calls := make([]scriptCall, len(groups))
	for gi, g := range groups {
		k := c.shards[g.shard]
		keys := make([]string, 0, 5+2*len(g.idx))
		keys = append(keys, k.leases(), k.counts(), k.typeRunning(), k.typeLimits(),
			k.done(StateCompleted))
		args := make([]any, 0, 2+3*len(g.idx))
		args = append(args, c.keys.eventsChannel(), c.wakeCap)
		for _, i := range g.idx {
			j := batch[i].r.job
			keys = append(keys, k.job(j.ID), k.wake(j.Queue))
			args = append(args, j.ID, batch[i].r.token, batch[i].body)
		}
		calls[gi] = scriptCall{keys, args}
	}
	replies, callErrs := c.evalMany(ctx, c.scripts.complete, calls)
	errs := make([]error, len(batch))
	failed := 0
	for gi, g := range groups {
		idx := g.idx
		res, err := replies[gi], callErrs[gi]
		if err == nil && len(res) != 1+len(idx) {
			err = fmt.Errorf("complete: %d replies for %d runs", len(res)-1, len(idx))
		}
		if err != nil {
			failed++
			if failed == len(groups) {
				return nil, err
			}
			for _, i := range idx {
				errs[i] = err
			}
			continue
		}
		for k, i := range idx {
			row, _ := res[1+k].([]any)
			if len(row) == 0 {
				errs[i] = fmt.Errorf("complete %s: unexpected script reply %v", batch[i].r.job.ID, res[1+k])
				continue
			}
			errs[i] = scriptError(row, batch[i].r.job.ID, StateCompleted)
		}
	}
	return errs, nil
}
