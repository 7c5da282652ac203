package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
)

// flaky stands in front of the API and refuses the first `failures`
// requests whose path ends with one of suffixes with status, Retry-After
// retryAfter and the API's error body; failures < 0 refuses them all.
type flaky struct {
	URL      string
	refused  atomic.Int32
	passed   atomic.Int32
	failures int32
}

func newFlaky(t *testing.T, target string, failures int32, status int, retryAfter string, suffixes ...string) *flaky {
	t.Helper()
	f := &flaky{failures: failures}
	to, _ := url.Parse(target)
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(to) }, FlushInterval: -1}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		matches := false
		for _, s := range suffixes {
			matches = matches || strings.HasSuffix(r.URL.Path, s)
		}
		if matches && (f.failures < 0 || f.refused.Load() < f.failures) {
			f.refused.Add(1)
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
				"code": fmt.Sprint(status), "message": "try again later"}})
			return
		}
		f.passed.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	f.URL = ts.URL
	return f
}

// TestWaitHonoursRetryAfter: a long poll answered 503 with Retry-After is
// retried no sooner than the server asked.
func TestWaitHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	f := newFlaky(t, b.srv.URL, 2, http.StatusServiceUnavailable, "1", "/poll", "/status/")
	c := newClient(t, client.Config{BaseURL: f.URL})
	id := b.submit(t, demo(2, 10))
	start := time.Now()
	st, err := c.Wait(ctxT(t), id, nil)
	if err != nil || st.Status != client.StateCompleted {
		t.Fatalf("wait: %+v %v", st, err)
	}
	// A lower bound only: waiting at least what was asked cannot flake.
	if took := time.Since(start); took < 2*time.Second || f.refused.Load() != 2 {
		t.Fatalf("took %s after %d refusals: want 2 waits of Retry-After: 1", took, f.refused.Load())
	}
}

func TestWaitGivesUp(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.submit(t, demo(1, 1))

	// Bounded retries: the last error is returned, typed.
	f := newFlaky(t, b.srv.URL, -1, http.StatusServiceUnavailable, "", "/status/"+id)
	c := newClient(t, client.Config{BaseURL: f.URL, MaxRetries: 3})
	_, err := c.Wait(ctxT(t), id, nil)
	if !errors.Is(err, client.ErrUnavailable) || f.refused.Load() != 4 {
		t.Fatalf("wait: %v after %d requests, want 503 after 4", err, f.refused.Load())
	}

	// A Retry-After beyond RetryMaxDelay ends the retries at once.
	f = newFlaky(t, b.srv.URL, -1, http.StatusTooManyRequests, "3600", "/status/"+id)
	c = newClient(t, client.Config{BaseURL: f.URL})
	_, err = c.Wait(ctxT(t), id, nil)
	var apiErr *client.Error
	if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &apiErr) || apiErr.RetryAfter != time.Hour ||
		f.refused.Load() != 1 {
		t.Fatalf("wait: %v after %d requests", err, f.refused.Load())
	}

	// Errors that retrying cannot fix are not retried.
	f = newFlaky(t, b.srv.URL, -1, http.StatusForbidden, "", "/status/"+id)
	c = newClient(t, client.Config{BaseURL: f.URL})
	if _, err = c.Wait(ctxT(t), id, nil); !errors.Is(err, client.ErrForbidden) || f.refused.Load() != 1 {
		t.Fatalf("wait: %v after %d requests", err, f.refused.Load())
	}

	// An unreachable server: retried, then the transport error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	_ = l.Close()
	c = newClient(t, client.Config{BaseURL: down, MaxRetries: 2})
	_, err = c.Wait(ctxT(t), id, nil)
	if err == nil || errors.As(err, &apiErr) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("wait on a closed port: %v", err)
	}
	for _, err := range c.Stream(ctxT(t), id, nil) {
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("stream on a closed port: %v", err)
		}
	}
}

// TestStreamRetriesRateLimits: a stream refused with 429 and Retry-After
// connects again after the wait.
func TestStreamRetriesRateLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	f := newFlaky(t, b.srv.URL, 1, http.StatusTooManyRequests, "1", "/stream")
	c := newClient(t, client.Config{BaseURL: f.URL})
	id := b.submit(t, demo(3, 10))
	start := time.Now()
	checkEvents(t, collect(t, c, id, nil), id, client.StateCompleted)
	if took := time.Since(start); took < time.Second || f.refused.Load() != 1 {
		t.Fatalf("took %s after %d refusals", took, f.refused.Load())
	}

	// Always refused: the stream ends with the typed error.
	f = newFlaky(t, b.srv.URL, -1, http.StatusServiceUnavailable, "", "/stream")
	c = newClient(t, client.Config{BaseURL: f.URL, MaxRetries: 2})
	var errs []error
	for _, err := range c.Stream(ctxT(t), id, nil) {
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], client.ErrUnavailable) || f.refused.Load() != 3 {
		t.Fatalf("errors %v after %d requests", errs, f.refused.Load())
	}
}

// TestTypesMatchTheWire decodes the server's real answers strictly into
// the SDK's types and encodes them back: the same fields both ways, so
// the SDK misses no field and invents none.
func TestTypesMatchTheWire(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	id := b.submit(t, demo(1, 1))
	if _, err := b.c.Wait(ctxT(t), id, nil); err != nil {
		t.Fatal(err)
	}
	// check fits the answer at path into v, and compares the fields of
	// the object at (a first element of) inner, or of the whole answer.
	check := func(path string, v any, inner string) {
		t.Helper()
		resp, err := http.Get(b.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%s: %s does not fit %T: %v", path, data, v, err)
		}
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fieldsAt(t, again, inner), fieldsAt(t, data, inner); !slices.Equal(got, want) {
			t.Fatalf("%s: %T has fields %v, the server sends %v", path, v, got, want)
		}
	}
	check("/api/v1/jobs/status/"+id, &client.Status{}, "")
	check("/api/v1/jobs/"+id, &client.Job{}, "")
	check("/api/v1/jobs", &client.JobList{}, "")
	check("/api/v1/jobs", &client.JobList{}, "jobs")
	pipe, err := b.c.SubmitPipeline(ctxT(t), []client.PipelineJob{{Key: "a", Submission: demo(1, 1)},
		{Key: "b", DependsOn: []string{"a"}, Submission: demo(1, 1)}}, "")
	if err != nil {
		t.Fatal(err)
	}
	check("/api/v1/pipelines/"+pipe.PipelineID, &client.Pipeline{}, "")
	check("/api/v1/pipelines/"+pipe.PipelineID, &client.Pipeline{}, "jobs")
	check("/api/v1/jobs/queue/stats", &client.Stats{}, "")
	check("/api/v1/jobs/queue/stats", &client.Stats{}, "queues")
	check("/api/v1/workers", &struct {
		Workers []client.Worker `json:"workers"`
	}{}, "workers")
}

// fieldsAt lists the keys of the JSON object data, or of the first
// element of its array field inner, but those whose value is null.
func fieldsAt(t *testing.T, data []byte, inner string) []string {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatal(err)
	}
	if inner != "" {
		var arr []map[string]json.RawMessage
		if err := json.Unmarshal(obj[inner], &arr); err != nil || len(arr) == 0 {
			t.Fatalf("%s: %s: want a non-empty array", inner, obj[inner])
		}
		obj = arr[0]
	}
	// The SDK leaves out what the server sends as null (unset).
	maps.DeleteFunc(obj, func(_ string, v json.RawMessage) bool { return string(v) == "null" })
	return slices.Sorted(maps.Keys(obj))
}
