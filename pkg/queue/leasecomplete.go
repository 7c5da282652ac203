package queue

import (
	"cmp"
	"context"
	"fmt"
	"sync"
)

// leaseCompleter merges concurrent CompleteLease calls (an apiserver
// serving many HTTP workers) into one round trip that reads their jobs'
// lanes and one complete.lua call per shard, as a Go worker acknowledges
// its finished runs together: while one batch is in flight, the calls
// that arrive wait and then go out together. A lone call goes out at once.
type leaseCompleter struct {
	mu      sync.Mutex
	waiting []*leaseCompletion
	busy    bool // a flush goroutine is running
}

type leaseCompletion struct {
	run  completeRun
	err  error
	done chan struct{}
}

// completeLeaseChunk bounds the completions of one batch.
const completeLeaseChunk = 500

// completeCoalesced completes run with whatever other calls are waiting.
func (c *Client) completeCoalesced(ctx context.Context, run completeRun) error {
	call := &leaseCompletion{run: run, done: make(chan struct{})}
	lc := &c.leaseCompleter
	lc.mu.Lock()
	lc.waiting = append(lc.waiting, call)
	if !lc.busy {
		lc.busy = true
		go c.flushLeaseCompletions()
	}
	lc.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		// The completion may still be made, as with any call cut short:
		// the client's retry is then answered by the idempotent repeat.
		return ctx.Err()
	}
}

// flushLeaseCompletions completes the waiting calls, a batch at a time,
// until none is left.
func (c *Client) flushLeaseCompletions() {
	lc := &c.leaseCompleter
	for {
		lc.mu.Lock()
		n := min(len(lc.waiting), completeLeaseChunk)
		if n == 0 {
			lc.busy = false
			lc.mu.Unlock()
			return
		}
		batch := lc.waiting[:n:n]
		lc.waiting = lc.waiting[n:]
		lc.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
		c.completeBatch(ctx, batch)
		cancel()
		for _, call := range batch {
			close(call.done)
		}
	}
}

// completeBatch reads the lanes of batch's jobs (their queue and type
// name the wake list a freed slot of a limited type is announced on) in
// one round trip, and completes those found in another.
func (c *Client) completeBatch(ctx context.Context, batch []*leaseCompletion) {
	ids := make([]string, len(batch))
	for i, call := range batch {
		ids[i] = call.run.id
	}
	f, err := c.fieldsOfMany(ctx, ids, fStatus, fQueue, fType)
	if err != nil {
		for _, call := range batch {
			call.err = err
		}
		return
	}
	var runs []completeRun
	var calls []*leaseCompletion
	for i, call := range batch {
		if f[0][i] == "" {
			call.err = fmt.Errorf("job %s: %w", call.run.id, ErrJobNotFound)
			continue
		}
		call.run.queue, call.run.typ = cmp.Or(f[1][i], DefaultQueue), f[2][i]
		runs = append(runs, call.run)
		calls = append(calls, call)
	}
	if len(runs) == 0 {
		return
	}
	outs, err := c.luaComplete(ctx, runs)
	for i, call := range calls {
		if err != nil {
			call.err = err
		} else {
			call.err = outs[i]
		}
	}
}
