package api

import (
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

func TestQueueHistory(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"quick": nil, "boom": nil, "demo": nil}})
	b.startWorker(t)
	for range 3 {
		b.waitStatus(t, b.submit(t, `{"type": "quick"}`), queue.StateCompleted)
	}
	b.waitStatus(t, b.submit(t, `{"type": "boom", "max_retries": 0}`), queue.StateFailed)
	b.submit(t, `{"type": "demo", "queue": "parked"}`)

	sum := func(h map[string]any, field string) float64 {
		n := 0.0
		for _, p := range h["points"].([]any) {
			n += p.(map[string]any)[field].(float64)
		}
		return n
	}
	h := b.call(t, "GET", "/api/v1/jobs/queue/history", "", 200)
	pts := h["points"].([]any)
	if h["step_seconds"] != 60.0 || len(pts) != DefaultHistoryMinutes {
		t.Fatalf("step %v, %d points: want 60 s and %d", h["step_seconds"], len(pts), DefaultHistoryMinutes)
	}
	wantKeys(t, "point", pts[0].(map[string]any), "at", "submitted", "started", "completed", "failed",
		"cancelled", "retried", "pending", "running", "run_ms", "wait_ms")
	first, _ := time.Parse(time.RFC3339, pts[0].(map[string]any)["at"].(string))
	last, _ := time.Parse(time.RFC3339, pts[len(pts)-1].(map[string]any)["at"].(string))
	if last.Sub(first) != 59*time.Minute || time.Since(last) > time.Minute+5*time.Second {
		t.Fatalf("points from %v to %v: want the last hour, oldest first", first, last)
	}
	if sum(h, "completed") != 3 || sum(h, "failed") != 1 || sum(h, "submitted") != 5 || sum(h, "started") != 4 {
		t.Fatalf("history %v: want 3 completed, 1 failed, 5 submitted, 4 started", h)
	}
	// Filters, and hours.
	if h := b.call(t, "GET", "/api/v1/jobs/queue/history?minutes=5&type=quick", "", 200); sum(h, "completed") != 3 || sum(h, "failed") != 0 {
		t.Fatalf("type quick: %v", h)
	}
	if h := b.call(t, "GET", "/api/v1/jobs/queue/history?minutes=5&queue=parked", "", 200); sum(h, "submitted") != 1 || sum(h, "completed") != 0 {
		t.Fatalf("queue parked: %v", h)
	}
	h = b.call(t, "GET", "/api/v1/jobs/queue/history?hours=24", "", 200)
	if h["step_seconds"] != 3600.0 || len(h["points"].([]any)) != 24 || sum(h, "completed") != 3 {
		t.Fatalf("hours: %v", h)
	}
}

func TestQueueHistoryRefusesBadParameters(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for _, q := range []string{"minutes=0", "minutes=2881", "minutes=x", "minutes=", "hours=0",
		"hours=721", "hours=1.5", "minutes=5&hours=1", "queue=", "queue=a%20b", "type=", "type=a/b"} {
		e := b.wantError(t, "GET", "/api/v1/jobs/queue/history?"+q, "", 400, "invalid_argument")
		if msg, _ := e["message"].(string); msg == "" {
			t.Errorf("%s: no message", q)
		}
	}
}
