package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
	"github.com/compileo/jobqueue/pkg/webhook"
)

const pipeHookSecret = "pipeline-hook-secret-0123456789"

// hookReceiver records the callbacks it gets, each verified, by path.
type hookReceiver struct {
	url  string
	mu   sync.Mutex
	got  map[string][]hookGot // path → its callbacks, in order
	seen int
}

type hookGot struct {
	delivery string
	body     map[string]any
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	r := &hookReceiver{got: map[string][]hookGot{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id, err := client.VerifyCallback(pipeHookSecret, req.Header, body, 0)
		if err != nil {
			t.Errorf("callback to %s: %v", req.URL.Path, err)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("callback body %q: %v", body, err)
		}
		r.mu.Lock()
		r.got[req.URL.Path] = append(r.got[req.URL.Path], hookGot{id, m})
		r.seen++
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// wait waits for n callbacks in all, then a little more for any extra.
func (r *hookReceiver) wait(t *testing.T, n int) map[string][]hookGot {
	t.Helper()
	waitFor(t, "callbacks", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.seen >= n
	})
	time.Sleep(200 * time.Millisecond) // 20 polls: a repeat would have come
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen != n {
		t.Errorf("%d callbacks, want %d: %v", r.seen, n, r.got)
	}
	return r.got
}

// setupHooks is a server taking callbacks to loopback, a worker, and a
// fast deliverer rendering bodies as the servers do.
func setupHooks(t *testing.T) (*bundle, *hookReceiver) {
	t.Helper()
	nets, _ := webhook.ParseAllow("127.0.0.1")
	g := &webhook.Guard{Allow: nets}
	b := setup(t, Config{Callbacks: g, JobTypes: TypeSet{"quick": nil, "boom": nil, "block": nil}})
	b.startWorker(t)
	d, err := webhook.New(b.client, webhook.Config{Secret: pipeHookSecret, Guard: g, Body: JobRecord,
		PollInterval: 10 * time.Millisecond, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
	return b, newHookReceiver(t)
}

// A pipeline whose job fails: each job's callback arrives — completed,
// failed, and cancelled below the failure — signed, and exactly one
// callback of the pipeline, carrying its record; the record shows the
// pipeline's delivery.
func TestPipelineCallbacksDelivered(t *testing.T) {
	t.Parallel()
	b, r := setupHooks(t)
	p := b.call(t, "POST", "/api/v1/pipelines", `{"callback_url": "`+r.url+`/pipeline", "jobs": [
		{"key": "a", "type": "quick", "callback_url": "`+r.url+`/job/a"},
		{"key": "b", "type": "boom", "depends_on": ["a"], "callback_url": "`+r.url+`/job/b"},
		{"key": "c", "type": "quick", "depends_on": ["b"], "callback_url": "`+r.url+`/job/c"},
		{"key": "d", "type": "quick", "depends_on": ["a"]}]}`, 201)
	id, ids := p["pipeline_id"].(string), p["jobs"].(map[string]any)
	got := r.wait(t, 4)
	for key, st := range map[string]string{"a": "completed", "b": "failed", "c": "cancelled"} {
		cb := got["/job/"+key]
		if len(cb) != 1 || cb[0].body["job_id"] != ids[key] || cb[0].body["status"] != st {
			t.Errorf("job %s's callbacks %v, want one %s", key, cb, st)
		}
	}
	pc := got["/pipeline"]
	if len(pc) != 1 || pc[0].body["pipeline_id"] != id || pc[0].body["status"] != "failed" ||
		len(pc[0].body["jobs"].([]any)) != 4 || !strings.HasPrefix(pc[0].delivery, id+".") {
		t.Fatalf("pipeline's callbacks %v", pc)
	}
	if _, ok := pc[0].body["callback"]; ok {
		t.Errorf("the body carries its own delivery: %v", pc[0].body)
	}
	rec := b.call(t, "GET", "/api/v1/pipelines/"+id, "", 200)
	cb, _ := rec["callback"].(map[string]any)
	waitFor(t, "the pipeline's delivery recorded", func() bool {
		cb, _ = b.call(t, "GET", "/api/v1/pipelines/"+id, "", 200)["callback"].(map[string]any)
		return cb["state"] == "delivered"
	})
	if cb["url"] != r.url+"/pipeline" || cb["delivery_id"] != pc[0].delivery || cb["tries"] != 1.0 {
		t.Fatalf("pipeline's callback on its record %v", cb)
	}
}

// Cancelling a pipeline delivers every cancelled job's callback and the
// pipeline's; restarting it and its ending again delivers the pipeline's
// anew, under another delivery id.
func TestPipelineCancelCallbacks(t *testing.T) {
	t.Parallel()
	b, r := setupHooks(t)
	p := b.call(t, "POST", "/api/v1/pipelines", `{"callback_url": "`+r.url+`/pipeline", "jobs": [
		{"key": "a", "type": "block", "callback_url": "`+r.url+`/job/a"},
		{"key": "b", "type": "quick", "depends_on": ["a"], "callback_url": "`+r.url+`/job/b"}]}`, 201)
	id, ids := p["pipeline_id"].(string), p["jobs"].(map[string]any)
	b.waitStatus(t, ids["a"].(string), "running")
	b.call(t, "POST", "/api/v1/pipelines/"+id+"/cancel", "", 200)
	got := r.wait(t, 3)
	for _, key := range []string{"a", "b"} {
		if cb := got["/job/"+key]; len(cb) != 1 || cb[0].body["status"] != "cancelled" {
			t.Errorf("job %s's callbacks %v", key, cb)
		}
	}
	first := got["/pipeline"]
	if len(first) != 1 || first[0].body["status"] != "cancelled" {
		t.Fatalf("pipeline's callbacks %v", first)
	}
	b.call(t, "POST", "/api/v1/pipelines/"+id+"/restart", "", 200)
	b.waitStatus(t, ids["a"].(string), "running")
	b.release <- struct{}{}
	got = r.wait(t, 6)
	again := got["/pipeline"]
	if len(again) != 2 || again[1].body["status"] != "completed" || again[1].delivery == again[0].delivery {
		t.Fatalf("pipeline's callbacks after the restart %v", again)
	}
}

// A pipeline's callback URL passes the checks of a job's.
func TestPipelineCallbackURLRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Callbacks: &webhook.Guard{}})
	for _, u := range []string{"http://127.0.0.1:9/x", "ftp://93.184.216.34/x"} {
		b.wantError(t, "POST", "/api/v1/pipelines", `{"callback_url": "`+u+`", "jobs": [{"key": "a", "type": "demo"}]}`,
			400, CodeInvalidArgument)
		e := b.wantError(t, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "a", "type": "demo", "callback_url": "`+u+`"}]}`,
			400, CodeInvalidArgument)
		if !strings.Contains(e["message"].(string), `jobs[0] (key "a")`) {
			t.Errorf("message %v", e["message"])
		}
	}
}
