package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

// pollAsync runs a long poll in the background.
func (b *bundle) pollAsync(t *testing.T, id, query string) <-chan map[string]any {
	t.Helper()
	out := make(chan map[string]any, 1)
	req, _ := http.NewRequestWithContext(ctxT(t), "GET", b.url+"/api/v1/jobs/status/"+id+"/poll"+query, nil)
	go func() { // no t.Fatal here: a nil result fails the test's own check
		var m map[string]any
		resp, err := b.http.Do(req)
		if err == nil {
			if resp.StatusCode == 200 {
				_ = json.NewDecoder(resp.Body).Decode(&m)
			}
			resp.Body.Close()
		}
		out <- m
	}()
	return out
}

func TestPollWakesOnChange(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"block": nil}}) // before any worker advertises it
	id := b.submit(t, `{"type": "block"}`)

	// With current_status: a cancel wakes the poll at once.
	t0 := time.Now()
	res := b.pollAsync(t, id, "?timeout=30&current_status=pending")
	waitFor(t, "the poll to subscribe", func() bool { return b.hub.Count() == 1 })
	time.Sleep(200 * time.Millisecond) // the change comes while the poll waits
	b.call(t, "POST", "/api/v1/jobs/cancel/"+id, "", 200)
	st := <-res
	if st == nil || st["status"] != "cancelled" {
		t.Fatalf("poll: %v", st)
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Fatalf("poll returned after %s; the change came after 200ms", took)
	}
	wantKeys(t, "poll", st, statusKeys...)

	// Without current_status: it waits for a change from the status at the
	// time of the request (here, a worker taking the job).
	b.call(t, "POST", "/api/v1/jobs/restart/"+id, "", 200)
	t0 = time.Now()
	res = b.pollAsync(t, id, "")
	waitFor(t, "the poll to subscribe", func() bool { return b.hub.Count() == 1 })
	b.startWorker(t)
	st = <-res
	if st == nil || st["status"] != "running" || time.Since(t0) > 5*time.Second {
		t.Fatalf("poll: %v after %s", st, time.Since(t0))
	}
	b.release <- struct{}{}
	b.waitStatus(t, id, queue.StateCompleted)
}

func TestPollReturnsAtOnceWhenStatusDiffers(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo"}`)
	t0 := time.Now()
	st := b.call(t, "GET", "/api/v1/jobs/status/"+id+"/poll?timeout=300&current_status=running", "", 200)
	if st["status"] != "pending" || time.Since(t0) > 2*time.Second {
		t.Fatalf("poll: %v after %s", st, time.Since(t0))
	}
	wantKeys(t, "poll", st, statusKeys...)
	if b.hub.Count() != 0 {
		t.Fatalf("subscriptions left: %d", b.hub.Count())
	}
}

func TestPollTimesOutWithTheCurrentState(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo"}`)
	t0 := time.Now()
	st := b.call(t, "GET", "/api/v1/jobs/status/"+id+"/poll?timeout=1&current_status=pending", "", 200)
	if took := time.Since(t0); st["status"] != "pending" || took < 900*time.Millisecond || took > 5*time.Second {
		t.Fatalf("poll: %v after %s, want pending after about 1s", st, took)
	}
}

func TestPollRefusesBadParameters(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo"}`)
	for _, q := range []string{"timeout=0", "timeout=301", "timeout=abc", "timeout=", "timeout=-1",
		"timeout=1.5", "current_status=bogus", "current_status=", "current_status=PENDING", "timeout=30&current_status=done"} {
		b.wantError(t, "GET", "/api/v1/jobs/status/"+id+"/poll?"+q, "", 400, CodeInvalidArgument)
	}
	b.call(t, "GET", "/api/v1/jobs/status/"+id+"/poll?timeout=300&current_status=scheduled", "", 200)
}

