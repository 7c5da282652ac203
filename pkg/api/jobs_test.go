package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

const unknownID = "123e4567-e89b-12d3-a456-426614174000"

// statusKeys are exactly the ten fields of a job's status.
var statusKeys = []string{"job_id", "status", "progress", "current_step", "result", "error",
	"created_at", "started_at", "completed_at", "updated_at"}

func TestStatusHasExactlyTheTenFields(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.startWorker(t)

	id := b.submit(t, `{"type": "quick"}`)
	b.waitStatus(t, id, queue.StateCompleted)
	st := b.call(t, "GET", "/api/v1/jobs/status/"+id, "", 200)
	wantKeys(t, "status", st, statusKeys...)
	if st["job_id"] != id || st["status"] != "completed" || st["progress"] != 100.0 ||
		st["error"] != nil || st["result"].(map[string]any)["ok"] != true {
		t.Fatalf("completed status %v", st)
	}
	for _, k := range []string{"created_at", "started_at", "completed_at", "updated_at"} {
		s, _ := st[k].(string)
		ts, err := time.Parse(time.RFC3339, s)
		if err != nil || !strings.HasSuffix(s, "Z") || len(s) != len("2024-01-21T10:30:05.000Z") {
			t.Fatalf("%s = %q: want RFC 3339 UTC with milliseconds", k, s)
		}
		if time.Since(ts) > time.Minute || time.Since(ts) < 0 {
			t.Fatalf("%s = %s: not now", k, ts)
		}
	}

	// A pending job: nulls where unset, no result, no error.
	pending := b.submit(t, `{"type": "quick", "queue": "nobody"}`)
	st = b.call(t, "GET", "/api/v1/jobs/status/"+pending, "", 200)
	wantKeys(t, "status", st, statusKeys...)
	if st["status"] != "pending" || st["progress"] != 0.0 || st["result"] != nil || st["error"] != nil ||
		st["started_at"] != nil || st["completed_at"] != nil || st["created_at"] == nil {
		t.Fatalf("pending status %v", st)
	}

	// A failed job carries its error as a string.
	failed := b.submit(t, `{"type": "boom"}`)
	b.waitStatus(t, failed, queue.StateFailed)
	st = b.call(t, "GET", "/api/v1/jobs/status/"+failed, "", 200)
	if st["status"] != "failed" || !strings.Contains(fmt.Sprint(st["error"]), "boom") || st["result"] != nil {
		t.Fatalf("failed status %v", st)
	}
}

func TestMalformedAndUnknownJobIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	bad := []string{"nope", "123E4567-E89B-12D3-A456-426614174000", "123e4567e89b12d3a456426614174000",
		"{123e4567-e89b-12d3-a456-426614174000}", "123e4567-e89b-12d3-a456-42661417400g"}
	for _, id := range bad {
		for _, r := range [][2]string{{"GET", "/api/v1/jobs/status/" + id}, {"GET", "/api/v1/jobs/status/" + id + "/poll"},
			{"GET", "/api/v1/jobs/status/" + id + "/stream"}, {"POST", "/api/v1/jobs/cancel/" + id},
			{"POST", "/api/v1/jobs/restart/" + id}, {"GET", "/api/v1/jobs/" + id}, {"DELETE", "/api/v1/jobs/" + id}} {
			b.wantError(t, r[0], r[1], "", 400, CodeInvalidArgument)
		}
	}
	for _, r := range [][2]string{{"GET", "/api/v1/jobs/status/" + unknownID}, {"GET", "/api/v1/jobs/status/" + unknownID + "/poll"},
		{"GET", "/api/v1/jobs/status/" + unknownID + "/stream"}, {"POST", "/api/v1/jobs/cancel/" + unknownID},
		{"POST", "/api/v1/jobs/restart/" + unknownID}, {"GET", "/api/v1/jobs/" + unknownID}, {"DELETE", "/api/v1/jobs/" + unknownID}} {
		b.wantError(t, r[0], r[1], "", 404, CodeNotFound)
	}
}

func TestCancelAndRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.startWorker(t)

	// Cancel a running job; its handler is stopped.
	id := b.submit(t, `{"type": "block"}`)
	b.waitStatus(t, id, queue.StateRunning)
	if out := b.call(t, "POST", "/api/v1/jobs/restart/"+id, "", 409); out["error"].(map[string]any)["code"] != CodeInvalidTransition {
		t.Fatalf("restart running: %v", out)
	}
	out := b.call(t, "POST", "/api/v1/jobs/cancel/"+id, "", 200)
	wantKeys(t, "cancel", out, "message")
	if out["message"] != "Job "+id+" cancelled successfully" {
		t.Fatalf("cancel: %v", out)
	}
	b.wantError(t, "POST", "/api/v1/jobs/cancel/"+id, "", 409, CodeInvalidTransition)

	// Restart it; it runs again and completes.
	out = b.call(t, "POST", "/api/v1/jobs/restart/"+id, "", 200)
	if out["message"] != "Job "+id+" restarted successfully" {
		t.Fatalf("restart: %v", out)
	}
	b.waitStatus(t, id, queue.StateRunning)
	b.release <- struct{}{}
	b.waitStatus(t, id, queue.StateCompleted)
	b.wantError(t, "POST", "/api/v1/jobs/cancel/"+id, "", 409, CodeInvalidTransition)
	b.wantError(t, "POST", "/api/v1/jobs/restart/"+id, "", 409, CodeInvalidTransition)
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})

	resp, data := b.do(t, "POST", "/api/v1/jobs", `{"type": "demo", "payload": {"steps": 2}, "queue": "q1",
		"priority": 7, "max_retries": 0, "timeout_seconds": 60, "unique_key": "k1"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("submit: %d %s", resp.StatusCode, data)
	}
	var created map[string]any
	mustJSON(t, data, &created)
	wantKeys(t, "submit", created, "job_id", "status", "created_at")
	id := created["job_id"].(string)
	if loc := resp.Header.Get("Location"); loc != "/api/v1/jobs/"+id || created["status"] != "pending" {
		t.Fatalf("submit: location %q, body %v", loc, created)
	}

	// The whole record.
	job := b.call(t, "GET", "/api/v1/jobs/"+id, "", 200)
	wantKeys(t, "job", job, "job_id", "type", "queue", "payload", "priority", "status", "progress",
		"current_step", "result", "error", "attempts", "max_retries", "timeout_seconds", "deadline", "run_at",
		"created_at", "started_at", "completed_at", "updated_at", "worker_id", "restarts", "version", "unique_key",
		"pipeline_id")
	if job["type"] != "demo" || job["queue"] != "q1" || job["priority"] != 7.0 || job["max_retries"] != 0.0 ||
		job["timeout_seconds"] != 60.0 || job["unique_key"] != "k1" || job["worker_id"] != nil ||
		job["payload"].(map[string]any)["steps"] != 2.0 || job["version"].(float64) < 1 {
		t.Fatalf("job %v", job)
	}

	// A duplicate unique key names the job holding it.
	e := b.wantError(t, "POST", "/api/v1/jobs", `{"type": "demo", "unique_key": "k1"}`, 409, CodeDuplicate)
	if e["job_id"] != id {
		t.Fatalf("duplicate: %v", e)
	}

	// Later runs are scheduled, by time or delay.
	runAt := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	out := b.call(t, "POST", "/api/v1/jobs", `{"type": "demo", "run_at": "`+runAt+`"}`, 201)
	if out["status"] != "scheduled" {
		t.Fatalf("run_at: %v", out)
	}
	out = b.call(t, "POST", "/api/v1/jobs", `{"type": "demo", "delay_seconds": 60}`, 201)
	if out["status"] != "scheduled" {
		t.Fatalf("delay: %v", out)
	}
	sched := b.call(t, "GET", "/api/v1/jobs/"+out["job_id"].(string), "", 200)
	if sched["run_at"] == nil {
		t.Fatalf("scheduled job %v", sched)
	}
}

func TestSubmitRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for _, c := range []struct{ body, code string }{
		{``, CodeInvalidArgument},
		{`{`, CodeInvalidArgument},
		{`[]`, CodeInvalidArgument},
		{`{"type": "demo"} {"type": "demo"}`, CodeInvalidArgument},
		{`{"type": "demo"} x`, CodeInvalidArgument},
		{`{"type": "demo", "colour": "red"}`, CodeInvalidArgument},
		{`{}`, CodeInvalidArgument},
		{`{"type": "no such type"}`, CodeInvalidArgument},
		{`{"type": "demo", "priority": 101}`, CodeInvalidArgument},
		{`{"type": "demo", "priority": -1}`, CodeInvalidArgument},
		{`{"type": "demo", "priority": 1.5}`, CodeInvalidArgument},
		{`{"type": "demo", "max_retries": 101}`, CodeInvalidArgument},
		{`{"type": "demo", "timeout_seconds": 604801}`, CodeInvalidArgument},
		{`{"type": "demo", "delay_seconds": 31536001}`, CodeInvalidArgument},
		{`{"type": "demo", "delay_seconds": -1}`, CodeInvalidArgument},
		{`{"type": "demo", "run_at": "tomorrow"}`, CodeInvalidArgument},
		{`{"type": "demo", "run_at": "2030-01-01T00:00:00Z", "delay_seconds": 5}`, CodeInvalidArgument},
		{`{"type": "demo", "queue": "no spaces"}`, CodeInvalidArgument},
		{`{"type": "demo", "unique_key": "` + strings.Repeat("k", 257) + `"}`, CodeInvalidArgument},
		{`{"type": "thumbnail"}`, CodeUnknownJobType},
		// Payloads the built-in handler would refuse on a worker later.
		{`{"type": "demo", "payload": {"steps": 0}}`, CodeInvalidArgument},
		{`{"type": "demo", "payload": [1, 2]}`, CodeInvalidArgument},
		{`{"type": "chunking", "payload": {}}`, CodeInvalidArgument},
	} {
		b.wantError(t, "POST", "/api/v1/jobs", c.body, 400, c.code, "Content-Type", "application/json")
	}
	// Nothing was created.
	st := b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200)
	if st["total_jobs"] != 0.0 {
		t.Fatalf("refused submissions created jobs: %v", st)
	}
}

// A type no built-in handles is accepted once a live worker advertises it.
func TestSubmitTypesOfLiveWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{}})
	b.wantError(t, "POST", "/api/v1/jobs", `{"type": "quick"}`, 400, CodeUnknownJobType)
	b.startWorker(t)
	id := b.submit(t, `{"type": "quick"}`)
	b.waitStatus(t, id, queue.StateCompleted)
	b.wantError(t, "POST", "/api/v1/jobs", `{"type": "demo"}`, 400, CodeUnknownJobType)
}

// The API asks Config.JobTypes of every submission: any implementation,
// not only a fixed list, decides which types are known and which payloads
// are refused.
func TestSubmitAsksJobTypes(t *testing.T) {
	t.Parallel()
	types := &countingTypes{TypeSet: TypeSet{"custom": func(p json.RawMessage) error {
		if strings.Contains(string(p), "bad") {
			return errors.New("bad payload")
		}
		return nil
	}}}
	b := setup(t, Config{JobTypes: types})
	b.call(t, "POST", "/api/v1/jobs", `{"type": "custom", "payload": {"ok": 1}}`, 201)
	b.wantError(t, "POST", "/api/v1/jobs", `{"type": "custom", "payload": {"bad": 1}}`, 400, CodeInvalidArgument)
	b.wantError(t, "POST", "/api/v1/jobs", `{"type": "demo"}`, 400, CodeUnknownJobType)
	if n := types.asked.Load(); n < 3 {
		t.Fatalf("JobTypes asked %d times for 3 submissions", n)
	}
}

// countingTypes is a TypeSet that counts the questions it is asked.
type countingTypes struct {
	TypeSet
	asked atomic.Int64
}

func (c *countingTypes) Known(typ string) bool {
	c.asked.Add(1)
	return c.TypeSet.Known(typ)
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{BodyLimit: 256})
	big := `{"type": "demo", "payload": {"text": "` + strings.Repeat("x", 300) + `"}}`
	b.wantError(t, "POST", "/api/v1/jobs", big, 413, CodePayloadTooLarge)
	b.wantError(t, "POST", "/api/v1/jobs/batch", `{"jobs": [`+big+`]}`, 413, CodePayloadTooLarge)

	// Without a declared length, the limit bites while reading.
	req, _ := http.NewRequestWithContext(ctxT(t), "POST", b.url+"/api/v1/jobs", strings.NewReader(big))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked big body: %d", resp.StatusCode)
	}
	b.call(t, "POST", "/api/v1/jobs", `{"type": "demo"}`, 201)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})

	out := b.call(t, "POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "demo"}, {"type": "chunking", "priority": 5, "payload": {"documents": ["a b c"]}}]}`, 201)
	jobs := out["jobs"].([]any)
	if len(jobs) != 2 || out["created"] != 2.0 || out["failed"] != 0.0 {
		t.Fatalf("batch: %v", out)
	}
	for _, j := range jobs {
		item := j.(map[string]any)
		wantKeys(t, "batch item", item, "job_id", "status", "created_at")
		if item["status"] != "pending" {
			t.Fatalf("item %v", item)
		}
	}

	// Mixed: each bad job fails alone, in order.
	out = b.call(t, "POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "demo", "unique_key": "u"},
		{"type": "demo", "colour": "red"}, {"type": "thumbnail"}, {"type": "demo", "unique_key": "u"},
		{"type": "demo", "priority": 500}, null, {"type": "demo"}, {"type": "demo", "payload": {"steps": -1}}]}`, 200)
	jobs = out["jobs"].([]any)
	if len(jobs) != 8 || out["created"] != 2.0 || out["failed"] != 6.0 {
		t.Fatalf("mixed batch: %v", out)
	}
	codes := []string{"", CodeInvalidArgument, CodeUnknownJobType, CodeDuplicate, CodeInvalidArgument, CodeInvalidArgument, "", CodeInvalidArgument}
	for i, j := range jobs {
		item := j.(map[string]any)
		if codes[i] == "" {
			wantKeys(t, "batch item", item, "job_id", "status", "created_at")
			continue
		}
		wantKeys(t, "batch item", item, "error")
		if e := item["error"].(map[string]any); e["code"] != codes[i] || e["message"] == "" {
			t.Fatalf("item %d: %v, want %s", i, item, codes[i])
		}
	}
	first := jobs[0].(map[string]any)["job_id"]
	if dup := jobs[3].(map[string]any)["error"].(map[string]any); dup["job_id"] != first {
		t.Fatalf("duplicate item %v, want job_id %v", dup, first)
	}

	// The envelope must be right as a whole.
	b.wantError(t, "POST", "/api/v1/jobs/batch", `{"jobs": []}`, 400, CodeInvalidArgument)
	b.wantError(t, "POST", "/api/v1/jobs/batch", `{}`, 400, CodeInvalidArgument)
	b.wantError(t, "POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "demo"}], "x": 1}`, 400, CodeInvalidArgument)
	b.wantError(t, "POST", "/api/v1/jobs/batch", `[{"type": "demo"}]`, 400, CodeInvalidArgument)
	tooMany := `{"jobs": [` + strings.Repeat(`{"type": "demo"},`, MaxBatch) + `{"type": "demo"}]}`
	b.wantError(t, "POST", "/api/v1/jobs/batch", tooMany, 400, CodeInvalidArgument)
}

func TestListGetDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.startWorker(t)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, b.submit(t, `{"type": "quick", "queue": "parked"}`))
	}
	done := b.submit(t, `{"type": "quick"}`)
	b.waitStatus(t, done, queue.StateCompleted)

	out := b.call(t, "GET", "/api/v1/jobs?status=pending&limit=2", "", 200)
	wantKeys(t, "list", out, "jobs", "next_cursor")
	page := out["jobs"].([]any)
	cursor, _ := out["next_cursor"].(string)
	if len(page) != 2 || cursor == "" {
		t.Fatalf("page 1: %v", out)
	}
	got := []string{page[0].(map[string]any)["job_id"].(string), page[1].(map[string]any)["job_id"].(string)}
	out = b.call(t, "GET", "/api/v1/jobs?status=pending&limit=2&cursor="+cursor, "", 200)
	page = out["jobs"].([]any)
	if len(page) != 1 || out["next_cursor"] != nil {
		t.Fatalf("page 2: %v", out)
	}
	got = append(got, page[0].(map[string]any)["job_id"].(string))
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("listed %v, want %v (FIFO)", got, ids)
	}
	out = b.call(t, "GET", "/api/v1/jobs?type=quick&queue=default", "", 200)
	if page = out["jobs"].([]any); len(page) != 1 || page[0].(map[string]any)["job_id"] != done ||
		page[0].(map[string]any)["worker_id"] == nil {
		t.Fatalf("filtered list: %v", out)
	}
	out = b.call(t, "GET", "/api/v1/jobs?queue=parked&created_after=2000-01-01T00:00:00Z&created_before=2999-01-01T00:00:00Z", "", 200)
	if page = out["jobs"].([]any); len(page) != 3 {
		t.Fatalf("created between: %v", out)
	}
	out = b.call(t, "GET", "/api/v1/jobs?queue=parked&created_before=2000-01-01T00:00:00Z", "", 200)
	if page = out["jobs"].([]any); len(page) != 0 {
		t.Fatalf("created before 2000: %v", out)
	}
	for _, q := range []string{"status=lost", "limit=0", "limit=501", "limit=x", "cursor=garbage", "queue=a%20b",
		"created_after=yesterday", "created_before=", "created_after=2024-01-02T00:00:00Z&created_before=2024-01-01T00:00:00Z"} {
		b.wantError(t, "GET", "/api/v1/jobs?"+q, "", 400, CodeInvalidArgument)
	}

	// Delete: finished jobs only.
	b.wantError(t, "DELETE", "/api/v1/jobs/"+ids[0], "", 409, CodeInvalidTransition)
	resp, data := b.do(t, "DELETE", "/api/v1/jobs/"+done, "")
	if resp.StatusCode != 204 || len(data) != 0 {
		t.Fatalf("delete: %d %s", resp.StatusCode, data)
	}
	b.wantError(t, "GET", "/api/v1/jobs/"+done, "", 404, CodeNotFound)
	b.wantError(t, "DELETE", "/api/v1/jobs/"+done, "", 404, CodeNotFound)
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	if out := b.call(t, "GET", "/api/v1/workers", "", 200); len(out["workers"].([]any)) != 0 {
		t.Fatalf("workers: %v", out)
	}
	w := b.startWorker(t)
	out := b.call(t, "GET", "/api/v1/workers", "", 200)
	ws := out["workers"].([]any)
	if len(ws) != 1 {
		t.Fatalf("workers: %v", out)
	}
	info := ws[0].(map[string]any)
	if info["id"] != w.ID() || info["concurrency"] != 4.0 || info["limits_enforced"] != false ||
		!strings.Contains(fmt.Sprint(info["types"]), "block") || info["last_seen"] == nil {
		t.Fatalf("worker %v", info)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	if out := b.call(t, "GET", "/healthz", "", 200); out["status"] != "ok" {
		t.Fatalf("healthz %v", out)
	}
	if out := b.call(t, "GET", "/readyz", "", 200); out["status"] != "ready" {
		t.Fatalf("readyz %v", out)
	}
}

