package api

import (
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

// bulkPages runs a bulk route page by page until its cursor ends and
// returns the sums of the pages' counts.
func (b *bundle) bulkPages(t *testing.T, method, path, query string) (matched, changed, skipped float64) {
	t.Helper()
	for cursor, pages := "", 0; ; pages++ {
		q := query
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		out := b.call(t, method, path+"?"+q, "", 200)
		wantKeys(t, "bulk", out, "dry_run", "matched", "changed", "skipped", "skipped_by_status", "next_cursor")
		matched += out["matched"].(float64)
		changed += out["changed"].(float64)
		skipped += out["skipped"].(float64)
		next, _ := out["next_cursor"].(string)
		if next == "" || pages > 50 {
			return matched, changed, skipped
		}
		cursor = next
	}
}

// The bulk routes act on the jobs the list's filters select, a page at
// a time, and say what they did; a dry run counts.
func TestBulkRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	var parked []string
	for range 7 {
		parked = append(parked, b.submit(t, `{"type": "demo", "queue": "parked"}`))
	}
	other := b.submit(t, `{"type": "demo", "queue": "kept"}`)

	if m, c, _ := b.bulkPages(t, "POST", "/api/v1/jobs/cancel", "queue=parked&dry_run=1&limit=3"); m != 7 || c != 0 {
		t.Fatalf("dry run: matched %v, changed %v", m, c)
	}
	if j := b.waitStatus(t, parked[0], queue.StatePending); j == nil {
		t.Fatal("a dry run changed a job")
	}
	if m, c, s := b.bulkPages(t, "POST", "/api/v1/jobs/cancel", "queue=parked&status=pending&limit=3"); m != 7 || c != 7 || s != 0 {
		t.Fatalf("cancel: matched %v, changed %v, skipped %v", m, c, s)
	}
	b.waitStatus(t, parked[6], queue.StateCancelled)
	b.waitStatus(t, other, queue.StatePending)
	if _, c, _ := b.bulkPages(t, "POST", "/api/v1/jobs/restart", "status=cancelled&type=demo"); c != 7 {
		t.Fatalf("restart: changed %v", c)
	}
	b.waitStatus(t, parked[3], queue.StatePending)
	b.bulkPages(t, "POST", "/api/v1/jobs/cancel", "all=true")
	if _, c, _ := b.bulkPages(t, "DELETE", "/api/v1/jobs", "queue=parked&created_after=2000-01-01T00:00:00Z"); c != 7 {
		t.Fatalf("delete: changed %v", c)
	}
	b.wantError(t, "GET", "/api/v1/jobs/"+parked[0], "", 404, CodeNotFound)
	b.waitStatus(t, other, queue.StateCancelled)

	// Nothing is done without a filter or all, with a body, with a
	// parameter these routes do not know, or with a state the action
	// does not move jobs out of.
	for _, bad := range []struct{ method, path, body string }{
		{"POST", "/api/v1/jobs/cancel", ""},
		{"POST", "/api/v1/jobs/cancel?all=false", ""},
		{"POST", "/api/v1/jobs/cancel?all=yes", ""},
		{"POST", "/api/v1/jobs/cancel?queue=kept", `{"status": "pending"}`},
		{"POST", "/api/v1/jobs/cancel?queue=kept&stauts=pending", ""},
		{"POST", "/api/v1/jobs/cancel?queue=kept&limit=1001", ""},
		{"POST", "/api/v1/jobs/cancel?status=completed", ""},
		{"POST", "/api/v1/jobs/restart?status=pending", ""},
		{"DELETE", "/api/v1/jobs?status=running", ""},
		{"DELETE", "/api/v1/jobs?cursor=nope&all=1", ""},
		{"DELETE", "/api/v1/jobs?created_before=soon", ""},
	} {
		e := b.wantError(t, bad.method, bad.path, bad.body, 400, CodeInvalidArgument)
		if strings.Contains(bad.path, "stauts") && !strings.Contains(e["message"].(string), "stauts") {
			t.Errorf("the message does not name the unknown parameter: %v", e)
		}
	}
	b.waitStatus(t, other, queue.StateCancelled)
}
