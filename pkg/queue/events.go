package queue

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event is one change of a job, as published by the script that made it.
// Every state event carries the job's whole visible state, so a consumer
// that misses some still knows the latest state from the next one; a
// log line's event (Log set) carries the line. jobevents.go keeps them.
type Event struct {
	JobID       string
	Status      State
	Progress    float64
	CurrentStep string
	// Version is the job's version after the change; it orders events.
	Version int64
	// UpdatedAtMS is the change's time, Unix milliseconds (Redis clock).
	UpdatedAtMS int64
	Type        string
	Queue       string
	// PipelineID is set on a pipeline's own status change, whose JobID is
	// the pipeline's id too (so a subscription to the pipeline's id
	// receives it), Status the pipeline's status (a PipelineStatus), and
	// Version the pipeline's.
	PipelineID string
	// Log is set on a log line's event (log.go), and Status is not: the
	// line was added to the job's log; Version is the line's event id.
	Log *LogLine

	// Resync is set (and nothing else) on an event the Hub sends when its
	// subscription was re-established after a connection loss: events may
	// have been missed, so the subscriber should re-read the job.
	Resync bool
	// Unavailable is set (and nothing else) on an event the Hub sends when
	// it lost its subscription: Redis is unreachable, and no event will
	// come until it is back (a Resync event then). A subscriber that must
	// not wait blindly — a stream, a long poll — ends here and lets its
	// client retry.
	Unavailable bool
}

// UpdatedAt is the change's time.
func (e Event) UpdatedAt() time.Time { return time.UnixMilli(e.UpdatedAtMS).UTC() }

// listenerPing is how long a listener's connection may stay silent before
// the listener pings Redis; a ping unanswered for as long again means
// Redis is unreachable even though no error has said so (a partition).
const listenerPing = time.Second

// channelListener keeps one pub/sub subscription to one channel alive and
// hands every message to onMessage. onSubscribed runs each time the
// subscription is (re)established, since messages sent while it was down
// are lost: callers re-check state there. onLost runs once when the
// subscription is lost (Redis unreachable), before the next onSubscribed.
type channelListener struct {
	rdb          redis.UniversalClient
	channel      string
	onMessage    func(payload string)
	onSubscribed func(first bool)
	onLost       func()
	// watch, when set, is a channel the listener subscribes to while its
	// Hub has subscribers (hubwatch.go), onWatch runs at each of its
	// confirmations; the listener is on watch + ":hubs" all along.
	watch   string
	onWatch func()

	ps     *redis.PubSub
	cancel context.CancelFunc
	done   chan struct{}
}

// start subscribes and returns once the first subscription is confirmed,
// so nothing published after start returns is missed.
func (l *channelListener) start(ctx context.Context) error {
	channels := []string{l.channel}
	if l.watch != "" {
		channels = append(channels, hubsChannel(l.watch))
	}
	ps := l.rdb.Subscribe(ctx, channels...)
	if _, err := ps.Receive(ctx); err != nil { // the subscribe confirmation (the first channel's)
		_ = ps.Close()
		return storageErr(err)
	}
	l.ps = ps
	ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	l.done = make(chan struct{})
	if l.onSubscribed != nil {
		l.onSubscribed(true)
	}
	go func() {
		defer close(l.done)
		l.receive(ctx)
	}()
	return nil
}

// receive reads the subscription until ctx ends. go-redis reconnects and
// resubscribes by itself after a connection error; receive sees the error,
// reports the loss, and reports the subscription again once a message
// (the resubscription's confirmation, or a late pong) comes through.
func (l *channelListener) receive(ctx context.Context) {
	up := true
	var pinged time.Time // an unanswered ping's time; zero when none
	lost := func() {
		if up {
			up = false
			if l.onLost != nil {
				l.onLost()
			}
		}
	}
	for ctx.Err() == nil {
		msg, err := l.ps.ReceiveTimeout(ctx, listenerPing)
		if ctx.Err() != nil {
			return
		}
		var netErr net.Error
		switch {
		case err != nil && errors.As(err, &netErr) && netErr.Timeout():
			// Silence: fine unless an earlier ping went unanswered.
			if !pinged.IsZero() && time.Since(pinged) >= listenerPing {
				lost()
			}
			if pinged.IsZero() || !up {
				if l.ps.Ping(ctx) == nil {
					pinged = time.Now()
				}
			}
			continue
		case err != nil:
			lost()
			sleepCtx(ctx, 100*time.Millisecond) // redialling: don't spin
			continue
		}
		pinged = time.Time{}
		resync := !up
		up = true
		switch m := msg.(type) {
		case *redis.Message:
			l.onMessage(m.Payload)
		case *redis.Subscription:
			if m.Channel != l.channel { // the watch channels' (hubwatch.go)
				if m.Channel == l.watch && m.Kind == "subscribe" && l.onWatch != nil {
					l.onWatch()
				}
				break
			}
			// A resubscription go-redis made without an error reaching us
			// (e.g. after a failed ping) lost messages all the same.
			resync = resync || m.Kind == "subscribe"
		}
		if resync && l.onSubscribed != nil {
			l.onSubscribed(false)
		}
	}
}