// A list page holds job summaries: no payload, no result, unless include
// asks for them; and it ends early, with a cursor, once its jobs' fields
// pass Config.ListBytes.
func TestListSummariesWithinABudget(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{ListBytes: 5000})
	b.startWorker(t)
	done := b.submit(t, `{"type": "quick"}`)
	b.waitStatus(t, done, queue.StateCompleted)
	pad := strings.Repeat("x", 2000)
	var big []string
	for range 4 {
		big = append(big, b.submit(t, `{"type": "quick", "queue": "parked", "payload": {"pad": "`+pad+`"}}`))
	}

	out := b.call(t, "GET", "/api/v1/jobs", "", 200)
	jobs := out["jobs"].([]any)
	if len(jobs) != 5 || out["next_cursor"] != nil {
		t.Fatalf("summaries: %d jobs, cursor %v", len(jobs), out["next_cursor"])
	}
	for _, j := range jobs {
		m := j.(map[string]any)
		if _, ok := m["payload"]; ok {
			t.Fatalf("a summary holds the payload: %v", m)
		}
		if _, ok := m["result"]; ok {
			t.Fatalf("a summary holds the result: %v", m)
		}
		if m["job_id"] == done && (m["status"] != "completed" || m["worker_id"] == nil) {
			t.Fatalf("summary of the completed job: %v", m)
		}
	}

	out = b.call(t, "GET", "/api/v1/jobs?status=completed&include=payload,result", "", 200)
	m := out["jobs"].([]any)[0].(map[string]any)
	if m["result"].(map[string]any)["ok"] != true || m["payload"] == nil {
		t.Fatalf("include=payload,result: %v", m)
	}
	if m := b.call(t, "GET", "/api/v1/jobs?status=completed&include=result", "", 200)["jobs"].([]any)[0].(map[string]any); m["result"] == nil || m["payload"] != nil {
		t.Fatalf("include=result: %v", m)
	}

	// With payloads, 5000 bytes hold two 2 KB jobs a page.
	var got []string
	for cursor, pages := "", 0; ; pages++ {
		out := b.call(t, "GET", "/api/v1/jobs?queue=parked&include=payload&cursor="+cursor, "", 200)
		jobs := out["jobs"].([]any)
		for _, j := range jobs {
			m := j.(map[string]any)
			if m["payload"].(map[string]any)["pad"] != pad {
				t.Fatalf("payload %v", m["payload"])
			}
			got = append(got, m["job_id"].(string))
		}
		cursor, _ = out["next_cursor"].(string)
		if cursor == "" {
			break
		}
		if len(jobs) != 2 || pages > 4 {
			t.Fatalf("page %d: %d jobs within 5000 bytes", pages, len(jobs))
		}
	}
	if strings.Join(got, ",") != strings.Join(big, ",") {
		t.Fatalf("paged %v, want %v", got, big)
	}
	for _, q := range []string{"include=", "include=everything", "include=payload,secrets"} {
		b.wantError(t, "GET", "/api/v1/jobs?"+q, "", 400, CodeInvalidArgument)
	}
}

