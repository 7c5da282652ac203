package queue

import (
	"cmp"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// coalesceTimeout bounds one coalesced batch once it was handed to Redis;
// a caller whose own context ends stops waiting earlier.
const coalesceTimeout = 10 * time.Second

// coalescer merges concurrent calls of one kind into batches: while one
// batch is in flight, the calls that arrive wait and then go out together
// in one round trip and one script call per shard. A lone call goes out at
// once; under load N callers share one call instead of paying N. Concurrent
// Enqueue calls share submissions this way, concurrent SubmitPipeline calls
// theirs, concurrent CompleteLease and CompleteLeases calls their
// completions.
type coalescer[In, Out any] struct {
	// run does one batch and returns one outcome per input, in order.
	run func(ctx context.Context, in []In) []Out
	// chunk bounds the inputs of one batch; gatherFor, when not 0, stands
	// for coalesceGather.
	chunk     int
	gatherFor time.Duration

	mu      sync.Mutex
	waiting []*coalescedCall[In, Out]
	busy    bool // a flush goroutine is running
	// last is the callers of the last round: the inputs of the batch sent
	// last and those that arrived while it was out (sent, 0 when none is).
	last    int
	sent    int
	arrived chan struct{} // signalled, never blocking, when a call is added
}

// coalesceGather bounds how long a batch smaller than the last round
// waits for more calls: the callers of the batch before are likely about
// to call again (N producers in a loop). Without it, N producers split
// into two alternating batches (1 and N-1, 2 and N-2, ...), which a
// target of the last batch's size alone keeps apart for good: N HTTP
// clients of one apiserver settle in two cohorts, each paying a script
// call's fixed cost. A lone caller waits at most once, after a round of
// more: its own round is itself.
const coalesceGather = 200 * time.Microsecond

// coalescedCall is one input waiting for its outcome.
type coalescedCall[In, Out any] struct {
	in  In
	out Out
	req *coalescedRequest
}

// coalescedRequest is the inputs one do call handed over: done closes
// once the last of them has its outcome.
type coalescedRequest struct {
	left atomic.Int32
	done chan struct{}
}

// do hands ins over and returns their outcomes, in order, once every one
// is done; they may go out in several batches, beside other callers'.
func (co *coalescer[In, Out]) do(ctx context.Context, ins []In) ([]Out, error) {
	if len(ins) == 0 {
		return nil, nil
	}
	req := &coalescedRequest{done: make(chan struct{})}
	req.left.Store(int32(len(ins)))
	calls := make([]coalescedCall[In, Out], len(ins))
	co.mu.Lock()
	for i, in := range ins {
		calls[i] = coalescedCall[In, Out]{in: in, req: req}
		co.waiting = append(co.waiting, &calls[i])
	}
	if co.sent > 0 {
		co.last = min(max(co.last, co.sent+len(co.waiting)), co.chunk)
	}
	if co.arrived == nil {
		co.arrived = make(chan struct{}, 1)
	}
	if !co.busy {
		co.busy = true
		go co.flush()
	} else {
		select {
		case co.arrived <- struct{}{}:
		default:
		}
	}
	co.mu.Unlock()
	select {
	case <-req.done:
		out := make([]Out, len(calls))
		for i := range calls {
			out[i] = calls[i].out
		}
		return out, nil
	case <-ctx.Done():
		// The calls may still be made, as with any call cut short.
		return nil, ctx.Err()
	}
}

// flush sends the waiting calls, a batch at a time, until none is left.
func (co *coalescer[In, Out]) flush() {
	for {
		co.mu.Lock()
		if k := len(co.waiting); k > 0 && k < co.last {
			co.mu.Unlock()
			co.gather()
			co.mu.Lock()
		}
		n := min(len(co.waiting), co.chunk)
		if n == 0 { // (last stays: the round's callers are about to call again)
			co.busy = false
			co.mu.Unlock()
			return
		}
		co.last, co.sent = n, n
		batch := co.waiting[:n:n]
		co.waiting = co.waiting[n:]
		co.mu.Unlock()

		ins := make([]In, n)
		for i, call := range batch {
			ins[i] = call.in
		}
		ctx, cancel := context.WithTimeout(context.Background(), coalesceTimeout)
		outs := co.run(ctx, ins)
		cancel()
		co.mu.Lock()
		co.sent = 0
		co.mu.Unlock()
		for i, call := range batch {
			call.out = outs[i]
			if call.req.left.Add(-1) == 0 {
				close(call.req.done)
			}
		}
	}
}

// gather waits up to coalesceGather for as many inputs as the last batch
// had.
func (co *coalescer[In, Out]) gather() {
	t := time.NewTimer(cmp.Or(co.gatherFor, coalesceGather))
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

// enqueueCoalesced submits p with whatever other calls are waiting.
func (c *Client) enqueueCoalesced(ctx context.Context, p EnqueueParams) (*Enqueued, error) {
	res, err := c.submits.do(ctx, []EnqueueParams{p})
	if err != nil {
		return nil, err
	}
	return res[0].Job, res[0].Err
}

// submitBatch is the submits coalescer's batch: one EnqueueBatch.
func (c *Client) submitBatch(ctx context.Context, params []EnqueueParams) []BatchResult {
	res, err := c.EnqueueBatch(ctx, params)
	if err != nil {
		res = make([]BatchResult, len(params))
		for i := range res {
			res[i].Err = err
		}
	}
	return res
}
