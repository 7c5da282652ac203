package api

import (
	"net/http"
	"strings"
	"testing"
)

// HEAD is served wherever GET is, with GET's status and headers and no
// body; a poll or a stream answers it at once instead of waiting.
func TestHeadServedWhereGetIs(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	id := b.submit(t, `{"type": "demo", "payload": {"steps": 1, "step_ms": 0}}`)
	for _, path := range []string{
		"/", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.json",
		"/api/v1/workers", "/api/v1/whoami", "/api/v1/jobs", "/api/v1/jobs/queue/stats",
		"/api/v1/jobs/" + id, "/api/v1/jobs/status/" + id,
		"/api/v1/jobs/status/" + id + "/poll?timeout=300",
		"/api/v1/jobs/status/" + id + "/stream",
	} {
		head, body := b.do(t, "HEAD", path, "")
		if len(body) != 0 {
			t.Errorf("HEAD %s: a body of %d bytes", path, len(body))
		}
		wantType := "text/event-stream" // a GET of the pending job's stream would not end
		if !strings.HasSuffix(path, "/stream") {
			// The poll's GET answers at once: the job is not running.
			get, _ := b.do(t, "GET", strings.Replace(path, "timeout=300", "timeout=1&current_status=running", 1), "")
			if get.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", path, get.StatusCode)
			}
			wantType = get.Header.Get("Content-Type")
		}
		if head.StatusCode != http.StatusOK || head.Header.Get("Content-Type") != wantType {
			t.Errorf("HEAD %s: %d %q, want 200 %q", path, head.StatusCode, head.Header.Get("Content-Type"), wantType)
		}
	}
}
