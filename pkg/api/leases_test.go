package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// leased is one job of a lease call's answer.
type leased struct {
	JobID        string                     `json:"job_id"`
	Type         string                     `json:"type"`
	Queue        string                     `json:"queue"`
	Payload      json.RawMessage            `json:"payload"`
	Attempt      int                        `json:"attempt"`
	MaxRetries   int                        `json:"max_retries"`
	LeaseToken   string                     `json:"lease_token"`
	LeaseSeconds int                        `json:"lease_seconds"`
	Inputs       map[string]json.RawMessage `json:"inputs"`
	TraceParent  string                     `json:"traceparent"`
}

// lease takes jobs through the API with body and returns them.
func (b *bundle) lease(t *testing.T, body string) []leased {
	t.Helper()
	resp, data := b.do(t, "POST", "/api/v1/leases", body)
	if resp.StatusCode != 200 {
		t.Fatalf("lease %s: %d %s", body, resp.StatusCode, data)
	}
	var out struct {
		Leases []leased `json:"leases"`
	}
	mustJSON(t, data, &out)
	return out.Leases
}

// twoInstances is two API instances on one queue (one Redis prefix), as
// two apiservers behind a load balancer.
func twoInstances(t *testing.T, cfg Config) (*bundle, *bundle) {
	t.Helper()
	srv := redistest.Shared(t)
	prefix := redistest.Prefix(t)
	a := setupOnPrefix(t, redis.NewClient(&redis.Options{Addr: srv.Addr}), prefix, cfg)
	b := setupOnPrefix(t, redis.NewClient(&redis.Options{Addr: srv.Addr}), prefix, cfg)
	return a, b
}

// The wire contract, every call served by one of two instances in turn:
// a worker's first call makes its type known, a lease makes the job
// running as a Go worker would, heartbeats carry progress, complete is
// idempotent for its token, and another token changes nothing.
func TestLeaseContractAcrossInstances(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t, Config{JobTypes: TypeSet{}})
	a.wantError(t, "POST", "/api/v1/jobs", `{"type": "ocr"}`, 400, CodeUnknownJobType)
	if got := a.lease(t, `{"worker_id": "py-1", "types": ["ocr"]}`); len(got) != 0 {
		t.Fatalf("leased %v from an empty queue", got)
	}
	ws := b.call(t, "GET", "/api/v1/workers", "", 200)["workers"].([]any)
	if len(ws) != 1 || ws[0].(map[string]any)["protocol"] != "http" || ws[0].(map[string]any)["id"] != "py-1" ||
		ws[0].(map[string]any)["concurrency"] != 1.0 {
		t.Fatalf("workers %v", ws)
	}
	id := b.submit(t, `{"type": "ocr", "payload": {"page": 1}, "max_retries": 2}`)
	got := b.lease(t, `{"worker_id": "py-1", "types": ["ocr"], "max_jobs": 5, "lease_seconds": 20}`)
	if len(got) != 1 || got[0].JobID != id || got[0].Type != "ocr" || got[0].Queue != "default" ||
		string(got[0].Payload) != `{"page":1}` || got[0].Attempt != 1 || got[0].MaxRetries != 2 || got[0].LeaseSeconds != 20 {
		t.Fatalf("leased %+v", got)
	}
	j, _ := a.client.Get(ctxT(t), id)
	if j.Status != queue.StateRunning || j.WorkerID != "py-1" || j.StartedAt.IsZero() || j.Attempts != 1 {
		t.Fatalf("leased job %+v", j)
	}
	tok := got[0].LeaseToken
	path := "/api/v1/leases/" + id
	sub := a.hub.Subscribe(id)
	defer sub.Close()
	hb := b.call(t, "POST", path+"/heartbeat", `{"lease_token": "`+tok+`", "progress": 40, "current_step": "OCR"}`, 200)
	if hb["lease_seconds"] != 20.0 {
		t.Fatalf("heartbeat %v", hb)
	}
	for ev := range waitEvents(t, sub.C, 10*time.Second) {
		if ev.Version <= j.Version {
			continue // the lease's own event, still on its way when sub began
		}
		if ev.Progress != 40 || ev.CurrentStep != "OCR" || ev.Status != queue.StateRunning {
			t.Fatalf("progress event %+v", ev)
		}
		break
	}
	a.call(t, "POST", path+"/heartbeat", `{"lease_token": "`+tok+`"}`, 200)
	other := "0123456789abcdef.20"
	e := a.wantError(t, "POST", path+"/complete", `{"lease_token": "`+other+`", "result": 1}`, 409, CodeLeaseLost)
	if e["status"] != "running" {
		t.Fatalf("lease_lost names status %v", e["status"])
	}
	a.call(t, "POST", path+"/complete", `{"lease_token": "`+tok+`", "result": {"text": "hi"}}`, 200)
	before, _ := a.client.Get(ctxT(t), id)
	b.call(t, "POST", path+"/complete", `{"lease_token": "`+tok+`", "result": {"text": "again"}}`, 200)
	after, _ := a.client.Get(ctxT(t), id)
	if after.Status != queue.StateCompleted || string(after.Result) != `{"text":"hi"}` || after.Version != before.Version {
		t.Fatalf("a repeated complete changed the job: %+v", after)
	}
	e = b.wantError(t, "POST", path+"/heartbeat", `{"lease_token": "`+tok+`"}`, 409, CodeLeaseLost)
	if e["status"] != "completed" {
		t.Fatalf("heartbeat after complete: %v", e)
	}
	b.wantError(t, "POST", path+"/complete", `{"lease_token": "`+other+`"}`, 409, CodeLeaseLost)
}