func (l *channelListener) stop() {
	if l.cancel != nil {
		l.cancel()
		_ = l.ps.Close() // ends a blocked receive at once
		<-l.done
	}
}

// Hub fans the job events of one pub/sub subscription out to any number of
// local subscribers (SSE streams, long polls). One Hub per process: a
// thousand streams cost Redis one connection.
type Hub struct {
	listener channelListener

	mu    sync.RWMutex
	byJob map[string]map[*Subscription]struct{}
	all   map[*Subscription]struct{}
	// watches are the waiting lease calls' (lanewatch.go).
	watches map[*LaneWatch]struct{}
	closed  bool
	// attention: whether the Hub listens on the watch channel, which it
	// does while it has subscribers (hubwatch.go).
	attention attention

	dropped atomic.Int64
}

// Subscription receives events. C is closed when the subscription or the
// Hub is closed.
type Subscription struct {
	C     <-chan Event
	c     chan Event
	hub   *Hub
	jobID string
	// more are the other ids of a SubscribeMany subscription.
	more []string
	once sync.Once
	// missed is set when an event was dropped for this subscriber.
	missed atomic.Bool
}

// Missed reports whether events were dropped for this subscriber (its
// buffer was full) since the last call. State events carry the whole
// state, so most subscribers need not care; one that must see every
// event (a log follower) reads what it missed from the job's history.
func (s *Subscription) Missed() bool { return s.missed.Swap(false) }

// SubscriptionBuffer is how many events a slow subscriber may fall behind
// before the oldest are dropped (the newest, which carries the latest
// state, is always kept).
const SubscriptionBuffer = 64

// NewHub builds a Hub on the client's events channel. Start it before use.
func (c *Client) NewHub() *Hub {
	h := &Hub{byJob: make(map[string]map[*Subscription]struct{}), all: make(map[*Subscription]struct{})}
	h.listener = channelListener{rdb: c.rdb, channel: c.keys.eventsChannel(),
		onMessage: h.dispatch,
		onSubscribed: func(first bool) {
			if !first {
				h.broadcast(Event{Resync: true})
			}
		},
		onLost: func() { h.broadcast(Event{Unavailable: true}) },
		watch:  c.watch, onWatch: h.watchConfirmed}
	return h
}

// Start subscribes; when it returns, every later event is delivered.
func (h *Hub) Start(ctx context.Context) error { return h.listener.start(ctx) }

// Stop ends the subscription and closes every Subscription's channel.
func (h *Hub) Stop() {
	h.listener.stop()
	h.unattend()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	closed := map[*Subscription]bool{}
	for _, subs := range h.byJob {
		for s := range subs {
			if !closed[s] { // one of SubscribeMany is under each of its ids
				closed[s] = true
				close(s.c)
			}
		}
	}
	for s := range h.all {
		close(s.c)
	}
	h.byJob, h.all = map[string]map[*Subscription]struct{}{}, map[*Subscription]struct{}{}
}

// Dropped counts events dropped for slow subscribers since start.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// Subscribe receives the events of one job ("" for every job). Subscribe
// before reading the job's state, so no change falls in between.
func (h *Hub) Subscribe(jobID string) *Subscription {
	s := &Subscription{c: make(chan Event, SubscriptionBuffer), hub: h, jobID: jobID}
	s.C = s.c
	if h.add(s) && !h.attend() {
		h.mu.RLock()
		h.deliver(s, Event{JobID: jobID, Unavailable: true})
		h.mu.RUnlock()
	}
	return s
}

// add registers s, unless the Hub is closed (then s is closed).
func (h *Hub) add(s *Subscription) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.c)
		return false
	}
	if s.jobID == "" {
		h.all[s] = struct{}{}
	} else {
		if h.byJob[s.jobID] == nil {
			h.byJob[s.jobID] = make(map[*Subscription]struct{})
		}
		h.byJob[s.jobID][s] = struct{}{}
	}
	return true
}

