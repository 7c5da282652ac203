package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

// A submission's deadline is an RFC 3339 time or seconds from now; a
// passed or malformed one is refused. The job shows it, and once it
// passes unstarted the job is failed with deadline_exceeded.
func TestSubmitDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	id := b.submit(t, `{"type": "demo", "deadline": "`+at.Format(time.RFC3339)+`"}`)
	if j := b.call(t, "GET", "/api/v1/jobs/"+id, "", 200); j["deadline"] != at.Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("deadline shown: %v", j["deadline"])
	}
	for _, bad := range []string{`"yesterday"`, `"2001-01-01T00:00:00Z"`, `0`, `-5`, `true`, `[1]`, `99999999999`} {
		b.wantError(t, "POST", "/api/v1/jobs", `{"type": "demo", "deadline": `+bad+`}`, http.StatusBadRequest, CodeInvalidArgument)
	}
	b.wantError(t, "POST", "/api/v1/jobs", `{"type": "demo", "delay_seconds": 60, "deadline": 30}`, http.StatusBadRequest, CodeInvalidArgument)
	b.wantError(t, "POST", "/api/v1/schedules", `{"name": "s", "every_seconds": 60, "job": {"type": "demo", "deadline": 30}}`,
		http.StatusBadRequest, CodeInvalidArgument)

	// Nobody runs the queue "later": the deadline passes while it waits.
	id = b.submit(t, `{"type": "demo", "queue": "later", "deadline": 0.2}`)
	waitFor(t, "the deadline to fail the job", func() bool {
		_, err := b.client.FailPastDeadlines(ctxT(t))
		j, _ := b.client.Get(ctxT(t), id)
		return err == nil && j.Status == queue.StateFailed
	})
	j := b.call(t, "GET", "/api/v1/jobs/status/"+id, "", 200)
	if j["status"] != "failed" || j["error"] != "deadline_exceeded" {
		t.Fatalf("past its deadline: %v", j)
	}
}