// fail retries within max_retries (attempt + 1), fails at once when not
// retryable, and answers a repeat with the job's status as it is.
func TestLeaseFail(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"ocr": nil}})
	m, err := queue.NewMaintenance(b.client, queue.MaintenanceConfig{PromoteInterval: 20 * time.Millisecond, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	id := b.submit(t, `{"type": "ocr", "max_retries": 1}`)
	got := b.lease(t, `{"worker_id": "py-1", "types": ["ocr"]}`)
	path := "/api/v1/leases/" + id + "/fail"
	body := `{"lease_token": "` + got[0].LeaseToken + `", "error": "scanner jam"}`
	if out := b.call(t, "POST", path, body, 200); out["status"] != "retrying" {
		t.Fatalf("fail: %v", out)
	}
	if out := b.call(t, "POST", path, body, 200); out["status"] != "retrying" {
		t.Fatalf("repeated fail: %v", out)
	}
	j := b.waitStatus(t, id, queue.StatePending) // the backoff ran out
	if j.Error != "scanner jam" {
		t.Fatalf("retried job %+v", j)
	}
	got = b.lease(t, `{"worker_id": "py-1", "types": ["ocr"], "wait_seconds": 5}`)
	if len(got) != 1 || got[0].Attempt != 2 {
		t.Fatalf("second lease %+v", got)
	}
	b.wantError(t, "POST", path, body, 409, CodeLeaseLost) // the first run's token is dead
	out := b.call(t, "POST", path, `{"lease_token": "`+got[0].LeaseToken+`", "error": "bad scan", "retryable": false}`, 200)
	if out["status"] != "failed" {
		t.Fatalf("permanent fail: %v", out)
	}
}

// A waiting lease call is woken by a submission, not by polling.
func TestLeaseWaitWokenBySubmission(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"ocr": nil, "other": nil}})
	done := make(chan []leased, 1)
	go func() { done <- b.lease(t, `{"worker_id": "py-1", "types": ["ocr"], "wait_seconds": 30}`) }()
	waitFor(t, "the lease call waiting", func() bool {
		ws, _ := b.client.Workers(ctxT(t))
		return len(ws) == 1
	})
	b.submit(t, `{"type": "other"}`) // not its type: it keeps waiting
	start := time.Now()
	id := b.submit(t, `{"type": "ocr"}`)
	select {
	case got := <-done:
		if len(got) != 1 || got[0].JobID != id {
			t.Fatalf("leased %+v", got)
		}
		t.Logf("leased %s after the submission", time.Since(start))
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting lease call was not woken by the submission")
	}
}

