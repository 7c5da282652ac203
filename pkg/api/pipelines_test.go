package api

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// pipeEvent is one event of a pipeline's stream.
type pipeEvent struct {
	id   int64
	data map[string]any
}

// readPipelineStream reads a pipeline's stream (resuming after lastID
// when set) to its end.
func (b *bundle) readPipelineStream(t *testing.T, id, lastID string) []pipeEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/api/v1/pipelines/"+id+"/stream", nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("pipeline stream: %d", resp.StatusCode)
	}
	var out []pipeEvent
	var ev pipeEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			ev.id, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "data: "):
			mustJSON(t, []byte(line[6:]), &ev.data)
		case line == "" && ev.data != nil:
			out = append(out, ev)
			ev = pipeEvent{}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("pipeline stream: %v", err)
	}
	return out
}

func TestPipelineSubmissionRefusedWhole(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	for _, tc := range []struct {
		body, code, names string
	}{
		{`{"jobs": [{"key": "a", "type": "demo", "depends_on": ["c"]}, {"key": "b", "type": "demo", "depends_on": ["a"]}, {"key": "c", "type": "demo", "depends_on": ["b"]}]}`, CodeInvalidArgument, `(key "a"): depends_on: the job is on a cycle`},
		{`{"jobs": [{"key": "a", "type": "demo"}, {"key": "b", "type": "thumbnail"}]}`, CodeUnknownJobType, `jobs[1] (key "b")`},
		{`{"jobs": [{"key": "a", "type": "demo"}, {"key": "b", "type": "chunking", "payload": {"chunk_size": -1}}]}`, CodeInvalidArgument, `jobs[1] (key "b"): payload of a chunking job`},
		{`{"jobs": [{"key": "a", "type": "demo"}, {"key": "a", "type": "demo"}]}`, CodeInvalidArgument, `jobs[1] (key "a"): duplicate key`},
		{`{"jobs": [{"key": "a", "type": "demo", "depends_on": ["zz"]}]}`, CodeInvalidArgument, `jobs[0] (key "a"): depends_on: unknown key "zz"`},
		{`{"jobs": [{"key": "a b", "type": "demo"}]}`, CodeInvalidArgument, `jobs[0] (key "a b")`},
		{`{"jobs": [{"key": "a", "type": "demo"}, {"key": "b", "type": "demo", "nope": 1}]}`, CodeInvalidArgument, `jobs[1]`},
		{`{"jobs": [{"key": "a", "type": "demo", "delay_seconds": 5}]}`, CodeInvalidArgument, `jobs[0] (key "a")`},
		{`{"jobs": [{"key": "a", "type": "demo", "callback_url": "https://example.com/hook"}]}`, CodeInvalidArgument, `jobs[0] (key "a")`},
		{`{"jobs": []}`, CodeInvalidArgument, `jobs: want 1 to 1000`},
	} {
		e := b.wantError(t, "POST", "/api/v1/pipelines", tc.body, 400, tc.code)
		if msg := e["message"].(string); !strings.Contains(msg, tc.names) {
			t.Errorf("%s: message %q does not say %q", tc.body, msg, tc.names)
		}
	}
	if jobs := b.call(t, "GET", "/api/v1/jobs", "", 200)["jobs"].([]any); len(jobs) != 0 {
		t.Fatalf("refused pipelines created jobs: %v", jobs)
	}
	// A job with parents may leave out the documents it takes from them;
	// one without may not.
	b.call(t, "POST", "/api/v1/pipelines", `{"jobs": [
		{"key": "parse", "type": "document_parsing", "payload": {"documents": ["Redis is fast."]}},
		{"key": "chunk", "type": "chunking", "payload": {"chunk_size": 50}, "depends_on": ["parse"]},
		{"key": "taxonomy", "type": "taxonomy_generation", "depends_on": ["chunk"]},
		{"key": "dataset", "type": "dataset_generation", "depends_on": ["chunk", "taxonomy"]}]}`, 201)
	b.wantError(t, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "chunk", "type": "chunking"}]}`, 400, CodeInvalidArgument)
}

// A pipeline's stream, read from another instance than the one the
// pipeline was submitted to, shows each job running only after all its
// parents completed, and ends with the pipeline's completion; resumed
// with Last-Event-ID it repeats nothing before.
func TestPipelineRunsAndStreamsAcrossInstances(t *testing.T) {
	t.Parallel()
	srv := redistest.Shared(t)
	prefix := redistest.Prefix(t)
	a := setupOnPrefix(t, redis.NewClient(&redis.Options{Addr: srv.Addr}), prefix, Config{JobTypes: TypeSet{"quick": nil, "block": nil}})
	b := setupOnPrefix(t, redis.NewClient(&redis.Options{Addr: srv.Addr}), prefix, Config{JobTypes: TypeSet{"quick": nil, "block": nil}})
	resp, data := a.do(t, "POST", "/api/v1/pipelines", `{"jobs": [
		{"key": "gate", "type": "block"},
		{"key": "left", "type": "quick", "depends_on": ["gate"]},
		{"key": "right", "type": "quick", "depends_on": ["gate"]},
		{"key": "join", "type": "quick", "depends_on": ["left", "right"]}]}`)
	if resp.StatusCode != 201 {
		t.Fatalf("submit: %d %s", resp.StatusCode, data)
	}
	var created struct {
		PipelineID string            `json:"pipeline_id"`
		Status     string            `json:"status"`
		Jobs       map[string]string `json:"jobs"`
	}
	mustJSON(t, data, &created)
	if resp.Header.Get("Location") != "/api/v1/pipelines/"+created.PipelineID || created.Status != "running" || len(created.Jobs) != 4 {
		t.Fatalf("created %s", data)
	}
	p := b.call(t, "GET", "/api/v1/pipelines/"+created.PipelineID, "", 200)
	if p["status"] != "running" || p["jobs"].([]any)[3].(map[string]any)["status"] != "waiting" {
		t.Fatalf("pipeline %v", p)
	}
	job := b.call(t, "GET", "/api/v1/jobs/"+created.Jobs["join"], "", 200)
	if job["pipeline_id"] != created.PipelineID || job["status"] != "waiting" {
		t.Fatalf("join %v", job)
	}
	if st := b.call(t, "GET", "/api/v1/jobs/status/"+created.Jobs["join"], "", 200); st["status"] != "waiting" {
		t.Fatalf("status %v", st)
	}
	if n := b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200)["waiting_jobs"]; n != 3.0 {
		t.Fatalf("waiting_jobs %v", n)
	}
	if l := b.call(t, "GET", "/api/v1/jobs?status=waiting", "", 200)["jobs"].([]any); len(l) != 3 {
		t.Fatalf("waiting list %v", l)
	}

	a.startWorker(t)
	done := make(chan []pipeEvent, 1)
	go func() { done <- b.readPipelineStream(t, created.PipelineID, "") }()
	a.waitStatus(t, created.Jobs["gate"], queue.StateRunning)
	// The jobs below the gate run once it is released: the stream must be
	// on b's Hub, and the Hub listening on {P}:watching (the scripts build
	// the events of claims only then), to see them run.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	waitFor(t, "the stream to subscribe", func() bool {
		n, err := rdb.PubSubNumSub(context.Background(), "{"+prefix+"}:watching").Result()
		return b.hub.Count() == 1 && err == nil && n["{"+prefix+"}:watching"] > 0
	})
	a.release <- struct{}{}
	evs := <-done
	key := map[string]string{}
	for k, id := range created.Jobs {
		key[id] = k
	}
	seen := []string{} // "key status", in stream order
	for i, ev := range evs {
		if i > 0 && ev.id <= evs[i-1].id {
			t.Fatalf("ids not increasing: %v", evs)
		}
		if id, ok := ev.data["job_id"].(string); ok {
			seen = append(seen, key[id]+" "+ev.data["status"].(string))
		}
	}
	last := evs[len(evs)-1].data
	if last["pipeline_id"] != created.PipelineID || last["status"] != "completed" || last["progress"] != 100.0 {
		t.Fatalf("last event %v", last)
	}
	at := func(s string) int { return slices.Index(seen, s) }
	for _, e := range [][2]string{{"gate completed", "left running"}, {"gate completed", "right running"},
		{"left completed", "join running"}, {"right completed", "join running"}} {
		if at(e[0]) < 0 || at(e[1]) < 0 || at(e[0]) > at(e[1]) {
			t.Fatalf("%q must come before %q: %v", e[0], e[1], seen)
		}
	}
	p = a.call(t, "GET", "/api/v1/pipelines/"+created.PipelineID, "", 200)
	if p["status"] != "completed" || p["progress"] != 100.0 || p["completed_at"] == nil {
		t.Fatalf("pipeline %v", p)
	}
	// Resumed after its last event: the end alone (the stream closes on it).
	again := b.readPipelineStream(t, created.PipelineID, strconv.FormatInt(evs[len(evs)-1].id, 10))
	for _, ev := range again {
		if ev.id <= evs[len(evs)-1].id {
			t.Fatalf("resumed stream repeats %v", ev)
		}
	}
	if len(again) == 0 || again[len(again)-1].data["status"] != "completed" {
		t.Fatalf("resumed stream %v", again)
	}
}

// A worker over HTTP gets its parents' results in its lease.
func TestPipelineLeaseInputs(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"ocr": nil}})
	p := b.call(t, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "scan", "type": "ocr"}, {"key": "read", "type": "ocr", "depends_on": ["scan"]}]}`, 201)
	ids := p["jobs"].(map[string]any)
	got := b.lease(t, `{"worker_id": "py-1", "types": ["ocr"], "max_jobs": 5}`)
	if len(got) != 1 || got[0].JobID != ids["scan"] || len(got[0].Inputs) != 0 {
		t.Fatalf("leased %+v", got)
	}
	b.call(t, "POST", "/api/v1/leases/"+got[0].JobID+"/complete", `{"lease_token": "`+got[0].LeaseToken+`", "result": {"pages": 2}}`, 200)
	got = b.lease(t, `{"worker_id": "py-1", "types": ["ocr"], "max_jobs": 5}`)
	if len(got) != 1 || got[0].JobID != ids["read"] || string(got[0].Inputs["scan"]) != `{"pages":2}` {
		t.Fatalf("leased %+v", got)
	}
	b.call(t, "POST", "/api/v1/leases/"+got[0].JobID+"/fail", `{"lease_token": "`+got[0].LeaseToken+`", "error": "unreadable", "retryable": false}`, 200)
	if p := b.call(t, "GET", "/api/v1/pipelines/"+p["pipeline_id"].(string), "", 200); p["status"] != "failed" {
		t.Fatalf("pipeline %v", p)
	}
}

