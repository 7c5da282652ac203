package queue

import (
	"context"
	"errors"
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
		errs, err := w.c.luaComplete(ctx, completeRuns(left))
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

// completeRuns is what luaComplete needs of each completion.
func completeRuns(batch []*completion) []completeRun {
	runs := make([]completeRun, len(batch))
	for i, c := range batch {
		runs[i] = completeRun{id: c.r.job.ID, queue: c.r.job.Queue, token: c.r.token, result: c.body}
	}
	return runs
}
