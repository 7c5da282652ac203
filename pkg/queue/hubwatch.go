package queue

import (
	"context"
	"sync"
	"time"
)

// A job event costs the script that makes it about a tenth of a claim's
// or a completion's work (the event's bytes hashed twice in Lua, then
// published), and most jobs are watched by no one. So the hot scripts
// (claim, complete, progress) publish job events only while some Hub has
// subscribers: a Hub listens on its client's watch channel (keys.go
// watchChannel) while it has any — SSE streams, long polls, waiting lease
// calls — and the scripts ask Redis for that channel's subscriber count
// once per call (lua/lib.lua watched). Every running Hub also listens on
// the hubs channel, so that a listener of the events channel that is no
// such Hub (one from an older release, a client of the channel's own) is
// told apart, and counts as watching all the time: processes of two
// releases may run side by side.
//
// No change a subscriber follows goes unpublished: Subscribe returns only
// once the watch subscription is confirmed, and a subscriber reads the
// state it follows after subscribing. When the Hub's connection is lost
// and regained, the watch subscription comes back with the events' and
// each confirmation sends subscribers a Resync. A Hub with no subscriber
// stops listening after hubIdle; a Redis Cluster, whose nodes count only
// their own subscribers, has no watch channel and always publishes.

// hubIdle is how long a Hub without subscribers keeps listening on the
// watch channel: long polls come and go, and each new listening costs a
// round trip to the first of them.
const hubIdle = 30 * time.Second

// attendTimeout bounds the wait for the watch subscription's confirmation.
const attendTimeout = 5 * time.Second

// attention is a Hub's state on the watch channel.
type attention struct {
	mu        sync.Mutex    // held by attend and unwatch, across their round trip
	listening bool          // the watch subscription is confirmed
	cmu       sync.Mutex    // guards confirm and idle, never across I/O
	confirm   chan struct{} // closed at the next confirmation
	idle      *time.Timer   // the pending unwatch
}

// attend makes sure the Hub listens on the watch channel; it reports
// false when that could not be confirmed (Redis unreachable), and the
// caller tells its subscriber events may be missed.
func (h *Hub) attend() bool {
	if h.listener.watch == "" {
		return true
	}
	a := &h.attention
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listening {
		return true
	}
	ps := h.listener.ps
	if ps == nil {
		return false // not started, or stopped
	}
	confirmed := make(chan struct{})
	a.cmu.Lock()
	a.confirm = confirmed
	a.cmu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), attendTimeout)
	defer cancel()
	if err := ps.Subscribe(ctx, h.listener.watch); err != nil {
		return false
	}
	select {
	case <-confirmed:
		a.listening = true
		return true
	case <-ctx.Done():
		return false
	}
}

// watchConfirmed is the listener's news of a confirmed watch
// subscription: the one attend waits for, or, after a lost connection,
// go-redis's resubscription, after which the subscribers re-read what
// they follow (the scripts may have skipped events until then).
func (h *Hub) watchConfirmed() {
	a := &h.attention
	a.cmu.Lock()
	c := a.confirm
	a.confirm = nil
	a.cmu.Unlock()
	if c != nil {
		close(c)
		return
	}
	h.broadcast(Event{Resync: true})
}

// busy tells whether the Hub has any subscriber or lane watch.
func (h *Hub) busy() bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.byJob) > 0 || len(h.all) > 0 || len(h.watches) > 0
}

// leave follows a subscription's end: the last one starts the wait of
// hubIdle before the Hub stops listening. It never blocks on Redis.
func (h *Hub) leave() {
	if h.listener.watch == "" || h.busy() {
		return
	}
	a := &h.attention
	a.cmu.Lock()
	defer a.cmu.Unlock()
	if a.idle == nil {
		a.idle = time.AfterFunc(hubIdle, h.unwatch)
	}
}

// unwatch stops listening on the watch channel if the Hub still has no
// subscriber.
func (h *Hub) unwatch() {
	a := &h.attention
	a.cmu.Lock()
	a.idle = nil
	a.cmu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	ps := h.listener.ps
	if !a.listening || h.busy() || ps == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), attendTimeout)
	defer cancel()
	// Not listening even if the command failed: go-redis forgets the
	// channel first, and would not subscribe to it again on reconnecting.
	// (Should Redis still count the Hub, events flow for nothing until the
	// connection is renewed, which is harmless.)
	_ = ps.Unsubscribe(ctx, h.listener.watch)
	a.listening = false
}

// unattend forgets the watch subscription when the Hub stops.
func (h *Hub) unattend() {
	a := &h.attention
	a.cmu.Lock()
	if a.idle != nil {
		a.idle.Stop()
		a.idle = nil
	}
	a.cmu.Unlock()
	a.mu.Lock()
	a.listening = false
	a.mu.Unlock()
}