// TestListCursorKeepsItsFilters: a cursor carries the filters of the list
// it pages, so the next page is of the same list even when the request
// leaves the filters out; a cursor asked to page a list with other
// filters is refused rather than mixing two lists.
func TestListCursorKeepsItsFilters(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.startWorker(t)
	parked := []string{b.submit(t, `{"type": "quick", "queue": "parked"}`), b.submit(t, `{"type": "quick", "queue": "parked"}`)}
	done := b.submit(t, `{"type": "quick"}`)
	b.waitStatus(t, done, queue.StateCompleted)

	ids := func(out map[string]any) (got []string) {
		for _, j := range out["jobs"].([]any) {
			got = append(got, j.(map[string]any)["job_id"].(string))
		}
		return got
	}
	out := b.call(t, "GET", "/api/v1/jobs?status=pending&limit=1", "", 200)
	cursor, _ := out["next_cursor"].(string)
	if got := ids(out); len(got) != 1 || got[0] != parked[0] || cursor == "" {
		t.Fatalf("page 1: %v", out)
	}
	for _, q := range []string{"cursor=" + cursor, "status=pending&cursor=" + cursor, "limit=5&cursor=" + cursor} {
		out = b.call(t, "GET", "/api/v1/jobs?"+q, "", 200)
		if got := ids(out); len(got) != 1 || got[0] != parked[1] || out["next_cursor"] != nil {
			t.Errorf("?%s: %v, want only the second pending job", q, out)
		}
	}
	for q, want := range map[string]string{
		"status=completed&cursor=" + cursor:       "status=pending",
		"type=quick&cursor=" + cursor:             "type=quick",
		"status=pending&queue=x&cursor=" + cursor: "queue=x",
	} {
		e := b.wantError(t, "GET", "/api/v1/jobs?"+q, "", 400, CodeInvalidArgument)
		if msg, _ := e["message"].(string); !strings.Contains(msg, "cursor") || !strings.Contains(msg, want) {
			t.Errorf("?%s: message %q does not name the cursor and %q", q, msg, want)
		}
	}
}

