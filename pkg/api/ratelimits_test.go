package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A rate limit set over the API holds lease workers to it: a lease call
// takes what the window allows, the stats and the queues say the rest
// wait, and a waiting lease call takes more as soon as the window slides
// (not at the end of its wait). Cleared, the type runs freely.
func TestRateLimitOverTheAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"ocr": nil}})
	got := b.call(t, "POST", "/api/v1/rate_limits", `{"type": "ocr", "rate": 2, "per_seconds": 0.5}`, 200)
	if got["type"] != "ocr" || got["rate"] != 2.0 || got["per_seconds"] != 0.5 || got["started"] != 0.0 {
		t.Fatalf("set: %v", got)
	}
	for range 5 {
		b.submit(t, `{"type": "ocr"}`)
	}
	if l := b.lease(t, `{"worker_id": "w", "types": ["ocr"], "max_jobs": 5}`); len(l) != 2 {
		t.Fatalf("first lease: %d jobs, want the rate's 2", len(l))
	}
	st := b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200)
	rl := st["rate_limits"].([]any)[0].(map[string]any)
	if rl["started"] != 2.0 || rl["pending"] != 3.0 || rl["waiting"] != true {
		t.Fatalf("stats: %v", rl)
	}
	q := b.call(t, "GET", "/api/v1/queues", "", 200)["queues"].([]any)[0].(map[string]any)
	if lim := q["rate_limited"].([]any); len(lim) != 1 || lim[0] != "ocr" {
		t.Fatalf("queues: %v", q)
	}
	start := time.Now()
	if l := b.lease(t, `{"worker_id": "w", "types": ["ocr"], "max_jobs": 5, "wait_seconds": 20}`); len(l) != 2 {
		t.Fatalf("waiting lease: %d jobs", len(l))
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the waiting lease took %s: not woken when the window slid", took)
	}
	b.call(t, "GET", "/api/v1/rate_limits", "", 200)
	b.do(t, "DELETE", "/api/v1/rate_limits/ocr", "")
	b.wantError(t, "DELETE", "/api/v1/rate_limits/ocr", "", http.StatusNotFound, CodeNotFound)
	if l := b.lease(t, `{"worker_id": "w", "types": ["ocr"], "max_jobs": 5}`); len(l) != 1 {
		t.Fatalf("after clear: %d jobs", len(l))
	}
	for _, bad := range []string{`{"type": "ocr", "rate": 1}`, `{"type": "ocr", "rate": 1, "per_seconds": 0}`,
		`{"type": "ocr", "rate": 1, "per_seconds": 0.0005}`, `{"type": "b d", "rate": 1, "per_seconds": 1}`,
		`{"type": "ocr", "rate": -1, "per_seconds": 1}`, `{"type": "ocr", "rate": 1, "per_seconds": 1e9}`} {
		b.wantError(t, "POST", "/api/v1/rate_limits", bad, http.StatusBadRequest, CodeInvalidArgument)
	}
}

// /metrics shows each rate limit and whether jobs wait on it.
func TestRateLimitMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"ocr": nil}})
	b.call(t, "POST", "/api/v1/rate_limits", `{"type": "ocr", "rate": 1, "per_seconds": 60}`, 200)
	b.submit(t, `{"type": "ocr"}`)
	b.submit(t, `{"type": "ocr"}`)
	b.lease(t, `{"worker_id": "w", "types": ["ocr"], "max_jobs": 2}`)
	_, body := b.do(t, "GET", "/metrics", "")
	for _, want := range []string{`jobqueue_type_rate_limit{type="ocr"} 1` + "\n", `jobqueue_type_rate_limit_period_seconds{type="ocr"} 60` + "\n",
		`jobqueue_type_rate_limit_starts{type="ocr"} 1` + "\n", `jobqueue_type_rate_limit_waiting{type="ocr"} 1` + "\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
