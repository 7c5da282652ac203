package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/compileo/jobqueue/pkg/webhook"
)

// Without a webhook secret (Config.Callbacks nil), a callback_url is
// refused and nothing is created.
func TestCallbackRefusedWhenOff(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	e := b.wantError(t, "POST", "/api/v1/jobs", `{"type":"quick","callback_url":"https://93.184.216.34/hook"}`,
		http.StatusBadRequest, "invalid_argument")
	if !strings.Contains(e["message"].(string), "callbacks are off") {
		t.Fatalf("message %v", e["message"])
	}
}

// Callback URLs to loopback, link-local or private addresses, or not
// http(s), are refused, singly and in a batch (each job on its own); a
// public one is taken and shown on the job's status and record.
func TestCallbackURLChecked(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Callbacks: &webhook.Guard{}})
	b.startWorker(t) // it runs "quick"
	for _, u := range []string{"http://127.0.0.1:9000/hook", "http://[::1]/x", "http://169.254.169.254/",
		"http://10.0.0.8/x", "ftp://93.184.216.34/x", "/relative", "http://user:pw@93.184.216.34/"} {
		b.wantError(t, "POST", "/api/v1/jobs", `{"type":"quick","callback_url":"`+u+`"}`,
			http.StatusBadRequest, "invalid_argument")
	}
	out := b.call(t, "POST", "/api/v1/jobs/batch", `{"jobs":[
		{"type":"quick","callback_url":"http://127.0.0.1:9000/hook"},
		{"type":"quick","callback_url":"https://93.184.216.34/hook"}]}`, http.StatusOK)
	if out["created"] != 1.0 || out["failed"] != 1.0 {
		t.Fatalf("batch %v", out)
	}
	id := b.submit(t, `{"type":"quick","callback_url":"https://93.184.216.34/hook"}`)
	st := b.call(t, "GET", "/api/v1/jobs/status/"+id, "", http.StatusOK)
	cb, _ := st["callback"].(map[string]any)
	if cb["url"] != "https://93.184.216.34/hook" || cb["tries"] != 0.0 { // no deliverer runs here
		t.Fatalf("status callback %v", st["callback"])
	}
	rec := b.call(t, "GET", "/api/v1/jobs/"+id, "", http.StatusOK)
	if _, ok := rec["callback"]; !ok {
		t.Fatalf("record without its callback: %v", rec)
	}
	plain := b.submit(t, `{"type":"quick"}`)
	st = b.call(t, "GET", "/api/v1/jobs/status/"+plain, "", http.StatusOK)
	if _, ok := st["callback"]; ok || len(st) != 10 {
		t.Fatalf("a job without a callback: %v", st)
	}
}

// An operator's allowed range opens loopback; a delivered callback's
// attempts show on the status.
func TestCallbackAllowedRangeAndAttempts(t *testing.T) {
	t.Parallel()
	nets, _ := webhook.ParseAllow("127.0.0.1")
	b := setup(t, Config{Callbacks: &webhook.Guard{Allow: nets}})
	b.startWorker(t)
	id := b.submit(t, `{"type":"quick","callback_url":"http://127.0.0.1:9/hook"}`)
	b.waitStatus(t, id, queue.StateCompleted)
	ctx := ctxT(t)
	jobs, err := b.client.ClaimDeliveries(ctx, 1, 0)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	a := queue.DeliveryAttempt{At: jobs[0].CompletedAt, StatusCode: 503, Error: "receiver answered 503 Service Unavailable"}
	if err := b.client.AckDelivery(ctx, jobs[0], a, queue.DeliveryPending, jobs[0].CompletedAt.Add(1e12)); err != nil {
		t.Fatal(err)
	}
	st := b.call(t, "GET", "/api/v1/jobs/status/"+id, "", http.StatusOK)
	cb := st["callback"].(map[string]any)
	attempts, _ := cb["attempts"].([]any)
	if cb["state"] != "pending" || cb["tries"] != 1.0 || len(attempts) != 1 ||
		attempts[0].(map[string]any)["status_code"] != 503.0 || cb["delivery_id"] == nil {
		t.Fatalf("callback %v", cb)
	}
}
