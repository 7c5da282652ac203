package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/servertest"
	"github.com/compileo/jobqueue/pkg/client"
)

func TestSubmitWaitGetListDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := ctxT(t)

	sub, err := b.c.Submit(ctx, demo(3, 10))
	if err != nil {
		t.Fatal(err)
	}
	if sub.Status != client.StatePending || sub.CreatedAt.IsZero() || len(sub.JobID) != 36 {
		t.Fatalf("submitted %+v", sub)
	}
	var seen []client.State
	st, err := b.c.Wait(ctx, sub.JobID, &client.WaitOptions{OnChange: func(s *client.Status) {
		seen = append(seen, s.Status)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != client.StateCompleted || st.Progress != 100 || !jsonEqual(st.Result, `{"steps":3,"step_ms":10}`) ||
		st.Error != "" || st.CompletedAt.IsZero() || st.StartedAt.IsZero() {
		t.Fatalf("final status %+v", st)
	}
	if len(seen) == 0 || slices.Contains(seen, client.StateCompleted) {
		t.Fatalf("OnChange saw %v: want the states before the final one", seen)
	}

	got, err := b.c.Status(ctx, sub.JobID)
	if err != nil || got.Status != client.StateCompleted || !got.UpdatedAt.Equal(st.UpdatedAt) {
		t.Fatalf("status: %+v %v", got, err)
	}
	job, err := b.c.Get(ctx, sub.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if job.JobID != sub.JobID || job.Type != "demo" || job.Queue != "default" || job.Attempts != 1 ||
		job.MaxRetries != 3 || job.WorkerID == "" || job.Version <= 0 || job.UniqueKey != "" ||
		!jsonEqual(job.Payload, `{"steps":3,"step_ms":10}`) || job.Status != client.StateCompleted {
		t.Fatalf("job %+v", job)
	}

	// Listing: filters, and paging with the cursor.
	other := b.submit(t, client.Submission{Type: "demo", Queue: "idle"}) // no worker takes "idle"
	page, err := b.c.List(ctx, &client.ListParams{Status: client.StateCompleted, Type: "demo"})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].JobID != sub.JobID || page.NextCursor != "" {
		t.Fatalf("list completed: %+v %v", page, err)
	}
	// Summaries, unless the payload and result are asked for.
	if page.Jobs[0].Payload != nil || page.Jobs[0].Result != nil || page.Jobs[0].Status != client.StateCompleted {
		t.Fatalf("list summary %+v", page.Jobs[0])
	}
	page, err = b.c.List(ctx, &client.ListParams{Status: client.StateCompleted, WithPayload: true, WithResult: true})
	if err != nil || len(page.Jobs) != 1 || !jsonEqual(page.Jobs[0].Payload, `{"steps":3,"step_ms":10}`) || page.Jobs[0].Result == nil {
		t.Fatalf("list with payload and result: %+v %v", page, err)
	}
	var ids []string
	p := &client.ListParams{Limit: 1}
	for range 10 {
		page, err := b.c.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			ids = append(ids, j.JobID)
		}
		if page.NextCursor == "" {
			break
		}
		p.Cursor = page.NextCursor
	}
	slices.Sort(ids)
	want := []string{sub.JobID, other}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("paged list %v, want %v", ids, want)
	}

	// Delete a finished job; an unfinished one is refused.
	if err := b.c.Delete(ctx, sub.JobID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.Get(ctx, sub.JobID); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := b.c.Delete(ctx, other); !errors.Is(err, client.ErrInvalidTransition) {
		t.Fatalf("delete pending: %v", err)
	}
}

func TestSubmissionFields(t *testing.T) {
	t.Parallel()
	b := setup(t, &servertest.Options{Concurrency: -1}) // no worker: jobs stay as submitted
	ctx := ctxT(t)

	id := b.submit(t, client.Submission{Type: "demo", Payload: json.RawMessage(`{"steps":1}`), Queue: "q1",
		Priority: 7, MaxRetries: client.Retries(0), Timeout: 1500 * time.Millisecond, UniqueKey: "k1"})
	job, err := b.c.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if job.Queue != "q1" || job.Priority != 7 || job.MaxRetries != 0 || job.TimeoutSeconds != 2 ||
		job.UniqueKey != "k1" || string(job.Payload) != `{"steps":1}` || job.Status != client.StatePending ||
		job.Result != nil || !job.StartedAt.IsZero() || job.WorkerID != "" {
		t.Fatalf("job %+v", job)
	}

	// The unique key is held: a typed 409 naming the holder.
	_, err = b.c.Submit(ctx, client.Submission{Type: "demo", UniqueKey: "k1"})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || !errors.Is(err, client.ErrDuplicate) || !errors.Is(err, client.ErrConflict) ||
		apiErr.JobID != id || apiErr.StatusCode != 409 || apiErr.Code != client.CodeDuplicate {
		t.Fatalf("duplicate: %#v", err)
	}

	// Scheduling, by delay or by time.
	for _, s := range []client.Submission{{Type: "demo", Delay: time.Hour}, {Type: "demo", RunAt: time.Now().Add(time.Hour)}} {
		sub, err := b.c.Submit(ctx, s)
		if err != nil || sub.Status != client.StateScheduled {
			t.Fatalf("submit %+v: %+v %v", s, sub, err)
		}
		job, err := b.c.Get(ctx, sub.JobID)
		if err != nil || job.RunAt.Before(time.Now().Add(50*time.Minute)) {
			t.Fatalf("scheduled job %+v %v", job, err)
		}
	}
	_, err = b.c.Submit(ctx, client.Submission{Type: "demo", Delay: time.Hour, RunAt: time.Now()})
	if !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("run_at and delay: %v", err)
	}
	if _, err := b.c.Submit(ctx, client.Submission{}); err == nil {
		t.Fatal("a submission without a type was sent")
	}
}

func TestSubmitBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, &servertest.Options{Concurrency: -1})
	ctx := ctxT(t)

	res, err := b.c.SubmitBatch(ctx, []client.Submission{
		{Type: "demo"}, {Type: "thumbnail"}, {Type: "demo", Priority: 101}, {Type: "demo", UniqueKey: "u"},
		{Type: "demo", UniqueKey: "u"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 2 || res.Failed != 3 || len(res.Items) != 5 {
		t.Fatalf("batch %+v", res)
	}
	if res.Items[0].Job == nil || res.Items[0].Err != nil || res.Items[0].Job.Status != client.StatePending {
		t.Fatalf("item 0 %+v", res.Items[0])
	}
	for i, want := range map[int]error{1: client.ErrUnknownJobType, 2: client.ErrBadRequest, 4: client.ErrDuplicate} {
		it := res.Items[i]
		if it.Job != nil || !errors.Is(it.Err, want) || it.Err.Message == "" {
			t.Fatalf("item %d: %+v, want %v", i, it, want)
		}
	}
	if res.Items[4].Err.JobID != res.Items[3].Job.JobID {
		t.Fatalf("the duplicate names %q, want %q", res.Items[4].Err.JobID, res.Items[3].Job.JobID)
	}
	if _, err := b.c.SubmitBatch(ctx, nil); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("empty batch: %v", err)
	}
}

func TestCancelRestartAndWaitOutcomes(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := ctxT(t)

	// Cancel a running job; Wait reports the cancellation as a status.
	id := b.submit(t, demo(10000, 50))
	b.waitRunning(t, id)
	if err := b.c.Restart(ctx, id); !errors.Is(err, client.ErrInvalidTransition) {
		t.Fatalf("restart running: %v", err)
	}
	if err := b.c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err := b.c.Wait(ctx, id, nil)
	if err != nil || st.Status != client.StateCancelled {
		t.Fatalf("wait cancelled: %+v %v", st, err)
	}
	if err := b.c.Cancel(ctx, id); !errors.Is(err, client.ErrInvalidTransition) || !errors.Is(err, client.ErrConflict) {
		t.Fatalf("cancel twice: %v", err)
	}

	// Restart it, and cancel it from Wait's OnChange once it runs again.
	if err := b.c.Restart(ctx, id); err != nil {
		t.Fatal(err)
	}
	st, err = b.c.Wait(ctx, id, &client.WaitOptions{PollTimeout: time.Second, OnChange: func(s *client.Status) {
		if s.Status == client.StateRunning {
			if err := b.c.Cancel(ctx, id); err != nil {
				t.Errorf("cancel: %v", err)
			}
		}
	}})
	if err != nil || st.Status != client.StateCancelled {
		t.Fatalf("wait restarted: %+v %v", st, err)
	}
	if job, err := b.c.Get(ctx, id); err != nil || job.Restarts != 1 {
		t.Fatalf("restarted job %+v %v", job, err)
	}

	// A failing job: Wait returns its status with the error.
	failing := b.submit(t, client.Submission{Type: "demo", MaxRetries: client.Retries(0),
		Payload: map[string]int{"steps": 2, "step_ms": 1, "fail_at": 2}})
	st, err = b.c.Wait(ctx, failing, nil)
	if err != nil || st.Status != client.StateFailed || !strings.Contains(st.Error, "failure injected at step 2") {
		t.Fatalf("wait failed: %+v %v", st, err)
	}
}

func TestStatsAndWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, &servertest.Options{Concurrency: 3})
	ctx := ctxT(t)
	id := b.submit(t, demo(1, 1))
	if _, err := b.c.Wait(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	st, err := b.c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.QueueType != "redis" || st.CompletedJobs != 1 || st.TotalJobs != 1 || st.ActiveWorkers != 1 ||
		st.WorkersConcurrency != 3 || st.QueueHealth.Status != "healthy" || st.CacheSize != 1 {
		t.Fatalf("stats %+v", st)
	}
	h, err := b.c.History(ctx, &client.HistoryQuery{Minutes: 5, Type: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	completed := int64(0)
	for _, p := range h.Points {
		completed += p.Completed
	}
	if h.StepSeconds != 60 || len(h.Points) != 5 || completed != 1 || h.Points[4].At.IsZero() {
		t.Fatalf("history %+v", h)
	}
	if _, err := b.c.History(ctx, &client.HistoryQuery{Hours: 721}); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("history of 721 hours: %v, want ErrBadRequest", err)
	}
	ws, err := b.c.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Concurrency != 3 || !slices.Contains(ws[0].Types, "demo") || ws[0].ID == "" ||
		ws[0].LastSeen.IsZero() {
		t.Fatalf("workers %+v", ws)
	}
}

// TestTypedErrorsFromTheAPI checks each call's error answers against the
// live server.
func TestTypedErrorsFromTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, &servertest.Options{Concurrency: -1})
	ctx := ctxT(t)
	calls := map[string]func(id string) error{
		"status":  func(id string) error { _, err := b.c.Status(ctx, id); return err },
		"get":     func(id string) error { _, err := b.c.Get(ctx, id); return err },
		"poll":    func(id string) error { _, err := b.c.Poll(ctx, id, "", time.Second); return err },
		"wait":    func(id string) error { _, err := b.c.Wait(ctx, id, nil); return err },
		"cancel":  func(id string) error { return b.c.Cancel(ctx, id) },
		"restart": func(id string) error { return b.c.Restart(ctx, id) },
		"delete":  func(id string) error { return b.c.Delete(ctx, id) },
		"stream": func(id string) error {
			for _, err := range b.c.Stream(ctx, id, nil) {
				return err
			}
			return nil
		},
	}
	for name, call := range calls {
		err := call(unknownID)
		var apiErr *client.Error
		if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &apiErr) || apiErr.Code != client.CodeNotFound {
			t.Errorf("%s of an unknown job: %v, want a 404 not_found", name, err)
		}
		for _, bad := range []string{"nope", "A" + unknownID[1:]} {
			if err := call(bad); !errors.Is(err, client.ErrBadRequest) {
				t.Errorf("%s of id %q: %v, want a 400", name, bad, err)
			}
		}
		// An id that looks like a path is escaped: it reaches no other
		// route (unescaped, status would answer with the queue's stats).
		if err := call("../queue/stats"); !errors.As(err, &apiErr) || apiErr.StatusCode/100 != 4 {
			t.Errorf("%s of id ../queue/stats: %v, want a 4xx", name, err)
		}
	}

	_, err := b.c.Submit(ctx, client.Submission{Type: "demo", Payload: strings.Repeat("x", 2<<20)})
	if !errors.Is(err, client.ErrPayloadTooLarge) {
		t.Fatalf("2 MiB payload: %v", err)
	}
	_, err = b.c.Submit(ctx, client.Submission{Type: "thumbnail"})
	if !errors.Is(err, client.ErrUnknownJobType) || !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("unknown type: %v", err)
	}
	_, err = b.c.List(ctx, &client.ListParams{Status: "nope"})
	if !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("list status=nope: %v", err)
	}
}

