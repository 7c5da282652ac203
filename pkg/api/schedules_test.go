package api

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// A schedule is created, read, listed, paused, resumed and deleted; its
// job is checked as a submission is, and every bad input names its field.
func TestScheduleRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	body := `{"name": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Paris",
		"job": {"type": "demo", "payload": {"steps": 2}, "queue": "reports", "priority": 5}}`
	resp, data := b.do(t, "POST", "/api/v1/schedules", body)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Location") != "/api/v1/schedules/nightly" {
		t.Fatalf("create: %d %s", resp.StatusCode, data)
	}
	out := b.call(t, "GET", "/api/v1/schedules/nightly", "", 200)
	wantKeys(t, "schedule", out, "name", "cron", "timezone", "every_seconds", "job", "paused", "next_run_at",
		"last_run_at", "last_job_id", "last_error", "fired", "caught_up", "created_at", "updated_at")
	job := out["job"].(map[string]any)
	if out["timezone"] != "Europe/Paris" || out["next_run_at"] == nil || out["paused"] != false ||
		job["queue"] != "reports" || job["priority"] != 5.0 || job["max_retries"] != 3.0 || job["timeout_seconds"] == 0.0 {
		t.Fatalf("schedule: %v", out)
	}
	b.call(t, "POST", "/api/v1/schedules", `{"name": "often", "every_seconds": 60, "job": {"type": "demo"}}`, 201)
	b.wantError(t, "POST", "/api/v1/schedules", `{"name": "often", "every_seconds": 60, "job": {"type": "demo"}}`, 409, CodeScheduleExists)

	list := b.call(t, "GET", "/api/v1/schedules?limit=1", "", 200)
	if items := list["schedules"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "nightly" || list["next_cursor"] == nil {
		t.Fatalf("page 1: %v", list)
	}
	list = b.call(t, "GET", "/api/v1/schedules?limit=1&cursor="+list["next_cursor"].(string), "", 200)
	if items := list["schedules"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "often" || list["next_cursor"] != nil {
		t.Fatalf("page 2: %v", list)
	}

	out = b.call(t, "POST", "/api/v1/schedules/often/pause", "", 200)
	if out["paused"] != true || out["next_run_at"] != nil {
		t.Fatalf("paused: %v", out)
	}
	out = b.call(t, "POST", "/api/v1/schedules/often/resume", "", 200)
	if out["paused"] != false || out["next_run_at"] == nil {
		t.Fatalf("resumed: %v", out)
	}
	if resp, _ := b.do(t, "DELETE", "/api/v1/schedules/often", ""); resp.StatusCode != 204 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	for _, r := range [][2]string{{"GET", ""}, {"DELETE", ""}, {"POST", "/pause"}, {"POST", "/resume"}} {
		e := b.wantError(t, r[0], "/api/v1/schedules/often"+r[1], "", 404, CodeNotFound)
		if e["message"] != "no schedule is named often" {
			t.Errorf("%s: %v", r, e)
		}
	}

	for _, tc := range []struct{ body, code, field string }{
		{`{"name": "x", "cron": "* * *", "job": {"type": "demo"}}`, CodeInvalidArgument, "cron"},
		{`{"name": "x", "cron": "* * * * *", "timezone": "Nowhere/Land", "job": {"type": "demo"}}`, CodeInvalidArgument, "timezone"},
		{`{"name": "x", "every_seconds": 0, "job": {"type": "demo"}}`, CodeInvalidArgument, "every_seconds"},
		{`{"name": "x", "job": {"type": "demo"}}`, CodeInvalidArgument, "cron or every_seconds"},
		{`{"name": "x", "every_seconds": 5}`, CodeInvalidArgument, "job"},
		{`{"every_seconds": 5, "job": {"type": "demo"}}`, CodeInvalidArgument, "name"},
		{`{"name": "a b", "every_seconds": 5, "job": {"type": "demo"}}`, CodeInvalidArgument, "name"},
		{`{"name": "x", "every_seconds": 5, "job": {"type": "nobody_runs_this"}}`, CodeUnknownJobType, "nobody_runs_this"},
		{`{"name": "x", "every_seconds": 5, "job": {"type": "demo", "payload": {"steps": "many"}}}`, CodeInvalidArgument, "payload"},
		{`{"name": "x", "every_seconds": 5, "job": {"type": "demo", "priority": 101}}`, CodeInvalidArgument, "job: priority"},
		{`{"name": "x", "every_seconds": 5, "job": {"type": "demo", "delay_seconds": 5}}`, CodeInvalidArgument, "job.delay_seconds"},
		{`{"name": "x", "every_seconds": 5, "job": {"type": "demo", "unique_key": "k"}}`, CodeInvalidArgument, "job.unique_key"},
		{`{"name": "x", "every_seconds": 5, "job": {"type": "demo", "nope": 1}}`, CodeInvalidArgument, "job"},
		{`{"name": "x", "every_seconds": 5, "job": {"type": "demo"}, "extra": 1}`, CodeInvalidArgument, "extra"},
	} {
		e := b.wantError(t, "POST", "/api/v1/schedules", tc.body, 400, tc.code)
		if msg := e["message"].(string); !strings.Contains(msg, tc.field) {
			t.Errorf("%s: %q does not name %s", tc.body, msg, tc.field)
		}
	}
	b.wantError(t, "GET", "/api/v1/schedules?limit=0", "", 400, CodeInvalidArgument)
	b.wantError(t, "GET", "/api/v1/schedules?cursor=a%20b", "", 400, CodeInvalidArgument)
}

// A tick fired shows in /metrics, and in the schedule's last run.
func TestScheduleTicksInMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.call(t, "POST", "/api/v1/schedules", `{"name": "m", "every_seconds": 1, "job": {"type": "demo", "queue": "sched"}}`, 201)
	ctx := ctxT(t)
	deadline := time.Now().Add(10 * time.Second)
	for fired := 0; fired == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no tick fired in 10 s")
		}
		n, wait, err := b.client.FireDueSchedules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fired = n
		time.Sleep(min(wait, 100*time.Millisecond)) // the tick's time, on the clock
	}
	out := b.call(t, "GET", "/api/v1/schedules/m", "", 200)
	if out["fired"] != 1.0 || out["last_job_id"] == nil || out["last_run_at"] == nil {
		t.Fatalf("after a tick: %v", out)
	}
	b.call(t, "GET", "/api/v1/jobs/"+out["last_job_id"].(string), "", 200)
	_, data := b.do(t, "GET", "/metrics", "")
	for _, want := range []string{`jobqueue_schedule_ticks_fired_total{schedule="m"} 1`, `jobqueue_schedule_ticks_caught_up_total{schedule="m"} 0`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
