package api

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"github.com/compileo/jobqueue/internal/testmain"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/openapitest"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/handlers"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

// bundle is what a test needs beside the API under test: the engine
// client and Hub it runs on, and the handle on the test handlers.
type bundle struct {
	url    string
	http   *http.Client
	client *queue.Client
	hub    *queue.Hub
	// release lets one running "block" job finish per value sent.
	release chan struct{}
}

var discard = slog.New(slog.DiscardHandler)

// setup serves the API over a real HTTP server, on the shared real
// redis-server under a key prefix of the test's own, with its own Hub.
func setup(t *testing.T, cfg Config) *bundle {
	t.Helper()
	srv := redistest.Shared(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 32})
	return setupOn(t, rdb, cfg)
}

func setupOn(t *testing.T, rdb *redis.Client, cfg Config) *bundle {
	t.Helper()
	return setupOnPrefix(t, rdb, redistest.Prefix(t), cfg)
}

// setupOnPrefix is setupOn with the queue's key prefix chosen by the test.
func setupOnPrefix(t *testing.T, rdb *redis.Client, prefix string, cfg Config) *bundle {
	t.Helper()
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := ctxT(t)
	// A traced API's engine traces too, as cmd/apiserver configures them.
	client, err := queue.NewClient(ctx, rdb, &queue.Config{Prefix: prefix, Tracer: cfg.Tracer})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	hub := client.NewHub()
	if err := hub.Start(ctx); err != nil {
		t.Fatalf("hub start: %v", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	if cfg.JobTypes == nil {
		// What cmd/apiserver configures: the built-in handlers' types.
		cfg.JobTypes = TypeSet(handlers.Validators())
	}
	// A loaded CI machine (the whole suite under -race on two cores) can
	// take longer than the production default for one Redis call; tests
	// of the timeout itself set theirs.
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, testRequestTimeout)
	h, err := New(cfg, client, hub)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	// Stopping the Hub first ends any stream or poll still open, so the
	// server's Close never waits on one.
	t.Cleanup(hub.Stop)
	return &bundle{url: ts.URL, http: checkedClient(t, ts), client: client, hub: hub, release: make(chan struct{})}
}

// testRequestTimeout is Config.RequestTimeout in tests that do not set one.
const testRequestTimeout = 10 * time.Second

// specChecker checks responses against the API's OpenAPI document; one
// for the whole package (it is safe for concurrent use).
var specChecker = sync.OnceValues(func() (*openapitest.Checker, error) {
	return openapitest.New(OpenAPISpec())
})

// checkedClient is ts's client, checking every response it reads against
// the OpenAPI document: a response the document does not allow fails the
// request, an event that breaks it fails the stream's read.
func checkedClient(t *testing.T, ts *httptest.Server) *http.Client {
	t.Helper()
	c, err := specChecker()
	if err != nil {
		t.Fatal(err)
	}
	hc := *ts.Client()
	hc.Transport = c.Transport(hc.Transport)
	return &hc
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startWorker runs a real worker with the test handlers:
//
//	block  reports 10% "Waiting", then returns when b.release is sent to
//	quick  reports 50% "Halfway" and returns {"ok": true}
//	boom   fails permanently
//	third  reports 100/3% "A third", then waits as block does
func (b *bundle) startWorker(t *testing.T) *queue.Worker {
	t.Helper()
	mux := queue.NewMux()
	mux.HandleFunc("third", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		job.Progress(100.0/3, "A third")
		select {
		case <-b.release:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	mux.HandleFunc("block", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		job.Progress(10, "Waiting")
		select {
		case <-b.release:
			return map[string]bool{"released": true}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	mux.HandleFunc("quick", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		job.Progress(50, "Halfway")
		return map[string]bool{"ok": true}, nil
	})
	mux.HandleFunc("boom", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		return nil, queue.Permanent(errors.New("boom"))
	})
	w, err := queue.NewWorker(b.client, mux, queue.WorkerConfig{Concurrency: 4,
		LeaseTTL: 2 * time.Second, ShutdownTimeout: 200 * time.Millisecond,
		ProgressInterval: 10 * time.Millisecond, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// do sends a request and returns the response (body read and closed).
func (b *bundle) do(t *testing.T, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctxT(t), method, b.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i]) // sent without it
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, data
}

// call sends a request, checks the status, and decodes a JSON body into a map.
func (b *bundle) call(t *testing.T, method, path, body string, want int, header ...string) map[string]any {
	t.Helper()
	resp, data := b.do(t, method, path, body, header...)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, data)
	}
	if len(data) == 0 {
		return nil
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: body %s: %v", method, path, data, err)
	}
	return out
}

// wantError checks an error response: its status, code and JSON shape.
func (b *bundle) wantError(t *testing.T, method, path, body string, status int, code string, header ...string) map[string]any {
	t.Helper()
	out := b.call(t, method, path, body, status, header...)
	e, ok := out["error"].(map[string]any)
	if !ok || len(out) != 1 || e["code"] != code || e["message"] == "" {
		t.Fatalf("%s %s: error body %v, want code %q", method, path, out, code)
	}
	return e
}

// submit creates a job through the API and returns its id.
func (b *bundle) submit(t *testing.T, body string) string {
	t.Helper()
	out := b.call(t, "POST", "/api/v1/jobs", body, http.StatusCreated)
	id, _ := out["job_id"].(string)
	if parseJobID(id) != nil {
		t.Fatalf("submit: %v", out)
	}
	return id
}

// waitStatus waits, on the Hub like a user would, for the job to reach want.
func (b *bundle) waitStatus(t *testing.T, id string, want queue.State) *queue.Job {
	t.Helper()
	sub := b.hub.Subscribe(id)
	defer sub.Close()
	ctx := ctxT(t)
	deadline := time.After(10 * time.Second)
	for {
		j, err := b.client.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == want {
			return j
		}
		select {
		case <-sub.C:
		case <-deadline:
			t.Fatalf("job %s: still %s, want %s", id, j.Status, want)
		}
	}
}

// waitFor polls cond until it holds; only for what no event announces.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func keysOf(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keysOf(m); !slices.Equal(got, want) {
		t.Fatalf("%s: keys %v, want %v", what, got, want)
	}
}

// sseEvent is one SSE block: an event (ID, Data) or a comment.
type sseEvent struct {
	ID      string
	Data    map[string]any
	Comment string
	Retry   string
}

// sseStream reads a job's event stream.
type sseStream struct {
	resp   *http.Response
	sc     *bufio.Scanner
	cancel context.CancelFunc
}

// openStream opens the stream of job id, resuming after lastID if set;
// it fails the test unless the answer is a 200 event stream.
func (b *bundle) openStream(t *testing.T, id, lastID string) *sseStream {
	t.Helper()
	if lastID != "" {
		return b.openStreamWith(t, id, "Last-Event-ID", lastID)
	}
	return b.openStreamWith(t, id)
}

// openStreamWith opens a job's stream with extra header name/value pairs.
func (b *bundle) openStreamWith(t *testing.T, id string, header ...string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/api/v1/jobs/status/"+id+"/stream", nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.http.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &sseStream{resp: resp, sc: bufio.NewScanner(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), data)
	}
	return s
}

