package queue

import "sync/atomic"

// LaneWatch tells a waiting lease call (the API's, which holds no Redis
// connection while it waits) that work it could take may have come: a
// job of one of its lanes became pending (submitted, promoted, requeued,
// recovered or restarted: each publishes a job event, so this costs Redis
// nothing more), or the Hub's subscription was re-established and events
// may have been missed. With WakeOnRunEnds set, a run of one of its types
// ending wakes it too: a type at its running limit gets a slot then.
type LaneWatch struct {
	// C receives a signal (coalesced: it holds at most one) when the
	// watcher should try to claim again.
	C      <-chan struct{}
	c      chan struct{}
	hub    *Hub
	queues map[string]bool // nil: every queue
	types  map[string]bool
	ends   atomic.Bool
}

// WatchLanes watches the lanes of queues (nil: every queue) × types.
// Watch before claiming, so that no job falls in between; Close it after.
func (h *Hub) WatchLanes(queues, types []string) *LaneWatch {
	w := &LaneWatch{c: make(chan struct{}, 1), hub: h, types: make(map[string]bool, len(types))}
	w.C = w.c
	for _, t := range types {
		w.types[t] = true
	}
	if queues != nil {
		w.queues = make(map[string]bool, len(queues))
		for _, q := range queues {
			w.queues[q] = true
		}
	}
	h.mu.Lock()
	if h.watches == nil {
		h.watches = map[*LaneWatch]struct{}{}
	}
	h.watches[w] = struct{}{}
	h.mu.Unlock()
	if !h.attend() {
		w.notify(Event{Unavailable: true}) // events may be missed: claim again now
	}
	return w
}

// WakeOnRunEnds says whether a run of one of the watched types ending
// (completed, failed, retrying or cancelled) signals too: set it when a
// claim found candidates but took none, which a type limit explains.
func (w *LaneWatch) WakeOnRunEnds(on bool) { w.ends.Store(on) }

// Close stops the watch.
func (w *LaneWatch) Close() {
	w.hub.mu.Lock()
	delete(w.hub.watches, w)
	w.hub.mu.Unlock()
	w.hub.leave()
}

// notify signals w if ev may have made one of its jobs claimable; a
// control event (Resync, Unavailable: the Hub lost events) always does.
func (w *LaneWatch) notify(ev Event) {
	control := ev.Resync || ev.Unavailable
	if !control {
		if !w.types[ev.Type] || (w.queues != nil && !w.queues[ev.Queue]) {
			return
		}
		switch ev.Status {
		case StatePending:
		case StateCompleted, StateFailed, StateRetrying, StateCancelled:
			if !w.ends.Load() {
				return
			}
		default:
			return
		}
	}
	select {
	case w.c <- struct{}{}:
	default:
	}
}