// Bad input gets 400 or 404 with a clear message, and changes nothing.
func TestLeaseBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"ocr": nil}})
	id := b.submit(t, `{"type": "ocr"}`)
	for _, body := range []string{
		`{}`, `{"types": ["ocr"]}`, `{"worker_id": "py-1"}`, `{"worker_id": "py-1", "types": []}`,
		`{"worker_id": "bad id", "types": ["ocr"]}`, `{"worker_id": "` + strings.Repeat("w", 129) + `", "types": ["ocr"]}`,
		`{"worker_id": "py-1", "types": ["no spaces"]}`, `{"worker_id": "py-1", "types": ["ocr"], "max_jobs": 0}`,
		`{"worker_id": "py-1", "types": ["ocr"], "max_jobs": 101}`, `{"worker_id": "py-1", "types": ["ocr"], "wait_seconds": 61}`,
		`{"worker_id": "py-1", "types": ["ocr"], "wait_seconds": -1}`, `{"worker_id": "py-1", "types": ["ocr"], "lease_seconds": 4}`,
		`{"worker_id": "py-1", "types": ["ocr"], "lease_seconds": 301}`, `{"worker_id": "py-1", "types": ["ocr"], "queues": ["a b"]}`,
		`{"worker_id": "py-1", "types": ["ocr"], "max_jobs": 1.5}`, `{"worker_id": "py-1", "types": ["ocr"], "nope": 1}`,
		`{"worker_id": "py-1", "types": "ocr"}`, `{"worker_id": "py-1", "types": ["ocr"]`, `[]`,
	} {
		b.wantError(t, "POST", "/api/v1/leases", body, 400, CodeInvalidArgument)
	}
	tok := "0123456789abcdef.30"
	for _, c := range []struct{ path, body string }{
		{"/heartbeat", `{}`}, {"/heartbeat", `{"lease_token": "x"}`}, {"/heartbeat", `{"lease_token": "` + tok + `", "progress": 101}`},
		{"/heartbeat", `{"lease_token": "` + tok + `", "progress": -1}`}, {"/heartbeat", `{"lease_token": "` + tok + `", "current_step": "x"}`},
		{"/heartbeat", `{"lease_token": "` + tok + `", "extra": 1}`}, {"/complete", `{"result": 1}`},
		{"/complete", `{"lease_token": "` + tok + `", "result": }`}, {"/fail", `{"lease_token": "` + tok + `"}`},
		{"/fail", `{"lease_token": "` + tok + `", "error": "x", "retryable": "no"}`}, {"/fail", `{"lease_token": 7, "error": "x"}`},
	} {
		b.wantError(t, "POST", "/api/v1/leases/"+id+c.path, c.body, 400, CodeInvalidArgument)
	}
	b.wantError(t, "POST", "/api/v1/leases/nope/complete", `{"lease_token": "`+tok+`"}`, 400, CodeInvalidArgument)
	b.wantError(t, "POST", "/api/v1/leases/"+unknownID+"/complete", `{"lease_token": "`+tok+`"}`, 404, CodeNotFound)
	b.wantError(t, "POST", "/api/v1/leases/"+unknownID+"/heartbeat", `{"lease_token": "`+tok+`"}`, 404, CodeNotFound)
	b.wantError(t, "POST", "/api/v1/leases/"+unknownID+"/fail", `{"lease_token": "`+tok+`", "error": "x"}`, 404, CodeNotFound)
	b.wantError(t, "POST", "/api/v1/leases/"+id+"/complete", `{"lease_token": "`+tok+`"}`, 409, CodeLeaseLost)
	if j, _ := b.client.Get(ctxT(t), id); j.Status != queue.StatePending || j.Version != 1 {
		t.Fatalf("bad calls changed the job: %+v", j)
	}
	if ws, _ := b.client.Workers(ctxT(t)); len(ws) != 0 {
		t.Fatalf("a refused lease call announced a worker: %+v", ws)
	}
}

// With keys, the lease routes need a worker (or admin) key.
func TestLeaseRoles(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t)})
	body := `{"worker_id": "py-1", "types": ["ocr"]}`
	b.wantError(t, "POST", "/api/v1/leases", body, 401, CodeUnauthenticated)
	b.wantError(t, "POST", "/api/v1/leases", body, 403, CodeForbidden, "X-API-Key", readSecret)
	b.wantError(t, "POST", "/api/v1/leases", body, 403, CodeForbidden, "X-API-Key", submitSecret)
	b.call(t, "POST", "/api/v1/leases", body, 200, "X-API-Key", workerSecret)
	b.call(t, "POST", "/api/v1/leases", body, 200, "X-API-Key", adminSecret)
	// A worker key reads, but neither submits nor cancels.
	b.call(t, "GET", "/api/v1/workers", "", 200, "X-API-Key", workerSecret)
	b.wantError(t, "POST", "/api/v1/jobs", `{"type": "ocr"}`, 403, CodeForbidden, "X-API-Key", workerSecret)
	b.wantError(t, "POST", "/api/v1/jobs/cancel/"+unknownID, "", 403, CodeForbidden, "X-API-Key", workerSecret)
}

// A worker is announced again when what it serves changes, when it asks
// for more jobs than before, or when its announcement is due; asking for
// fewer (its free slots while busy) is no news.
func TestAnnouncementsDue(t *testing.T) {
	t.Parallel()
	var a announcements
	ocr, pdf := []string{"ocr"}, []string{"pdf"}
	for i, c := range []struct {
		types  []string
		asked  int
		every  time.Duration
		most   int
		wantOK bool
	}{
		{ocr, 5, time.Hour, 5, true},
		{ocr, 3, time.Hour, 0, false},
		{ocr, 5, time.Hour, 0, false},
		{ocr, 8, time.Hour, 8, true},
		{ocr, 2, 0, 8, true}, // due: still the most it asked for
		{pdf, 2, time.Hour, 2, true},
	} {
		if most, ok := a.due("w", c.types, nil, c.asked, c.every); most != c.most || ok != c.wantOK {
			t.Fatalf("call %d: %d %v, want %d %v", i, most, ok, c.most, c.wantOK)
		}
	}
}

// waitEvents yields the events of c until d passes, then fails t.
func waitEvents(t *testing.T, c <-chan queue.Event, d time.Duration) func(func(queue.Event) bool) {
	t.Helper()
	return func(yield func(queue.Event) bool) {
		timeout := time.After(d)
		for {
			select {
			case ev := <-c:
				if !yield(ev) {
					return
				}
			case <-timeout:
				t.Fatal("no event within", d)
				return
			}
		}
	}
}
