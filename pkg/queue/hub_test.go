package queue

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

// A Hub that loses Redis tells every subscriber at once (Unavailable),
// and once Redis is back and the subscription re-established, tells them
// to re-read (Resync); events flow again after that.
func TestHubReportsLostAndRegainedSubscription(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil)
	c, _ := setupOn(t, srv)
	hub := startHub(t, c)
	one, all := hub.Subscribe("job-1"), hub.Subscribe("")
	next := func(s *Subscription, what string) Event {
		t.Helper()
		select {
		case ev := <-s.C:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event", what)
			return Event{}
		}
	}

	srv.Stop()
	if ev := next(one, "unavailable"); !ev.Unavailable || ev.JobID != "job-1" {
		t.Fatalf("after Redis went away: %+v", ev)
	}
	if ev := next(all, "unavailable"); !ev.Unavailable {
		t.Fatalf("after Redis went away (all jobs): %+v", ev)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if ev := next(one, "resync"); !ev.Resync || ev.JobID != "job-1" {
		t.Fatalf("after Redis came back: %+v", ev)
	}
	if ev := next(all, "resync"); !ev.Resync {
		t.Fatalf("after Redis came back (all jobs): %+v", ev)
	}
	id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
	if err := c.Cancel(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	ev := next(all, "cancel")
	for ev.Resync { // the watch channel's resubscription sends one more (hubwatch.go)
		ev = next(all, "cancel")
	}
	if ev.JobID != id || ev.Status != StateCancelled {
		t.Fatalf("event after the resync: %+v", ev)
	}
}

// A subscriber that does not read falls behind by at most
// SubscriptionBuffer events: the oldest are dropped, and counted, and the
// newest state is kept.
func TestHubDropsTheOldestForASlowSubscriber(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	hub := startHub(t, c)
	slow := hub.Subscribe("")
	const n = SubscriptionBuffer + 10
	params := make([]EnqueueParams, n)
	for i := range params {
		params[i] = EnqueueParams{Type: "x"}
	}
	res, err := c.EnqueueBatch(ctxT(t), params)
	if err != nil {
		t.Fatal(err)
	}
	claimN(t, c, "w", n, time.Minute) // one running event each
	waitFor(t, 10*time.Second, "the oldest events dropped", func() bool { return hub.Dropped() == n-SubscriptionBuffer })
	var kept Event
	for range SubscriptionBuffer {
		kept = <-slow.C
	}
	if last := res[n-1].Job.ID; kept.JobID != last {
		t.Fatalf("the newest event was not kept: %+v, want job %s", kept, last)
	}
}

// The Hub decodes only messages that carry an event some subscriber waits
// for; a watched job's event inside a batch of unwatched ones arrives.
func TestHubSkipsEventsNoOneWatches(t *testing.T) {
	h := &Hub{byJob: map[string]map[*Subscription]struct{}{}, all: map[*Subscription]struct{}{}}
	batch := `[{"job_id":"a","status":"running"},{"job_id":"b","status":"running"}]`
	if h.wanted(batch) {
		t.Fatal("no subscriber, yet wanted")
	}
	s := h.Subscribe("b")
	if !h.wanted(batch) || h.wanted(`{"job_id":"c","status":"running"}`) {
		t.Fatal("a subscriber of b: wanted must say yes for b's batch only")
	}
	h.dispatch(batch)
	if ev := <-s.C; ev.JobID != "b" || ev.Status != StateRunning {
		t.Fatalf("delivered %+v", ev)
	}
	s.Close()
	all := h.Subscribe("")
	if !h.wanted(`{"job_id":"c"}`) {
		t.Fatal("a subscriber of every job wants every event")
	}
	all.Close()
}

// An event naming several jobs (a release's, lua/lib.lua
// add_pending_events) is wanted for any of them and reaches each as an
// event of its own.
func TestHubSplitsAnEventOfSeveralJobs(t *testing.T) {
	h := &Hub{byJob: map[string]map[*Subscription]struct{}{}, all: map[*Subscription]struct{}{}}
	batch := `[{"job_id":"a","status":"completed","version":3},` +
		`{"job_ids":["b","c","d"],"status":"pending","version":2,"updated_at":7,"type":"t","queue":"q"}]`
	if h.wanted(batch) {
		t.Fatal("no subscriber, yet wanted")
	}
	c := h.Subscribe("c")
	defer c.Close()
	if !h.wanted(batch) || h.wanted(`{"job_ids":["b","d"],"status":"pending"}`) || !h.wanted(`{"job_ids":["c"`) {
		t.Fatal("a subscriber of c: wanted must say yes for the batches naming c (or malformed) only")
	}
	d := h.Subscribe("d")
	defer d.Close()
	h.dispatch(batch)
	for _, s := range []*Subscription{c, d} {
		ev := <-s.C
		if ev.JobID != s.jobID || ev.Status != StatePending || ev.Version != 2 || ev.UpdatedAtMS != 7 ||
			ev.Type != "t" || ev.Queue != "q" || ev.Progress != 0 || ev.CurrentStep != "" {
			t.Fatalf("%s got %+v", s.jobID, ev)
		}
		select {
		case ev := <-s.C:
			t.Fatalf("%s got a second event %+v", s.jobID, ev)
		default:
		}
	}
}

// The hot transitions (claim, progress, complete) publish job events only
// while a Hub has a subscriber (hubwatch.go): none while no one watches,
// each one once a subscription has returned, none again once the last
// subscriber left and the Hub stopped listening; and each one while a
// listener of the events channel that is no Hub (an older one) runs. The
// test listens as a Hub does, on the hubs channel too; a cancel, which
// always publishes, marks where each round's messages end.
func TestJobEventsOnlyWhileWatched(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	ctx := ctxT(t)
	raw := bu.rdb.Subscribe(ctx, c.keys.eventsChannel(), hubsChannel(c.watch))
	defer raw.Close()
	for range 2 {
		if _, err := raw.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	round := func() []string { // the statuses published for one job's run
		t.Helper()
		id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
		runs := claimN(t, c, "w", 1, time.Minute)
		if len(runs) != 1 || runs[0].job.ID != id {
			t.Fatalf("claimed %d jobs", len(runs))
		}
		for _, err := range c.luaProgress(ctx, []progressReport{{id: id, token: runs[0].token, percent: 50, step: "half"}}, time.Minute) {
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := runs[0].w.complete(runs[0], nil); err != nil {
			t.Fatal(err)
		}
		fence := mustEnqueue(t, c, EnqueueParams{Type: "fence"})
		if err := c.Cancel(ctx, fence); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			select {
			case m := <-raw.Channel():
				if strings.Contains(m.Payload, fence) {
					return got
				}
				if strings.Contains(m.Payload, id) {
					var ev eventWire
					_ = json.Unmarshal([]byte(m.Payload), &ev)
					got = append(got, fmt.Sprint(ev.Status, " ", ev.Progress))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the fence's event never came")
			}
		}
	}
	if got := round(); len(got) != 0 {
		t.Fatalf("no one watching, yet published %v", got)
	}
	hub := startHub(t, c)
	sub := hub.Subscribe("someone-else")
	if got := round(); !slices.Equal(got, []string{"running 0", "running 50", "completed 100"}) {
		t.Fatalf("watched: published %v", got)
	}
	sub.Close()
	hub.unwatch() // as hubIdle after the last subscriber leaves
	if got := round(); len(got) != 0 {
		t.Fatalf("no one watching any more, yet published %v", got)
	}
	older := bu.rdb.Subscribe(ctx, c.keys.eventsChannel())
	defer older.Close()
	if _, err := older.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if got := round(); !slices.Equal(got, []string{"running 0", "running 50", "completed 100"}) {
		t.Fatalf("beside a listener of the events alone: published %v", got)
	}
}

// A subscriber the Hub cannot listen for (Redis unreachable: the watch
// subscription is not confirmed) is told that events may be missed by
// the time Subscribe returns, not only once the Hub's listener notices
// the loss.
func TestHubSubscribeWithoutRedisIsUnavailable(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil)
	c, _ := setupOn(t, srv)
	hub := startHub(t, c)
	srv.Stop()
	s := hub.Subscribe("job-1")
	defer s.Close()
	select {
	case ev := <-s.C:
		if !ev.Unavailable || ev.JobID != "job-1" {
			t.Fatalf("first event without Redis: %+v", ev)
		}
	default:
		t.Fatal("Subscribe returned without telling its subscriber Redis is unreachable")
	}
}