// Cancelling a pipeline stops its running job for good; a restart runs
// again what did not complete.
func TestPipelineCancelAndRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"block": nil, "quick": nil}})
	b.startWorker(t)
	p := b.call(t, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "a", "type": "block"}, {"key": "b", "type": "quick", "depends_on": ["a"]}]}`, 201)
	id, ids := p["pipeline_id"].(string), p["jobs"].(map[string]any)
	b.waitStatus(t, ids["a"].(string), queue.StateRunning)
	b.call(t, "POST", "/api/v1/pipelines/"+id+"/cancel", "", 200)
	b.wantError(t, "POST", "/api/v1/pipelines/"+id+"/cancel", "", 409, CodeInvalidTransition)
	got := b.call(t, "GET", "/api/v1/pipelines/"+id, "", 200)
	for _, j := range got["jobs"].([]any) {
		if j.(map[string]any)["status"] != "cancelled" {
			t.Fatalf("after cancel: %v", got)
		}
	}
	if got["status"] != "cancelled" {
		t.Fatalf("after cancel: %v", got)
	}
	b.wantError(t, "DELETE", "/api/v1/jobs/"+ids["a"].(string), "", 409, CodeInvalidTransition)
	b.call(t, "POST", "/api/v1/pipelines/"+id+"/restart", "", 200)
	b.waitStatus(t, ids["a"].(string), queue.StateRunning)
	b.release <- struct{}{}
	b.waitStatus(t, ids["b"].(string), queue.StateCompleted)
	if got := b.call(t, "GET", "/api/v1/pipelines/"+id, "", 200); got["status"] != "completed" {
		t.Fatalf("after restart: %v", got)
	}
}
