package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/proctest"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

func TestErrorTable(t *testing.T) {
	t.Parallel()
	id := unknownID
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("job %s: %w", id, queue.ErrJobNotFound), 404, CodeNotFound},
		{fmt.Errorf("cancel: %w", &queue.TransitionError{ID: id, From: queue.StateCompleted, To: queue.StateCancelled}), 409, CodeInvalidTransition},
		{&queue.DuplicateError{UniqueKey: "k", JobID: id}, 409, CodeDuplicate},
		{fmt.Errorf("%w: priority 500", queue.ErrInvalid), 400, CodeInvalidArgument},
		{&http.MaxBytesError{Limit: 10}, 413, CodePayloadTooLarge},
		{fmt.Errorf("get: %w", fmt.Errorf("%w: dial tcp 10.0.0.1:6379: refused", queue.ErrUnavailable)), 503, CodeUnavailable},
		{context.DeadlineExceeded, 503, CodeUnavailable},
		{invalidArgf("bad"), 400, CodeInvalidArgument},
		{unknownType("x"), 400, CodeUnknownJobType},
		{errNoRoute, 404, CodeNotFound},
		{errNoMethod, 405, CodeMethodNotAllowed},
		{errors.New("secret internals"), 500, CodeInternal},
	} {
		status, body := classify(c.err)
		if status != c.status || body.Code != c.code || body.Message == "" {
			t.Errorf("%v: %d %+v, want %d %s", c.err, status, body, c.status, c.code)
		}
		if status >= 500 && (strings.Contains(body.Message, "secret") || strings.Contains(body.Message, "10.0.0.1")) {
			t.Errorf("%v: 5xx message leaks %q", c.err, body.Message)
		}
	}
	if _, body := classify(&queue.DuplicateError{JobID: id}); body.JobID != id {
		t.Errorf("duplicate body %+v", body)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for _, p := range []string{"/nope", "/api/v1/jobs/status/" + unknownID + "/nope", "/api/v2/jobs",
		"/api/v1/jobs/queue/stats/x", "/api/v1/jobs/batch/x", "/api/v1/jobs/"} {
		b.wantError(t, "GET", p, "", 404, CodeNotFound)
	}
	for _, r := range [][2]string{{"PUT", "/api/v1/jobs/status/" + unknownID}, {"GET", "/api/v1/jobs/cancel/" + unknownID},
		{"DELETE", "/api/v1/jobs/queue/stats"}, {"PATCH", "/api/v1/jobs"}} {
		b.wantError(t, r[0], r[1], "", 405, CodeMethodNotAllowed)
	}
	resp, _ := b.do(t, "PUT", "/api/v1/jobs/status/"+unknownID, "")
	if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
		t.Fatalf("Allow %q", allow)
	}
}

// panicky is a Queue whose Stats panics.
type panicky struct{ Queue }

func (panicky) Stats(context.Context) (*queue.Stats, error) { panic("kaboom") }

// panickyServer serves b's queue through panicky; logs gets its log.
func panickyServer(t *testing.T, b *bundle) (*bundle, *proctest.LogBuffer) {
	t.Helper()
	var logs proctest.LogBuffer
	h, err := New(Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, panicky{b.client}, b.hub)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return &bundle{url: ts.URL, http: checkedClient(t, ts)}, &logs
}

func TestPanicBecomesA500(t *testing.T) {
	t.Parallel()
	b2, logs := panickyServer(t, setup(t, Config{}))
	b2.wantError(t, "GET", "/api/v1/jobs/queue/stats", "", 500, CodeInternal)
	if !strings.Contains(logs.String(), "kaboom") || !strings.Contains(logs.String(), "stack") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
	b2.call(t, "GET", "/healthz", "", 200) // the server lives on
}

// With Redis gone every Redis-backed endpoint answers 503 with
// Retry-After, within about the request timeout; /healthz stays 200.
func TestRedisDownIs503(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil)
	// The options cmd/apiserver uses: short timeouts, one dial per try.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1, DialerRetries: 1})
	b := setupOn(t, rdb, Config{RequestTimeout: 2 * time.Second})
	id := b.submit(t, `{"type": "demo"}`)
	srv.Stop()

	for _, r := range [][3]string{
		{"GET", "/api/v1/jobs/status/" + id, ""},
		{"GET", "/api/v1/jobs/status/" + id + "/poll?timeout=5", ""},
		{"GET", "/api/v1/jobs/status/" + id + "/stream", ""},
		{"GET", "/api/v1/jobs/queue/stats", ""},
		{"POST", "/api/v1/jobs/cancel/" + id, ""},
		{"POST", "/api/v1/jobs/restart/" + id, ""},
		{"POST", "/api/v1/jobs", `{"type": "demo"}`},
		{"POST", "/api/v1/jobs", `{"type": "custom"}`},
		{"POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "demo"}]}`},
		{"GET", "/api/v1/jobs", ""},
		{"GET", "/api/v1/jobs/" + id, ""},
		{"DELETE", "/api/v1/jobs/" + id, ""},
		{"GET", "/api/v1/workers", ""},
		{"GET", "/readyz", ""},
	} {
		t0 := time.Now()
		resp, data := b.do(t, r[0], r[1], r[2])
		took := time.Since(t0)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" ||
			!strings.Contains(string(data), `"code":"unavailable"`) {
			t.Fatalf("%s %s with Redis down: %d %q %s", r[0], r[1], resp.StatusCode, resp.Header.Get("Retry-After"), data)
		}
		if took > 2*time.Second {
			t.Fatalf("%s %s took %s with Redis down", r[0], r[1], took)
		}
	}
	b.call(t, "GET", "/healthz", "", 200)
}