// TestProgressIsRoundedToOneDecimal: a handler's 100/3 is served as 33.3
// in every view (status, poll, record, list, stream), not as
// 33.33333333333333.
func TestProgressIsRoundedToOneDecimal(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"third": nil}})
	b.startWorker(t)
	id := b.submit(t, `{"type": "third"}`)
	waitFor(t, "progress of a third", func() bool {
		j, err := b.client.Get(ctxT(t), id)
		return err == nil && j.CurrentStep == "A third"
	})
	for _, path := range []string{"/api/v1/jobs/status/" + id, "/api/v1/jobs/" + id,
		"/api/v1/jobs/status/" + id + "/poll?timeout=1&current_status=pending"} {
		if got := b.call(t, "GET", path, "", 200)["progress"]; got != 33.3 {
			t.Errorf("GET %s: progress %v, want 33.3", path, got)
		}
	}
	list := b.call(t, "GET", "/api/v1/jobs?status=running", "", 200)["jobs"].([]any)
	if got := list[0].(map[string]any)["progress"]; len(list) != 1 || got != 33.3 {
		t.Errorf("list: progress %v, want 33.3", got)
	}
	s := b.openStream(t, id, "")
	defer s.close()
	ev, ok := s.nextEvent(t)
	if !ok || ev.Data["progress"] != 33.3 {
		t.Errorf("stream: first event %+v, want progress 33.3", ev)
	}
	b.call(t, "POST", "/api/v1/jobs/cancel/"+id, "", 200)
}
