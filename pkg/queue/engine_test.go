package queue

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func mustEnqueue(t *testing.T, c *Client, p EnqueueParams) string {
	t.Helper()
	e, err := c.Enqueue(ctxT(t), p)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return e.ID
}

func TestSubmitClaimComplete(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testSubmitClaimComplete(t, c)
}

// testSubmitClaimComplete is TestSubmitClaimComplete's body, run on a Redis Cluster too (cluster_test.go).
func testSubmitClaimComplete(t *testing.T, c *Client) {
	ctx := ctxT(t)
	id := mustEnqueue(t, c, EnqueueParams{Type: "demo", Payload: json.RawMessage(`{"steps":2}`)})
	j, err := c.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != StatePending || j.Version != 1 || j.Type != "demo" || j.Queue != DefaultQueue || j.MaxRetries != DefaultMaxRetries {
		t.Fatalf("after submit: %+v", j)
	}
	checkInvariants(t, c)

	jobs, err := c.claim(ctx, "w1", []string{DefaultQueue}, []string{"demo"}, 5, time.Second)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	got := jobs[0]
	if got.ID != id || got.Status != StateRunning || got.Attempts != 1 || got.token == "" || string(got.Payload) != `{"steps":2}` {
		t.Fatalf("claimed: %+v", got)
	}
	checkInvariants(t, c)

	w := testWorker(c)
	w.runCtx = ctx
	r := &run{w: w, job: got, token: got.token}
	if err := w.complete(r, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	j, _ = c.Get(ctx, id)
	if j.Status != StateCompleted || j.Progress != 100 || string(j.Result) != `{"n":1}` || j.CompletedAt.IsZero() || j.Version != 3 {
		t.Fatalf("after complete: %+v", j)
	}
	checkInvariants(t, c)
	// A second completion from the same run (a retry after a lost
	// answer) is answered OK and changes nothing.
	if err := w.complete(r, nil); err != nil {
		t.Fatalf("second complete: %v", err)
	}
	if again, _ := c.Get(ctx, id); again.Version != j.Version || string(again.Result) != `{"n":1}` {
		t.Fatalf("a repeated complete changed the job: %+v", again)
	}
}

// Stats tells each queue's size and how long its next job has waited.
func TestStatsOldestPendingAge(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	mustEnqueue(t, c, EnqueueParams{Type: "demo", Queue: "aged"})
	mustEnqueue(t, c, EnqueueParams{Type: "demo", Queue: "later", RunAt: time.Now().Add(time.Hour)})
	got := map[string]QueueStats{}
	waitFor(t, 10*time.Second, "the pending job to age", func() bool {
		st, err := c.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range st.Queues {
			got[q.Name] = q
		}
		return got["aged"].OldestPendingAge >= 0.015
	})
	if a := got["aged"]; a.Pending != 1 || a.OldestPendingAge > 60 {
		t.Fatalf("aged queue %+v", a)
	}
	if l := got["later"]; l.Scheduled != 1 || l.OldestPendingAge != 0 {
		t.Fatalf("a queue with nothing pending: %+v", l)
	}
}

// A handler's log lines carry its job's id, type and attempt.
func TestActiveJobLog(t *testing.T) {
	var buf bytes.Buffer
	a := &ActiveJob{Job: &Job{ID: "j1", Type: "demo", Attempts: 2}, log: slog.New(slog.NewTextHandler(&buf, nil))}
	a.Log().Info("parsing")
	if got := buf.String(); !strings.Contains(got, "job_id=j1 type=demo attempt=2") {
		t.Fatalf("log line %q", got)
	}
}