// TestTypedErrorsOfEveryStatus checks the statuses the server does not
// produce today (401, 403, 429 from an API-key or rate-limiting layer, a
// proxy's 502) with a stand-in server.
func TestTypedErrorsOfEveryStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status     int
		body       string
		retryAfter string
		want       error
		code       string
		temporary  bool
	}{
		{401, `{"error":{"code":"unauthenticated","message":"missing API key"}}`, "", client.ErrUnauthorized, "unauthenticated", false},
		{403, `{"error":{"code":"forbidden","message":"role read may not submit"}}`, "", client.ErrForbidden, "forbidden", false},
		{429, `{"error":{"code":"rate_limited","message":"slow down"}}`, "7", client.ErrRateLimited, "rate_limited", true},
		{503, `{"error":{"code":"unavailable","message":"redis away"}}`, "1", client.ErrUnavailable, client.CodeUnavailable, true},
		{502, "<html>Bad Gateway</html>", "", nil, "", true},
		{500, `{"error":{"code":"internal","message":"internal error"}}`, "", nil, client.CodeInternal, false},
	}
	for _, tc := range cases {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		}))
		c := newClient(t, client.Config{BaseURL: ts.URL})
		_, err := c.Stats(ctxT(t))
		ts.Close()
		var apiErr *client.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Code != tc.code ||
			apiErr.Temporary() != tc.temporary || apiErr.Message == "" || strings.Contains(apiErr.Message, "<") {
			t.Errorf("%d: %#v", tc.status, err)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%d: %v is not %v", tc.status, err, tc.want)
		}
		for _, other := range []error{client.ErrNotFound, client.ErrConflict, client.ErrBadRequest} {
			if errors.Is(err, other) {
				t.Errorf("%d: %v matches %v", tc.status, err, other)
			}
		}
		if tc.retryAfter != "" && apiErr.RetryAfter.String() != tc.retryAfter+"s" {
			t.Errorf("%d: RetryAfter %s, want %ss", tc.status, apiErr.RetryAfter, tc.retryAfter)
		}
	}
}