func TestPollDisconnectFreesItsSubscription(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo"}`)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/api/v1/jobs/status/"+id+"/poll?timeout=300", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := b.http.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the poll to subscribe", func() bool { return b.hub.Count() == 1 })
	cancel()
	<-done
	waitFor(t, "the subscription to be freed", func() bool { return b.hub.Count() == 0 })
}

func TestStreamToCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.startWorker(t)
	id := b.submit(t, `{"type": "block"}`)
	s := b.openStream(t, id, "")
	for k, want := range map[string]string{"Cache-Control": "no-cache", "Connection": "keep-alive", "X-Accel-Buffering": "no"} {
		if got := s.resp.Header.Get(k); got != want {
			t.Fatalf("header %s: %q, want %q", k, got, want)
		}
	}
	// The current state first, then every change: the progress report
	// of the handler counts too.
	var evs []sseEvent
	for {
		ev, ok := s.nextEvent(t)
		if !ok {
			t.Fatalf("stream ended early: %v", evs)
		}
		evs = append(evs, ev)
		if ev.Data["current_step"] == "Waiting" && ev.Data["progress"] == 10.0 {
			break
		}
	}
	b.release <- struct{}{}
	evs = append(evs, s.rest(t)...) // ends right after the terminal event
	last := evs[len(evs)-1]
	if last.Data["status"] != "completed" || last.Data["progress"] != 100.0 || last.Data["job_id"] != id {
		t.Fatalf("last event %+v", last)
	}
	prev := int64(0)
	for _, ev := range evs {
		v, err := strconv.ParseInt(ev.ID, 10, 64)
		if err != nil || v <= prev {
			t.Fatalf("event ids not increasing: %q after %d", ev.ID, prev)
		}
		prev = v
		ts, err := time.Parse(time.RFC3339, ev.Data["timestamp"].(string))
		if err != nil || time.Since(ts) > time.Minute {
			t.Fatalf("timestamp %v", ev.Data["timestamp"])
		}
	}
	job, _ := b.client.Get(ctxT(t), id)
	if prev != job.Version {
		t.Fatalf("last event id %d, job version %d", prev, job.Version)
	}
}

func TestStreamOfAFinishedJob(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo"}`)
	b.call(t, "POST", "/api/v1/jobs/cancel/"+id, "", 200)

	evs := b.openStream(t, id, "").rest(t)
	if len(evs) != 1 || evs[0].Data["status"] != "cancelled" {
		t.Fatalf("events %+v, want the one terminal state", evs)
	}
	// Resuming after it: nothing new, and the stream closes.
	if again := b.openStream(t, id, evs[0].ID).rest(t); len(again) != 0 {
		t.Fatalf("resumed stream repeated %+v", again)
	}
	// Resuming from an older version: the current state.
	v, _ := strconv.Atoi(evs[0].ID)
	if again := b.openStream(t, id, strconv.Itoa(v-1)).rest(t); len(again) != 1 || again[0].ID != evs[0].ID {
		t.Fatalf("stream from an older id: %+v", again)
	}
	// A Last-Event-ID this server never sent.
	resp, data := b.do(t, "GET", "/api/v1/jobs/status/"+id+"/stream", "", "Last-Event-ID", "abc")
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") == "text/event-stream" {
		t.Fatalf("bad Last-Event-ID: %d %s", resp.StatusCode, data)
	}
}

// A client that reconnects with the id of the last event it saw gets no
// duplicate of that state, only what changed after it.
func TestStreamResumesAfterLastEventID(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.startWorker(t)
	id := b.submit(t, `{"type": "block"}`)
	s := b.openStream(t, id, "")
	var seen sseEvent
	for seen.Data["current_step"] != "Waiting" {
		var ok bool
		if seen, ok = s.nextEvent(t); !ok {
			t.Fatal("stream ended early")
		}
	}
	s.close()
	waitFor(t, "the first stream's subscription to be freed", func() bool { return b.hub.Count() == 0 })

	s = b.openStream(t, id, seen.ID)
	waitFor(t, "the second stream to subscribe", func() bool { return b.hub.Count() == 1 })
	b.call(t, "POST", "/api/v1/jobs/cancel/"+id, "", 200)
	evs := s.rest(t)
	if len(evs) != 1 || evs[0].Data["status"] != "cancelled" {
		t.Fatalf("resumed after %s: %+v, want only the cancellation", seen.ID, evs)
	}
	if a, _ := strconv.Atoi(evs[0].ID); strconv.Itoa(a) != evs[0].ID || a <= mustAtoi(t, seen.ID) {
		t.Fatalf("resumed event id %s after %s", evs[0].ID, seen.ID)
	}
}

