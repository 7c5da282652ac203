package client_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/compileo/jobqueue/pkg/client"
)

// collect reads a stream to its end.
func collect(t *testing.T, c *client.Client, id string, opts *client.StreamOptions) []client.Event {
	t.Helper()
	var evs []client.Event
	for ev, err := range c.Stream(ctxT(t), id, opts) {
		if err != nil {
			t.Fatalf("stream after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// checkEvents: ids increase (no event twice), every event is of the job,
// and the last one is final with the wanted status.
func checkEvents(t *testing.T, evs []client.Event, id string, final client.State) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	for i, ev := range evs {
		if ev.JobID != id || ev.ID <= 0 || ev.Timestamp.IsZero() || (i > 0 && ev.ID <= evs[i-1].ID) {
			t.Fatalf("event %d of %d: %+v (previous id %d)", i, len(evs), ev, evs[max(i-1, 0)].ID)
		}
		if ev.Status.Terminal() != (i == len(evs)-1) {
			t.Fatalf("event %d of %d has status %s", i, len(evs), ev.Status)
		}
	}
	if last := evs[len(evs)-1]; last.Status != final {
		t.Fatalf("last event %+v, want %s", last, final)
	}
}

func TestStreamToTheEndAndResume(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.submit(t, demo(5, 20))
	evs := collect(t, b.c, id, nil)
	checkEvents(t, evs, id, client.StateCompleted)
	if last := evs[len(evs)-1]; last.Progress != 100 {
		t.Fatalf("last event %+v", last)
	}

	// Resumed after its terminal event, a finished job's stream has
	// nothing more: it ends at once, without an error.
	if again := collect(t, b.c, id, &client.StreamOptions{LastEventID: evs[len(evs)-1].ID}); len(again) != 0 {
		t.Fatalf("resumed after the end: %+v", again)
	}
	// Resumed after an earlier event, it gets every kept event after it:
	// all those the first stream saw, in order, once, up to the end.
	again := collect(t, b.c, id, &client.StreamOptions{LastEventID: evs[0].ID})
	checkEvents(t, again, id, client.StateCompleted)
	for _, ev := range evs[1:] {
		if !slices.Contains(again, ev) {
			t.Fatalf("resumed after the first event: %+v, which lacks %+v", again, ev)
		}
	}

	// A consumer may stop early.
	long := b.submit(t, demo(10000, 50))
	for ev, err := range b.c.Stream(ctxT(t), long, nil) {
		if err != nil || ev.JobID != long {
			t.Fatalf("%+v %v", ev, err)
		}
		break
	}
	if err := b.c.Cancel(ctxT(t), long); err != nil {
		t.Fatal(err)
	}
	checkEvents(t, collect(t, b.c, long, nil), long, client.StateCancelled)
}

// streamLog records the stream requests a proxy passes on.
type streamLog struct {
	mu   sync.Mutex
	reqs []streamReq
}

type streamReq struct {
	backend     string
	lastEventID string
}

func (l *streamLog) add(backend string, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/stream") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, streamReq{backend, r.Header.Get("Last-Event-ID")})
}

func (l *streamLog) all() []streamReq {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]streamReq(nil), l.reqs...)
}

// cuttingWriter aborts the connection once `after` events went through it.
type cuttingWriter struct {
	http.ResponseWriter
	after, events int
}

func (w *cuttingWriter) Write(p []byte) (int, error) {
	w.events += bytes.Count(p, []byte("id: "))
	return w.ResponseWriter.Write(p)
}

func (w *cuttingWriter) Flush() {
	w.ResponseWriter.(http.Flusher).Flush()
	if w.events >= w.after {
		panic(http.ErrAbortHandler) // net/http drops the connection mid-body
	}
}

// TestStreamReconnectsWithLastEventID cuts the first connection after two
// events: the stream reconnects with the last id and goes on to the end
// with no event twice.
func TestStreamReconnectsWithLastEventID(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	target, _ := url.Parse(b.srv.URL)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) }, FlushInterval: -1}
	var log streamLog
	var streams atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add("api", r)
		if strings.HasSuffix(r.URL.Path, "/stream") && streams.Add(1) == 1 {
			w = &cuttingWriter{ResponseWriter: w, after: 2}
		}
		proxy.ServeHTTP(w, r)
	}))
	defer front.Close()
	c := newClient(t, client.Config{BaseURL: front.URL})

	id := b.submit(t, demo(20, 20))
	evs := collect(t, c, id, nil)
	checkEvents(t, evs, id, client.StateCompleted)
	reqs := log.all()
	if len(reqs) < 2 || reqs[0].lastEventID != "" {
		t.Fatalf("stream requests %+v: want a reconnection", reqs)
	}
	if len(evs) < 2 || reqs[1].lastEventID != strconv.FormatInt(evs[1].ID, 10) {
		t.Fatalf("reconnected with Last-Event-ID %q, want the second event's id (events %+v)", reqs[1].lastEventID, evs)
	}
}

// TestStreamFollowsAcrossInstances shuts the serving apiserver down
// mid-stream, as a rolling restart does; the load balancer sends the
// reconnection (after the server's retry hint) to the other instance,
// which resumes after the last event.
func TestStreamFollowsAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := ctxT(t)
	second, err := b.srv.AddAPI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := b.srv.APIs()[0]
	var backend atomic.Pointer[string]
	backend.Store(&first.URL)
	var log streamLog
	lb := httptest.NewServer(&httputil.ReverseProxy{FlushInterval: -1, Rewrite: func(r *httputil.ProxyRequest) {
		to := *backend.Load()
		u, _ := url.Parse(to)
		r.SetURL(u)
		log.add(to, r.In)
	}})
	defer lb.Close()
	c := newClient(t, client.Config{BaseURL: lb.URL})

	id := b.submit(t, demo(10000, 20)) // runs until cancelled
	var evs []client.Event
	var shutdown sync.WaitGroup
	cancelled := false
	for ev, err := range c.Stream(ctx, id, nil) {
		if err != nil {
			t.Fatalf("stream after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
		if len(evs) == 1 { // the balancer takes the first instance out, which then stops
			backend.Store(&second.URL)
			shutdown.Go(first.Shutdown)
		}
		if !cancelled && resumedOn(log.all(), second.URL) {
			cancelled = true
			if err := c.Cancel(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	shutdown.Wait()
	checkEvents(t, evs, id, client.StateCancelled)
	var onSecond []streamReq
	for _, r := range log.all() {
		if r.backend == second.URL {
			onSecond = append(onSecond, r)
		}
	}
	if len(onSecond) == 0 || onSecond[0].lastEventID == "" {
		t.Fatalf("stream requests %+v: want a resumption on the second instance", log.all())
	}
}

func resumedOn(reqs []streamReq, backend string) bool {
	for _, r := range reqs {
		if r.backend == backend {
			return true
		}
	}
	return false
}

func TestStreamEndsWithTheContext(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.submit(t, demo(10000, 50))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	var errs []error
	n := 0
	for _, err := range b.c.Stream(ctx, id, nil) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
		cancel()
	}
	if n == 0 || len(errs) != 1 || errs[0] != context.Canceled {
		t.Fatalf("%d events, errors %v: want context.Canceled last", n, errs)
	}
	if err := b.c.Cancel(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
}