// TestHeaders checks the API key and user agent reach the server.
func TestHeaders(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 2)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		_, _ = w.Write([]byte(`{"workers": []}`))
	}))
	defer ts.Close()

	withKey := newClient(t, client.Config{BaseURL: ts.URL + "/", APIKey: "s3cret", UserAgent: "acme/2"})
	if _, err := withKey.Workers(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	h := <-got
	if h.Get("Authorization") != "Bearer s3cret" || h.Get("User-Agent") != "acme/2" {
		t.Fatalf("headers %v", h)
	}
	plain := newClient(t, client.Config{BaseURL: ts.URL})
	if _, err := plain.Workers(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	h = <-got
	if _, ok := h["Authorization"]; ok || h.Get("User-Agent") != client.DefaultUserAgent {
		t.Fatalf("headers without a key %v", h)
	}
}

func TestNewValidatesTheBaseURL(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"localhost:8000", "ftp://x", "http://", "::"} {
		if _, err := client.New(client.Config{BaseURL: bad}); err == nil {
			t.Errorf("base URL %q accepted", bad)
		}
	}
	c, err := client.New(client.Config{})
	if err != nil || c.BaseURL() != client.DefaultBaseURL {
		t.Fatalf("default: %v %v", c, err)
	}
}

// TestNoServerDependencies: programs importing the SDK must not pull in
// the server's HTTP framework, its Redis client or its packages.
func TestNoServerDependencies(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		"github.com/compileo/jobqueue/pkg/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if deps := strings.Fields(string(out)); !slices.Equal(deps, []string{"github.com/compileo/jobqueue/pkg/client"}) {
		t.Errorf("pkg/client depends on %v; it should need the standard library only", deps)
	}
}

// jsonEqual reports whether raw and want are the same JSON value.
func jsonEqual(raw json.RawMessage, want string) bool {
	var a, b any
	return json.Unmarshal(raw, &a) == nil && json.Unmarshal([]byte(want), &b) == nil &&
		reflect.DeepEqual(a, b)
}