func TestStreamHeartbeat(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Heartbeat: 20 * time.Millisecond})
	id := b.submit(t, `{"type": "demo"}`)
	s := b.openStream(t, id, "")
	if ev, ok := s.next(t); !ok || ev.Data["status"] != "pending" {
		t.Fatalf("first event %+v", ev)
	}
	for i := 0; i < 2; i++ {
		if ev, ok := s.next(t); !ok || ev.Comment != "keep-alive" || ev.Data != nil {
			t.Fatalf("heartbeat %+v", ev)
		}
	}
}

func TestStreamDisconnectFreesItsSubscription(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo"}`)
	s := b.openStream(t, id, "")
	if _, ok := s.nextEvent(t); !ok {
		t.Fatal("no first event")
	}
	if n := b.hub.Count(); n != 1 {
		t.Fatalf("subscriptions: %d", n)
	}
	s.close()
	waitFor(t, "the subscription to be freed", func() bool { return b.hub.Count() == 0 })
}

// Stopping the Hub (what a shutting-down instance does) ends open streams
// with a retry hint and answers open polls with the current state.
func TestStreamsAndPollsEndWhenTheHubStops(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo"}`)
	s := b.openStream(t, id, "")
	if _, ok := s.nextEvent(t); !ok {
		t.Fatal("no first event")
	}
	res := b.pollAsync(t, id, "?timeout=300")
	waitFor(t, "the poll to subscribe", func() bool { return b.hub.Count() == 2 })
	b.hub.Stop()
	if st := <-res; st == nil || st["status"] != "pending" {
		t.Fatalf("poll at shutdown: %v", st)
	}
	ev, ok := s.nextEvent(t)
	if !ok || ev.Retry != "1000" {
		t.Fatalf("stream at shutdown: %+v", ev)
	}
	if rest := s.rest(t); len(rest) != 0 {
		t.Fatalf("after the retry hint: %+v", rest)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// changesOnFirstRead is a Queue whose first Get moves the job through
// cancelled and back to pending just before reading it: the events of
// those changes reach a poll's subscription after its read.
type changesOnFirstRead struct {
	Queue
	once sync.Once
}

func (q *changesOnFirstRead) Get(ctx context.Context, id string) (*queue.Job, error) {
	var err error
	q.once.Do(func() {
		if err = q.Queue.Cancel(ctx, id); err == nil {
			err = q.Queue.Restart(ctx, id)
		}
	})
	if err != nil {
		return nil, err
	}
	return q.Queue.Get(ctx, id)
}

// Events older than the poll's read are no change: a poll without
// current_status that read "pending" must not wake on the "cancelled"
// that preceded it.
func TestPollIgnoresEventsOlderThanItsRead(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo"}`)
	h, err := New(Config{Logger: discard}, &changesOnFirstRead{Queue: b.client}, b.hub)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	b2 := &bundle{url: ts.URL, http: checkedClient(t, ts)}
	t0 := time.Now()
	st := b2.call(t, "GET", "/api/v1/jobs/status/"+id+"/poll?timeout=1", "", 200)
	if took := time.Since(t0); st["status"] != "pending" || took < 900*time.Millisecond {
		t.Fatalf("poll: %v after %s; want pending at the timeout", st, took)
	}
	if j, _ := b.client.Get(ctxT(t), id); j.Restarts != 1 {
		t.Fatalf("the fake did not move the job: %+v", j)
	}
}