func (s *sseStream) close() {
	s.cancel()
	_ = s.resp.Body.Close()
}

// next reads the next block; false at the end of the stream.
func (s *sseStream) next(t *testing.T) (sseEvent, bool) {
	t.Helper()
	var ev sseEvent
	seen := false
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if seen {
				return ev, true
			}
		case strings.HasPrefix(line, ": "):
			ev.Comment, seen = line[2:], true
		case strings.HasPrefix(line, "id: "):
			ev.ID, seen = line[4:], true
		case strings.HasPrefix(line, "retry: "):
			ev.Retry, seen = line[7:], true
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &ev.Data); err != nil {
				t.Fatalf("event data is not JSON: %q", line)
			}
			wantKeys(t, "event", ev.Data, "job_id", "status", "progress", "current_step", "timestamp")
			seen = true
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if err := s.sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("stream read: %v", err)
	}
	return ev, false
}

// nextEvent skips comments and returns the next event; false at the end.
func (s *sseStream) nextEvent(t *testing.T) (sseEvent, bool) {
	t.Helper()
	for {
		ev, ok := s.next(t)
		if !ok || ev.Data != nil || ev.Retry != "" {
			return ev, ok
		}
	}
}

// rest reads the stream to its end and returns its events.
func (s *sseStream) rest(t *testing.T) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for {
		ev, ok := s.nextEvent(t)
		if !ok {
			return evs
		}
		evs = append(evs, ev)
	}
}

func mustJSON(t *testing.T, data []byte, into any) {
	t.Helper()
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
}