// Through a failover the API may reach a node that is a replica now (a
// master that came back as one, or one not yet promoted): its writes are
// refused with READONLY, which is a 503 with Retry-After, like Redis
// down, never a 500. Reads it still serves.
func TestReplicaRefusingWritesIs503(t *testing.T) {
	t.Parallel()
	master := redistest.New(t, &redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	replica := redistest.New(t, &redistest.Options{Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}})
	prefix := redistest.Prefix(t)
	ctx := ctxT(t)
	mrdb := master.Client()
	t.Cleanup(func() { _ = mrdb.Close() })
	q, err := queue.NewClient(ctx, mrdb, &queue.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	e, err := q.Enqueue(ctx, queue.EnqueueParams{Type: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: replica.Addr, MaxRetries: -1})
	waitFor(t, "the replica in sync", func() bool {
		return rdb.Exists(ctx, "{"+prefix+"}:job:"+e.ID).Val() == 1
	})
	b := setupOnPrefix(t, rdb, prefix, Config{})
	for _, r := range [][3]string{
		{"POST", "/api/v1/jobs", `{"type": "demo"}`},
		{"POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "demo"}]}`},
		{"POST", "/api/v1/jobs/cancel/" + e.ID, ""},
	} {
		resp, data := b.do(t, r[0], r[1], r[2])
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" ||
			!strings.Contains(string(data), `"code":"unavailable"`) {
			t.Fatalf("%s %s on a replica: %d %q %s", r[0], r[1], resp.StatusCode, resp.Header.Get("Retry-After"), data)
		}
	}
	b.call(t, "GET", "/api/v1/jobs/status/"+e.ID, "", 200)
}

// TestMessagesSpeakToPeople checks that the human message of each common
// refusal says what happened in plain words, not in the engine's state
// machine terms, while the machine codes stay as they were.
func TestMessagesSpeakToPeople(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"quick": nil, "block": nil}, BodyLimit: 100})
	b.startWorker(t)
	msg := func(e map[string]any) string { s, _ := e["message"].(string); return s }

	id := b.submit(t, `{"type": "block"}`)
	b.call(t, "POST", "/api/v1/jobs/cancel/"+id, "", 200)
	if got, want := msg(b.wantError(t, "POST", "/api/v1/jobs/cancel/"+id, "", 409, CodeInvalidTransition)),
		"job "+id+" is already cancelled"; got != want {
		t.Errorf("cancel twice: %q, want %q", got, want)
	}
	done := b.submit(t, `{"type": "quick"}`)
	b.waitStatus(t, done, queue.StateCompleted)
	if got, want := msg(b.wantError(t, "POST", "/api/v1/jobs/restart/"+done, "", 409, CodeInvalidTransition)),
		"only failed or cancelled jobs can be restarted; job "+done+" is completed"; got != want {
		t.Errorf("restart a completed job: %q, want %q", got, want)
	}
	if got, want := msg(b.wantError(t, "POST", "/api/v1/jobs/cancel/"+done, "", 409, CodeInvalidTransition)),
		"job "+done+" has already finished (completed); only unfinished jobs can be cancelled"; got != want {
		t.Errorf("cancel a completed job: %q, want %q", got, want)
	}
	running := b.submit(t, `{"type": "block"}`)
	b.waitStatus(t, running, queue.StateRunning)
	if got, want := msg(b.wantError(t, "DELETE", "/api/v1/jobs/"+running, "", 409, CodeInvalidTransition)),
		"only finished jobs can be deleted; job "+running+" is running (cancel it first)"; got != want {
		t.Errorf("delete a running job: %q, want %q", got, want)
	}
	b.call(t, "POST", "/api/v1/jobs/cancel/"+running, "", 200)
	for _, r := range [][2]string{{"GET", "/api/v1/jobs/status/"}, {"GET", "/api/v1/jobs/"},
		{"POST", "/api/v1/jobs/cancel/"}, {"POST", "/api/v1/jobs/restart/"}, {"DELETE", "/api/v1/jobs/"}} {
		if got, want := msg(b.wantError(t, r[0], r[1]+unknownID, "", 404, CodeNotFound)), "no job has id "+unknownID; got != want {
			t.Errorf("%s %s: %q, want %q", r[0], r[1], got, want)
		}
	}
	for _, q := range []string{"status=bogus", "queue=a%20b", "type=a%20b", "cursor=xyz"} {
		if got := msg(b.wantError(t, "GET", "/api/v1/jobs?"+q, "", 400, CodeInvalidArgument)); strings.HasPrefix(got, "invalid") {
			t.Errorf("list ?%s: %q starts with the engine's error kind", q, got)
		}
	}
	big := `{"type": "quick", "payload": "` + strings.Repeat("x", 200) + `"}`
	if got, want := msg(b.wantError(t, "POST", "/api/v1/jobs", big, 413, CodePayloadTooLarge)),
		"the body is larger than the limit of 100 bytes"; got != want {
		t.Errorf("413: %q, want %q", got, want)
	}
}
