package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

// No run is unbounded: a job without a timeout gets the server's maximum,
// one asking for more is refused, and a run past it is stopped and fails.
func TestRunTimeIsBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxJobTimeout: time.Hour})
	timeout := func(id string) float64 {
		t.Helper()
		return b.call(t, "GET", "/api/v1/jobs/"+id, "", 200)["timeout_seconds"].(float64)
	}
	for body, want := range map[string]float64{
		`{"type": "demo"}`:                          3600,
		`{"type": "demo", "timeout_seconds": 0}`:    3600,
		`{"type": "demo", "timeout_seconds": null}`: 3600,
		`{"type": "demo", "timeout_seconds": 60}`:   60,
		`{"type": "demo", "timeout_seconds": 3600}`: 3600,
	} {
		if got := timeout(b.submit(t, body)); got != want {
			t.Errorf("%s: timeout_seconds %v, want %v", body, got, want)
		}
	}
	e := b.wantError(t, "POST", "/api/v1/jobs", `{"type": "demo", "timeout_seconds": 3601}`, 400, CodeInvalidArgument)
	if !strings.Contains(e["message"].(string), "3600") {
		t.Errorf("the refusal does not say the maximum: %v", e["message"])
	}
	out := b.call(t, "POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "demo"}, {"type": "demo", "timeout_seconds": 7200}]}`, 200)
	items := out["jobs"].([]any)
	if id, _ := items[0].(map[string]any)["job_id"].(string); id == "" || timeout(id) != 3600 || items[1].(map[string]any)["error"] == nil {
		t.Fatalf("batch: %v", out)
	}

	// A job that would hold its slot for good is stopped at the maximum.
	short := setup(t, Config{MaxJobTimeout: time.Second})
	short.startWorker(t)
	id := short.submit(t, `{"type": "block", "max_retries": 0}`) // returns only when released
	j := short.waitStatus(t, id, queue.StateFailed)
	if !strings.Contains(j.Error, "timed out") {
		t.Fatalf("the job failed with %q, want a timeout", j.Error)
	}
}

// A caller's unfinished jobs are bounded: past its quota a submission
// (single or batch, whole) gets 429 quota_exceeded and creates nothing;
// another caller is not affected; finished jobs free their place.
func TestJobQuota(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t), JobQuota: 2})
	submit := func(secret, body string) (*http.Response, []byte) {
		return b.do(t, "POST", "/api/v1/jobs", body, "X-API-Key", secret)
	}
	var ids []string
	for range 2 {
		ids = append(ids, b.submitAs(t, submitSecret))
	}
	resp, data := submit(submitSecret, `{"type": "demo"}`)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(data), CodeQuotaExceeded) ||
		!strings.Contains(string(data), "key:submitter") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("past the quota: %d %s", resp.StatusCode, data)
	}
	b.wantError(t, "POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "demo"}]}`, http.StatusTooManyRequests, CodeQuotaExceeded, "X-API-Key", submitSecret)
	if resp, _ := submit(adminSecret, `{"type": "demo"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("another key: %d", resp.StatusCode)
	}
	if st := b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200, "X-API-Key", readSecret); st["total_jobs"] != 3.0 {
		t.Fatalf("refused submissions created jobs: %v", st["total_jobs"])
	}
	b.call(t, "POST", "/api/v1/jobs/cancel/"+ids[0], "", 200, "X-API-Key", adminSecret)
	// The count is pruned at most once a second.
	waitFor(t, "the cancelled job's place freed", func() bool {
		resp, _ := submit(submitSecret, `{"type": "demo"}`)
		return resp.StatusCode == http.StatusCreated
	})
}
