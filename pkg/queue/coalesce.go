package queue

import (
	"context"
	"sync"
	"time"
)

// submitTimeout bounds one coalesced submission once it was handed to
// Redis; a caller whose own context ends stops waiting earlier.
const submitTimeout = 10 * time.Second

// coalescer merges concurrent Enqueue calls into EnqueueBatch calls: while
// one submission is in flight, the calls that arrive wait and then go out
// together in one round trip and one submit.lua call. A lone call goes out
// at once; under load N producers share one call instead of paying N.
type coalescer struct {
	mu      sync.Mutex
	waiting []*enqueueCall
	busy    bool          // a flush goroutine is running
	last    int           // calls in the batch sent last
	arrived chan struct{} // signalled, never blocking, when a call is added
}

// coalesceGather bounds how long a batch smaller than the one before it
// waits for more calls: the callers of the batch before are likely about
// to call again (N producers in a loop). Without it, N producers split
// into two alternating batches (1 and N-1, 2 and N-2, ...). A lone caller
// never waits: its batch is never smaller than its last.
const coalesceGather = 200 * time.Microsecond

type enqueueCall struct {
	p    EnqueueParams
	res  BatchResult
	done chan struct{}
}

// enqueueCoalesced submits p with whatever other calls are waiting.
func (c *Client) enqueueCoalesced(ctx context.Context, p EnqueueParams) (*Enqueued, error) {
	call := &enqueueCall{p: p, done: make(chan struct{})}
	co := &c.coalesce
	co.mu.Lock()
	co.waiting = append(co.waiting, call)
	if co.arrived == nil {
		co.arrived = make(chan struct{}, 1)
	}
	if !co.busy {
		co.busy = true
		go c.flushEnqueues()
	} else {
		select {
		case co.arrived <- struct{}{}:
		default:
		}
	}
	co.mu.Unlock()
	select {
	case <-call.done:
		return call.res.Job, call.res.Err
	case <-ctx.Done():
		// The job may still be submitted, as with any call cut short.
		return nil, ctx.Err()
	}
}

// flushEnqueues submits the waiting calls, a batch at a time, until none
// is left.
func (c *Client) flushEnqueues() {
	co := &c.coalesce
	for {
		co.mu.Lock()
		if k := len(co.waiting); k > 0 && k < co.last {
			co.mu.Unlock()
			c.gatherEnqueues()
			co.mu.Lock()
		}
		n := min(len(co.waiting), submitChunk)
		co.last = n
		if n == 0 {
			co.busy = false
			co.mu.Unlock()
			return
		}
		batch := co.waiting[:n:n]
		co.waiting = co.waiting[n:]
		co.mu.Unlock()

		params := make([]EnqueueParams, n)
		for i, call := range batch {
			params[i] = call.p
		}
		ctx, cancel := context.WithTimeout(context.Background(), submitTimeout)
		res, err := c.EnqueueBatch(ctx, params)
		cancel()
		for i, call := range batch {
			if err != nil {
				call.res.Err = err
			} else {
				call.res = res[i]
			}
			close(call.done)
		}
	}
}

// gatherEnqueues waits up to coalesceGather for as many calls as the last
// batch had.
func (c *Client) gatherEnqueues() {
	co := &c.coalesce
	t := time.NewTimer(coalesceGather)
	defer t.Stop()
	for {
		co.mu.Lock()
		enough := len(co.waiting) >= co.last
		co.mu.Unlock()
		if enough {
			return
		}
		select {
		case <-co.arrived:
		case <-t.C:
			return
		}
	}
}