// SubscribeMany receives the events of every one of ids (at least one;
// a pipeline's and its jobs') on one subscription.
func (h *Hub) SubscribeMany(ids []string) *Subscription {
	s := h.Subscribe(ids[0])
	s.more = ids[1:]
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return s
	}
	for _, id := range s.more {
		if h.byJob[id] == nil {
			h.byJob[id] = make(map[*Subscription]struct{})
		}
		h.byJob[id][s] = struct{}{}
	}
	return s
}

// Close ends the subscription at once and frees it.
func (s *Subscription) Close() {
	s.once.Do(func() {
		h := s.hub
		h.mu.Lock()
		defer h.mu.Unlock()
		if s.jobID == "" {
			if _, ok := h.all[s]; !ok {
				return // the Hub closed it already
			}
			delete(h.all, s)
		} else {
			if _, ok := h.byJob[s.jobID][s]; !ok {
				return
			}
			for _, id := range append([]string{s.jobID}, s.more...) {
				subs := h.byJob[id]
				delete(subs, s)
				if len(subs) == 0 {
					delete(h.byJob, id)
				}
			}
		}
		close(s.c)
	})
	s.hub.leave()
}

// Count is the number of open subscriptions.
func (h *Hub) Count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := len(h.all)
	seen := map[*Subscription]bool{}
	for _, subs := range h.byJob {
		for s := range subs {
			if !seen[s] { // one of SubscribeMany is under each of its ids
				seen[s] = true
				n++
			}
		}
	}
	return n
}

// dispatch hands a message's events to their subscribers. A message is
// one JSON Event, or a JSON array of the Events of one script call that
// moved several jobs (lua/lib.lua publish_events).
func (h *Hub) dispatch(payload string) {
	if !h.wanted(payload) {
		return
	}
	var wire []eventWire
	if strings.HasPrefix(payload, "[") {
		if err := json.Unmarshal([]byte(payload), &wire); err != nil {
			return
		}
	} else {
		wire = make([]eventWire, 1)
		if err := json.Unmarshal([]byte(payload), &wire[0]); err != nil {
			return
		}
	}
	evs := make([]Event, 0, len(wire))
	for _, w := range wire {
		ev := Event{JobID: w.JobID, Status: w.Status, Progress: w.Progress, CurrentStep: w.CurrentStep,
			Version: w.Version, UpdatedAtMS: w.UpdatedAtMS, Type: w.Type, Queue: w.Queue, PipelineID: w.PipelineID}
		if w.Level != "" {
			ev.Log = &LogLine{Level: w.Level, Message: w.Message, TimeMS: w.TimeMS}
		}
		if len(w.JobIDs) == 0 {
			evs = append(evs, ev)
		}
		for _, id := range w.JobIDs {
			ev.JobID = id
			evs = append(evs, ev)
		}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, ev := range evs {
		for w := range h.watches {
			w.notify(ev)
		}
		if ev.JobID == "" {
			continue // a lane notice (lua/submit.lua): for the watches only
		}
		for s := range h.byJob[ev.JobID] {
			h.deliver(s, ev)
		}
		for s := range h.all {
			h.deliver(s, ev)
		}
	}
}

// wanted reports whether a message carries an event some subscriber
// waits for, without decoding it: most events of a busy queue concern
// jobs no one watches, and decoding each in every apiserver would cost
// more than the watching. The job ids are found by their keys (every
// event names its job as "job_id":"<id>", or its jobs as
// "job_ids":["<id>",...], lua/lib.lua).
func (h *Hub) wanted(payload string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.all) > 0 || len(h.watches) > 0 {
		return true // (a lease call waits only while its lanes are empty: few events then)
	}
	if len(h.byJob) == 0 {
		return false
	}
	return eventJobIDs(payload, func(id string) bool {
		_, ok := h.byJob[id]
		return ok
	})
}

// broadcast sends a control event (Resync, Unavailable) to every
// subscriber, with its job's id.
func (h *Hub) broadcast(ev Event) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	told := map[*Subscription]bool{}
	for _, subs := range h.byJob {
		for s := range subs {
			if !told[s] { // one of SubscribeMany is under each of its ids
				told[s] = true
				ev.JobID = s.jobID
				h.deliver(s, ev)
			}
		}
	}
	ev.JobID = ""
	for s := range h.all {
		h.deliver(s, ev)
	}
	for w := range h.watches {
		w.notify(ev)
	}
}

// deliver never blocks the fan-out: a full buffer loses its oldest event.
// Called with h.mu held for reading; a subscription's channel is closed
// only under the write lock, so sending here is safe.
func (h *Hub) deliver(s *Subscription, ev Event) {
	for {
		select {
		case s.c <- ev:
			return
		default:
		}
		select {
		case <-s.c:
			h.dropped.Add(1)
			s.missed.Store(true)
		default:
		}
	}
}
