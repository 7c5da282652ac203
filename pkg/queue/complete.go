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

// completer acknowledges the completions of a worker's runs in batches:
// each finished run hands its completion over and waits, and one
// complete.lua call acknowledges every run waiting (River's batch
// completer does the same). Alone, a run's completion goes out at once;
// under load one round trip completes many jobs. It is a service: Start
// and Stop it; while it does not run, each run acknowledges its own.
type completer struct {
	service
	in chan *completion
	// ack acknowledges a batch and tells each completion its outcome.
	ack func(batch []*completion)
}

func newCompleter(ack func(batch []*completion)) *completer {
	return &completer{in: make(chan *completion), ack: ack}
}

// Start starts the batching loop.
func (c *completer) Start(ctx context.Context) error { return c.start(ctx, nil, c.loop) }

// Stop ends the batching loop; later completions are acknowledged one by
// one by their runs.
func (c *completer) Stop() { c.stop(nil) }

func (c *completer) loop(ctx context.Context) {
	for {
		var batch []*completion
		select {
		case <-ctx.Done():
			return
		case comp := <-c.in:
			batch = append(batch, comp)
		}
		// Runs of one claim often finish together: yield a few times so
		// that those about to hand their completion over join this batch.
		// Only runnable goroutines run meanwhile; nothing sleeps.
		for yields := 0; len(batch) < maxCompleteBatch; {
			select {
			case comp := <-c.in:
				batch = append(batch, comp)
				continue
			default:
			}
			if yields == completeYields {
				break
			}
			yields++
			runtime.Gosched()
		}
		c.ack(batch)
	}
}

// submit hands comp to the batching loop and returns its outcome, or
// acknowledges it here when the loop does not run.
func (c *completer) submit(comp *completion) error {
	if stopped := c.stopped(); stopped != nil {
		select {
		case c.in <- comp:
			return <-comp.done
		case <-stopped:
		}
	}
	c.ack([]*completion{comp})
	return <-comp.done
}

// completeBatch acknowledges a batch as one final write (see final) and
// tells each run its own outcome. Runs whose shard could not be reached
// are retried as final retries a whole batch.
func (w *Worker) completeBatch(batch []*completion) {
	left := batch
	err := w.final(func(ctx context.Context) error {
		errs, err := w.c.completeAny(ctx, completeRuns(left))
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
		j := c.r.job
		runs[i] = completeRun{id: j.ID, queue: j.Queue, typ: j.Type, token: c.r.token, result: c.body,
			pipeline: j.Pipeline, children: j.children, edges: j.edges}
	}
	return runs
}
