package api

import (
	"bytes"
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/openapitest"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"
)

// Every response the package's tests read through a bundle is checked
// against the OpenAPI document (checkedClient). The tests here check the
// document itself: it is valid, it lists exactly the routes gin serves
// with the roles the server enforces, and every route, driven over real
// HTTP, answers each of its statuses as documented.

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPISpec())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValidAndServed(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	// Served as embedded, to everyone: even with keys and no key sent.
	b := setup(t, Config{Keys: testKeys(t)})
	resp, data := b.do(t, "GET", "/api/v1/openapi.json", "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!bytes.Equal(data, OpenAPISpec()) {
		t.Fatalf("GET /api/v1/openapi.json: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(data))
	}
	// OpenAPISpec hands out copies: a caller cannot change what is served.
	OpenAPISpec()[0] = 'x'
	if OpenAPISpec()[0] != '{' {
		t.Fatal("OpenAPISpec returned the embedded bytes themselves")
	}
}

// ginPath spells a gin route pattern the OpenAPI way: /jobs/:job_id is
// /jobs/{job_id}.
func ginPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// handlerRoutes lists the routes New registers, as "METHOD /path".
func handlerRoutes(t *testing.T) []string {
	t.Helper()
	// Registering routes calls neither collaborator: typed nils will do.
	h, err := New(Config{Logger: discard}, (*queue.Client)(nil), (*queue.Hub)(nil))
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, r := range h.(*gin.Engine).Routes() {
		routes = append(routes, r.Method+" "+ginPath(r.Path))
	}
	slices.Sort(routes)
	return routes
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := handlerRoutes(t)
	if len(served) < 15 {
		t.Fatalf("only %d routes found: %v", len(served), served)
	}
	gets := map[string]bool{}
	for r := range documented {
		if path, ok := strings.CutPrefix(r, "GET "); ok {
			gets[path] = true
		}
	}
	for _, r := range served {
		// HEAD is served wherever GET is (docs/api.md says so once).
		if path, ok := strings.CutPrefix(r, "HEAD "); ok && gets[path] {
			continue
		}
		if !documented[r] {
			t.Errorf("gin serves %s, which openapi.json does not document", r)
		}
		delete(documented, r)
	}
	for r := range documented {
		t.Errorf("openapi.json documents %s, which gin does not serve", r)
	}
	if ginPath("/api/v1/jobs/status/:job_id/poll") != "/api/v1/jobs/status/{job_id}/poll" {
		t.Error("ginPath does not translate :job_id")
	}
}

// The document's error codes are errors.go's Code constants, all of them.
func TestOpenAPIErrorCodesAreTheServers(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	var documented []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		documented = append(documented, v.(string))
	}
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && strings.HasPrefix(vs.Names[0].Name, "Code") {
			lit := vs.Values[0].(*ast.BasicLit)
			codes = append(codes, strings.Trim(lit.Value, `"`))
		}
		return true
	})
	slices.Sort(documented)
	slices.Sort(codes)
	if len(codes) < 12 || !slices.Equal(documented, codes) {
		t.Fatalf("ErrorCode enum %v, errors.go's codes %v", documented, codes)
	}
}

// The roles the document names (x-required-role) are the ones the server
// enforces: no key is 401, the role below the required one is 403, the
// required one gets through; the open operations need no key.
func TestOpenAPIRolesAreEnforced(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	b := setup(t, Config{Keys: testKeys(t)})
	secrets := map[string]string{"read": readSecret, "submit": submitSecret, "admin": adminSecret, "worker": workerSecret}
	below := map[string]string{"submit": "read", "admin": "submit", "worker": "submit"}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			// An unknown job: every protected operation answers without
			// changing anything once the key is accepted.
			url := strings.ReplaceAll(path, "{job_id}", unknownID)
			body := ""
			if method == "POST" && !strings.Contains(path, "{job_id}") {
				body = `{"nope": 1}` // refused with 400, after the role check
			}
			role, _ := op.Extensions["x-required-role"].(string)
			if op.Security != nil && len(*op.Security) == 0 {
				if role != "" {
					t.Errorf("%s %s: open, yet names role %q", method, path, role)
				}
				if resp, _ := b.do(t, method, url, body); resp.StatusCode == 401 || resp.StatusCode == 403 {
					t.Errorf("%s %s is documented open, answers %d without a key", method, path, resp.StatusCode)
				}
				continue
			}
			if secrets[role] == "" {
				t.Errorf("%s %s: x-required-role %q, want read, submit, worker or admin", method, path, role)
				continue
			}
			if !strings.Contains(op.Description, "Role: "+role+".") && !strings.Contains(op.Description, "Role: "+role+" ") {
				t.Errorf("%s %s: description does not say \"Role: %s\": %q", method, path, role, op.Description)
			}
			if resp, _ := b.do(t, method, url, body); resp.StatusCode != 401 {
				t.Errorf("%s %s without a key: %d, want 401", method, path, resp.StatusCode)
			}
			if lower := below[role]; lower != "" {
				if resp, _ := b.do(t, method, url, body, "X-API-Key", secrets[lower]); resp.StatusCode != 403 {
					t.Errorf("%s %s with a %s key: %d, want 403 (needs %s)", method, path, lower, resp.StatusCode, role)
				}
			}
			if resp, _ := b.do(t, method, url, body, "Authorization", "Bearer "+secrets[role]); resp.StatusCode == 401 || resp.StatusCode == 403 {
				t.Errorf("%s %s with a %s key: %d", method, path, role, resp.StatusCode)
			}
		}
	}
}

// TestOpenAPIEveryRouteAnswersAsDocumented drives every route over real
// HTTP, on real Redis with a real worker, through each status it can be
// brought to answer, and checks every response against the document;
// then that every operation, and each status listed below, was seen.
func TestOpenAPIEveryRouteAnswersAsDocumented(t *testing.T) {
	t.Parallel()
	spec, err := openapitest.New(OpenAPISpec())
	if err != nil {
		t.Fatal(err)
	}
	// check makes x's client check against spec too, which records what
	// it saw (the package's checker sees every test's responses).
	check := func(x *bundle) *bundle {
		x.http.Transport = spec.Transport(x.http.Transport)
		return x
	}
	// expect sends a request; spec checks the answer on the way.
	expect := func(x *bundle, want int, method, path, body string, header ...string) []byte {
		t.Helper()
		resp, data := x.do(t, method, path, body, header...)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, data)
		}
		return data
	}

	b := check(setup(t, Config{BodyLimit: 4096, CORSOrigins: []string{"https://dash.example"}}))
	b.startWorker(t)

	expect(b, 200, "GET", "/healthz", "")
	expect(b, 200, "GET", "/readyz", "")
	expect(b, 200, "GET", "/api/v1/openapi.json", "")
	expect(b, 200, "GET", "/metrics", "")
	expect(b, 200, "GET", "/api/v1/whoami", "")
	page := string(expect(b, 200, "GET", "/", ""))
	asset := regexp.MustCompile(`/ui/[0-9a-f]+/[a-z]+\.(js|css)`).FindString(page)
	if asset == "" {
		t.Fatalf("the dashboard page names no asset:\n%s", page)
	}
	expect(b, 200, "GET", asset, "")
	for _, lib := range regexp.MustCompile(`/ui/[0-9a-f]+/vendor/[a-z]+/[\w.]+\.(js|css)`).FindAllString(page, -1) {
		expect(b, 200, "GET", lib, "")
	}
	expect(b, 404, "GET", "/ui/0/nosuchfile.js", "")
	expect(b, 403, "GET", "/healthz", "", "Origin", "https://evil.example")
	expect(b, 404, "GET", "/api/v1/nowhere", "")
	expect(b, 405, "PUT", "/api/v1/jobs", "")

	// Submissions: created, refused, duplicate, too large; batches.
	done := b.submit(t, `{"type": "quick", "unique_key": "openapi-quick"}`)
	expect(b, 409, "POST", "/api/v1/jobs", `{"type": "quick", "unique_key": "openapi-quick"}`)
	expect(b, 400, "POST", "/api/v1/jobs", `{"type": "quick", "priority": 1.5}`)
	expect(b, 400, "POST", "/api/v1/jobs", `{"type": "thumbnail"}`)
	expect(b, 413, "POST", "/api/v1/jobs", `{"type": "quick", "payload": "`+strings.Repeat("x", 5000)+`"}`)
	expect(b, 201, "POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "quick", "queue": "idle"}, {"type": "demo", "delay_seconds": 3600}]}`)
	expect(b, 200, "POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "quick", "queue": "idle"}, {"type": "thumbnail"}, {"type": "quick", "unique_key": "openapi-quick"}, {"nope": 1}]}`)
	expect(b, 400, "POST", "/api/v1/jobs/batch", `{"jobs": []}`)
	b.waitStatus(t, done, queue.StateCompleted)

	// Pipelines: created, refused, read, streamed to their end; cancelled
	// and restarted, or refused so once ended.
	var pc struct {
		PipelineID string `json:"pipeline_id"`
	}
	mustJSON(t, expect(b, 201, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "a", "type": "quick"}, {"key": "b", "type": "quick", "depends_on": ["a"]}]}`), &pc)
	pp := "/api/v1/pipelines/" + pc.PipelineID
	expect(b, 400, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "a", "type": "quick", "depends_on": ["b"]}, {"key": "b", "type": "quick", "depends_on": ["a"]}]}`)
	expect(b, 409, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "a", "type": "quick"}], "unique_key": "openapi-quick"}`)
	expect(b, 200, "GET", pp+"/stream", "") // to the pipeline's end
	expect(b, 200, "GET", pp, "")
	expect(b, 409, "POST", pp+"/cancel", "")
	expect(b, 409, "POST", pp+"/restart", "")
	expect(b, 404, "GET", "/api/v1/pipelines/"+unknownID, "")
	expect(b, 404, "GET", "/api/v1/pipelines/"+unknownID+"/stream", "")
	expect(b, 400, "GET", "/api/v1/pipelines/nope", "")
	mustJSON(t, expect(b, 201, "POST", "/api/v1/pipelines", `{"jobs": [{"key": "idle", "type": "quick", "queue": "idle"}]}`), &pc)
	pp = "/api/v1/pipelines/" + pc.PipelineID
	expect(b, 200, "POST", pp+"/cancel", "")
	expect(b, 200, "POST", pp+"/restart", "")
	expect(b, 404, "POST", "/api/v1/pipelines/"+unknownID+"/cancel", "")
	expect(b, 400, "POST", "/api/v1/pipelines/nope/restart", "")

	// Reading a job: status, record, poll, stream; bad and unknown ids.
	for _, p := range []string{"/api/v1/jobs/status/", "/api/v1/jobs/"} {
		expect(b, 200, "GET", p+done, "")
		expect(b, 400, "GET", p+"nope", "")
		expect(b, 404, "GET", p+unknownID, "")
	}
	expect(b, 200, "GET", "/api/v1/jobs/status/"+done+"/poll?current_status=running", "")
	expect(b, 400, "GET", "/api/v1/jobs/status/"+done+"/poll?timeout=0", "")
	expect(b, 404, "GET", "/api/v1/jobs/status/"+unknownID+"/poll", "")
	expect(b, 400, "GET", "/api/v1/jobs/status/"+done+"/stream", "", "Last-Event-ID", "-1")
	expect(b, 404, "GET", "/api/v1/jobs/status/"+unknownID+"/stream", "")
	if evs := b.openStream(t, done, "").rest(t); len(evs) != 1 {
		t.Fatalf("stream of a finished job: %v", evs)
	}
	// A live stream: the state, progress, then completion; the poll
	// answers once the job runs.
	running := b.submit(t, `{"type": "block"}`)
	expect(b, 200, "GET", "/api/v1/jobs/status/"+running+"/poll?timeout=30&current_status=pending", "")
	s := b.openStream(t, running, "")
	if ev, ok := s.nextEvent(t); !ok || ev.Data["status"] != "running" {
		t.Fatalf("first event %v", ev)
	}
	b.release <- struct{}{}
	if evs := s.rest(t); len(evs) == 0 || evs[len(evs)-1].Data["status"] != "completed" {
		t.Fatalf("stream ended with %v", evs)
	}

	// The fleet and the queue; a list in pages.
	expect(b, 200, "GET", "/api/v1/jobs/queue/stats", "")
	expect(b, 200, "GET", "/api/v1/jobs/queue/history?minutes=3&type=quick", "")
	expect(b, 200, "GET", "/api/v1/jobs/queue/history?hours=2", "")
	expect(b, 400, "GET", "/api/v1/jobs/queue/history?hours=0", "")
	expect(b, 200, "GET", "/api/v1/workers", "")
	expect(b, 200, "GET", "/api/v1/jobs?limit=1", "")
	expect(b, 200, "GET", "/api/v1/jobs?status=completed&type=quick&queue=default", "")
	expect(b, 400, "GET", "/api/v1/jobs?limit=0", "")

	// Cancel, restart, delete: done, refused, unknown, malformed.
	waiting := b.submit(t, `{"type": "quick", "queue": "idle"}`)
	expect(b, 200, "POST", "/api/v1/jobs/cancel/"+waiting, "")
	expect(b, 409, "POST", "/api/v1/jobs/cancel/"+waiting, "")
	expect(b, 200, "POST", "/api/v1/jobs/restart/"+waiting, "")
	expect(b, 409, "POST", "/api/v1/jobs/restart/"+waiting, "")
	expect(b, 409, "DELETE", "/api/v1/jobs/"+waiting, "")
	expect(b, 204, "DELETE", "/api/v1/jobs/"+done, "")
	for _, r := range [][2]string{{"POST", "/api/v1/jobs/cancel/"}, {"POST", "/api/v1/jobs/restart/"}, {"DELETE", "/api/v1/jobs/"}} {
		expect(b, 404, r[0], r[1]+unknownID, "")
		expect(b, 400, r[0], r[1]+"nope", "")
	}
	// The same on the jobs the filters select, a page at a time.
	for _, r := range [][2]string{{"POST", "/api/v1/jobs/cancel"}, {"POST", "/api/v1/jobs/restart"}, {"DELETE", "/api/v1/jobs"}} {
		expect(b, 200, r[0], r[1]+"?queue=idle&dry_run=true", "")
		expect(b, 400, r[0], r[1], "")
	}
	expect(b, 200, "POST", "/api/v1/jobs/cancel?queue=idle&limit=1", "")

	// Queues: listed, paused, resumed; a bad name refused.
	expect(b, 200, "POST", "/api/v1/queues/idle/pause", "")
	expect(b, 200, "GET", "/api/v1/queues", "")
	expect(b, 200, "POST", "/api/v1/queues/idle/resume", "")
	expect(b, 400, "POST", "/api/v1/queues/b%20d/pause", "")
	expect(b, 400, "POST", "/api/v1/queues/b%20d/resume", "")
	expect(b, 200, "POST", "/api/v1/rate_limits", `{"type": "quick", "rate": 10, "per_seconds": 60}`)
	expect(b, 400, "POST", "/api/v1/rate_limits", `{"type": "quick", "rate": 0, "per_seconds": 60}`)
	expect(b, 200, "GET", "/api/v1/rate_limits", "")
	expect(b, 204, "DELETE", "/api/v1/rate_limits/quick", "")
	expect(b, 404, "DELETE", "/api/v1/rate_limits/quick", "")
	expect(b, 400, "DELETE", "/api/v1/rate_limits/b%20d", "")

	// Schedules: created, refused, listed, read, paused, resumed, deleted.
	expect(b, 201, "POST", "/api/v1/schedules", `{"name": "openapi", "every_seconds": 3600, "job": {"type": "quick"}}`)
	expect(b, 409, "POST", "/api/v1/schedules", `{"name": "openapi", "every_seconds": 3600, "job": {"type": "quick"}}`)
	expect(b, 400, "POST", "/api/v1/schedules", `{"name": "bad", "cron": "nope", "job": {"type": "quick"}}`)
	expect(b, 200, "GET", "/api/v1/schedules", "")
	expect(b, 400, "GET", "/api/v1/schedules?limit=0", "")
	expect(b, 200, "GET", "/api/v1/schedules/openapi", "")
	expect(b, 200, "POST", "/api/v1/schedules/openapi/pause", "")
	expect(b, 200, "POST", "/api/v1/schedules/openapi/resume", "")
	expect(b, 204, "DELETE", "/api/v1/schedules/openapi", "")
	for _, r := range [][2]string{{"GET", ""}, {"DELETE", ""}, {"POST", "/pause"}, {"POST", "/resume"}} {
		expect(b, 404, r[0], "/api/v1/schedules/openapi"+r[1], "")
	}

	// The lease protocol, for a type the Go worker does not run.
	leaseOCR := func() leased {
		t.Helper()
		var got struct {
			Leases []leased `json:"leases"`
		}
		mustJSON(t, expect(b, 200, "POST", "/api/v1/leases", `{"worker_id": "http-1", "types": ["ocr"], "wait_seconds": 5}`), &got)
		if len(got.Leases) != 1 {
			t.Fatalf("leased %v", got.Leases)
		}
		return got.Leases[0]
	}
	expect(b, 200, "POST", "/api/v1/leases", `{"worker_id": "http-1", "types": ["ocr"]}`)
	expect(b, 400, "POST", "/api/v1/leases", `{"worker_id": "http-1"}`)
	b.submit(t, `{"type": "ocr"}`)
	l := leaseOCR()
	lp, lt := "/api/v1/leases/"+l.JobID, `{"lease_token": "`+l.LeaseToken+`"`
	expect(b, 200, "POST", lp+"/heartbeat", lt+`, "progress": 50, "current_step": "Reading"}`)
	expect(b, 400, "POST", lp+"/heartbeat", lt+`, "progress": 500}`)
	expect(b, 404, "POST", "/api/v1/leases/"+unknownID+"/heartbeat", lt+`}`)
	expect(b, 409, "POST", lp+"/heartbeat", `{"lease_token": "0123456789abcdef.30"}`)
	expect(b, 200, "POST", lp+"/fail", lt+`, "error": "jam", "retryable": false}`)
	expect(b, 400, "POST", lp+"/fail", lt+`}`)
	expect(b, 404, "POST", "/api/v1/leases/"+unknownID+"/fail", lt+`, "error": "x"}`)
	expect(b, 409, "POST", lp+"/fail", `{"lease_token": "0123456789abcdef.30", "error": "x"}`)
	b.submit(t, `{"type": "ocr"}`)
	l = leaseOCR()
	lp, lt = "/api/v1/leases/"+l.JobID, `{"lease_token": "`+l.LeaseToken+`"`
	expect(b, 200, "POST", lp+"/log", lt+`, "lines": [{"level": "warn", "message": "page 1 is blank"}, {"message": "ok", "time": "2024-01-21T10:31:15Z"}]}`)
	expect(b, 400, "POST", lp+"/log", lt+`, "lines": [{"level": "loud", "message": "x"}]}`)
	expect(b, 404, "POST", "/api/v1/leases/"+unknownID+"/log", lt+`, "lines": [{"message": "x"}]}`)
	expect(b, 409, "POST", lp+"/log", `{"lease_token": "0123456789abcdef.30", "lines": [{"message": "x"}]}`)
	expect(b, 200, "POST", lp+"/complete", lt+`, "result": {"pages": 1}}`)
	// The job's kept events and log: as JSON, and followed.
	for _, p := range []string{"/events", "/logs"} {
		expect(b, 200, "GET", "/api/v1/jobs/"+l.JobID+p+"?after=1", "")
		expect(b, 400, "GET", "/api/v1/jobs/"+l.JobID+p+"?after=-1", "")
		expect(b, 404, "GET", "/api/v1/jobs/"+unknownID+p, "")
	}
	expect(b, 200, "GET", "/api/v1/jobs/"+l.JobID+"/logs?follow=1", "")
	expect(b, 400, "GET", "/api/v1/jobs/"+l.JobID+"/logs?follow=maybe", "")
	expect(b, 200, "POST", lp+"/complete", lt+`, "result": {"pages": 1}}`)
	expect(b, 400, "POST", lp+"/complete", `{}`)
	expect(b, 404, "POST", "/api/v1/leases/"+unknownID+"/complete", lt+`}`)
	expect(b, 409, "POST", lp+"/complete", `{"lease_token": "0123456789abcdef.30"}`)
	expect(b, 200, "POST", "/api/v1/leases/complete", `{"completions": [{"job_id": "`+l.JobID+`", "lease_token": "`+l.LeaseToken+
		`"}, {"job_id": "`+unknownID+`", "lease_token": "0123456789abcdef.30"}, {"job_id": "`+l.JobID+`", "lease_token": "0123456789abcdef.30"}]}`)
	expect(b, 400, "POST", "/api/v1/leases/complete", `{"completions": []}`)

	// Keys: none, unknown, too weak.
	k := check(setup(t, Config{Keys: testKeys(t)}))
	expect(k, 401, "GET", "/api/v1/jobs/queue/stats", "")
	expect(k, 401, "GET", "/api/v1/jobs/queue/stats", "", "X-API-Key", "not-a-key-0123456789")
	expect(k, 403, "POST", "/api/v1/jobs/cancel/"+unknownID, "", "X-API-Key", readSecret)
	expect(k, 401, "GET", "/api/v1/jobs/queue/stats?api_key="+readSecret, "")
	// Stream tokens: minted, used, refused.
	kid := k.submitAs(t, submitSecret)
	var tok struct {
		StreamURL string `json:"stream_url"`
	}
	mustJSON(t, expect(k, 200, "POST", "/api/v1/jobs/status/"+kid+"/stream-token", "", "X-API-Key", readSecret), &tok)
	expect(k, 200, "HEAD", tok.StreamURL, "")
	expect(k, 401, "GET", "/api/v1/jobs/status/"+unknownID+"/stream?token=st1.eA.eA", "")
	expect(k, 401, "POST", "/api/v1/jobs/status/"+kid+"/stream-token", "")
	expect(k, 404, "POST", "/api/v1/jobs/status/"+unknownID+"/stream-token", "", "X-API-Key", readSecret)
	expect(k, 400, "POST", "/api/v1/jobs/status/nope/stream-token", "", "X-API-Key", readSecret)
	kp, _ := k.submitPipelineAs(t, submitSecret)
	mustJSON(t, expect(k, 200, "POST", "/api/v1/pipelines/"+kp+"/stream-token", "", "X-API-Key", readSecret), &tok)
	expect(k, 200, "HEAD", tok.StreamURL, "")
	expect(k, 401, "GET", "/api/v1/pipelines/"+kp+"/stream?token=st1.eA.eA", "")
	expect(k, 401, "POST", "/api/v1/pipelines/"+kp+"/stream-token", "")
	expect(k, 404, "POST", "/api/v1/pipelines/"+unknownID+"/stream-token", "", "X-API-Key", readSecret)
	expect(k, 400, "POST", "/api/v1/pipelines/nope/stream-token", "", "X-API-Key", readSecret)

	// A rate limit of one request an hour.
	r := check(setup(t, Config{RateLimit: queue.RateLimit{Rate: 1, Period: time.Hour, Burst: 1}}))
	expect(r, 200, "GET", "/api/v1/workers", "")
	expect(r, 429, "GET", "/api/v1/workers", "")

	// A panic.
	p, _ := panickyServer(t, b)
	expect(check(p), 500, "GET", "/api/v1/jobs/queue/stats", "")

	// Redis gone.
	srv := redistest.New(t, nil)
	down := check(setupOn(t, redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: 1, DialerRetries: 1}), Config{}))
	srv.Stop()
	expect(down, 503, "GET", "/readyz", "")
	expect(down, 503, "GET", "/api/v1/jobs/status/"+unknownID, "")

	seen := spec.Seen()
	for _, op := range spec.Operations() {
		if !slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, op+" ") }) {
			t.Errorf("%s: no response checked", op)
		}
	}
	for _, want := range []string{
		"GET /healthz 200", "GET /healthz 403", "GET /readyz 200", "GET /readyz 503", "GET /api/v1/openapi.json 200", "GET /metrics 200", "GET /api/v1/whoami 200", "GET / 200", "GET /ui/{version}/{file} 200", "GET /ui/{version}/vendor/{library}/{file} 200",
		"* NoRoute 404", "* MethodNotAllowed 405",
		"POST /api/v1/jobs 201", "POST /api/v1/jobs 400", "POST /api/v1/jobs 409", "POST /api/v1/jobs 413",
		"POST /api/v1/jobs/batch 201", "POST /api/v1/jobs/batch 200", "POST /api/v1/jobs/batch 400",
		"GET /api/v1/jobs/status/{job_id} 200", "GET /api/v1/jobs/status/{job_id} 400",
		"GET /api/v1/jobs/status/{job_id} 404", "GET /api/v1/jobs/status/{job_id} 503",
		"GET /api/v1/jobs/status/{job_id}/poll 200", "GET /api/v1/jobs/status/{job_id}/poll 400",
		"GET /api/v1/jobs/status/{job_id}/poll 404",
		"GET /api/v1/jobs/status/{job_id}/stream 200", "GET /api/v1/jobs/status/{job_id}/stream 400",
		"GET /api/v1/jobs/status/{job_id}/stream 404",
		"GET /api/v1/jobs/status/{job_id}/stream 401",
		"POST /api/v1/jobs/status/{job_id}/stream-token 200", "POST /api/v1/jobs/status/{job_id}/stream-token 401",
		"POST /api/v1/jobs/status/{job_id}/stream-token 404", "POST /api/v1/jobs/status/{job_id}/stream-token 400",
		"GET /api/v1/jobs/queue/stats 200", "GET /api/v1/jobs/queue/stats 401", "GET /api/v1/jobs/queue/stats 500",
		"GET /api/v1/jobs/queue/history 200", "GET /api/v1/jobs/queue/history 400",
		"GET /api/v1/workers 200", "GET /api/v1/workers 429",
		"GET /api/v1/jobs 200", "GET /api/v1/jobs 400",
		"GET /api/v1/jobs/{job_id} 200", "GET /api/v1/jobs/{job_id} 400", "GET /api/v1/jobs/{job_id} 404",
		"POST /api/v1/jobs/cancel/{job_id} 200", "POST /api/v1/jobs/cancel/{job_id} 400",
		"POST /api/v1/jobs/cancel/{job_id} 403", "POST /api/v1/jobs/cancel/{job_id} 404",
		"POST /api/v1/jobs/cancel/{job_id} 409",
		"POST /api/v1/jobs/restart/{job_id} 200", "POST /api/v1/jobs/restart/{job_id} 400",
		"POST /api/v1/jobs/restart/{job_id} 404", "POST /api/v1/jobs/restart/{job_id} 409",
		"DELETE /api/v1/jobs/{job_id} 204", "DELETE /api/v1/jobs/{job_id} 400",
		"DELETE /api/v1/jobs/{job_id} 404", "DELETE /api/v1/jobs/{job_id} 409",
		"POST /api/v1/pipelines 201", "POST /api/v1/pipelines 400", "POST /api/v1/pipelines 409",
		"GET /api/v1/pipelines/{pipeline_id} 200", "GET /api/v1/pipelines/{pipeline_id} 400", "GET /api/v1/pipelines/{pipeline_id} 404",
		"GET /api/v1/pipelines/{pipeline_id}/stream 200", "GET /api/v1/pipelines/{pipeline_id}/stream 404",
		"POST /api/v1/pipelines/{pipeline_id}/cancel 200", "POST /api/v1/pipelines/{pipeline_id}/cancel 409",
		"POST /api/v1/pipelines/{pipeline_id}/cancel 404",
		"POST /api/v1/pipelines/{pipeline_id}/restart 200", "POST /api/v1/pipelines/{pipeline_id}/restart 409",
		"POST /api/v1/pipelines/{pipeline_id}/restart 400",
		"POST /api/v1/pipelines/{pipeline_id}/stream-token 200", "POST /api/v1/pipelines/{pipeline_id}/stream-token 401",
		"POST /api/v1/pipelines/{pipeline_id}/stream-token 404", "POST /api/v1/pipelines/{pipeline_id}/stream-token 400",
		"GET /api/v1/pipelines/{pipeline_id}/stream 401",
		"POST /api/v1/jobs/cancel 200", "POST /api/v1/jobs/cancel 400", "POST /api/v1/jobs/restart 200",
		"POST /api/v1/jobs/restart 400", "DELETE /api/v1/jobs 200", "DELETE /api/v1/jobs 400",
		"GET /api/v1/queues 200", "POST /api/v1/queues/{queue}/pause 200", "POST /api/v1/queues/{queue}/pause 400",
		"POST /api/v1/queues/{queue}/resume 200", "POST /api/v1/queues/{queue}/resume 400",
		"POST /api/v1/rate_limits 200", "POST /api/v1/rate_limits 400", "GET /api/v1/rate_limits 200",
		"DELETE /api/v1/rate_limits/{type} 204", "DELETE /api/v1/rate_limits/{type} 404", "DELETE /api/v1/rate_limits/{type} 400",
		"POST /api/v1/schedules 201", "POST /api/v1/schedules 409", "POST /api/v1/schedules 400",
		"GET /api/v1/schedules 200", "GET /api/v1/schedules 400", "GET /api/v1/schedules/{name} 200",
		"GET /api/v1/schedules/{name} 404", "POST /api/v1/schedules/{name}/pause 200",
		"POST /api/v1/schedules/{name}/resume 200", "DELETE /api/v1/schedules/{name} 204",
		"DELETE /api/v1/schedules/{name} 404",
		"POST /api/v1/leases 200", "POST /api/v1/leases 400",
		"POST /api/v1/leases/{job_id}/heartbeat 200", "POST /api/v1/leases/{job_id}/heartbeat 400",
		"POST /api/v1/leases/{job_id}/heartbeat 404", "POST /api/v1/leases/{job_id}/heartbeat 409",
		"POST /api/v1/leases/complete 200", "POST /api/v1/leases/complete 400",
		"POST /api/v1/leases/{job_id}/complete 200", "POST /api/v1/leases/{job_id}/complete 400",
		"POST /api/v1/leases/{job_id}/complete 404", "POST /api/v1/leases/{job_id}/complete 409",
		"POST /api/v1/leases/{job_id}/fail 200", "POST /api/v1/leases/{job_id}/fail 400",
		"POST /api/v1/leases/{job_id}/fail 404", "POST /api/v1/leases/{job_id}/fail 409",
		"POST /api/v1/leases/{job_id}/log 200", "POST /api/v1/leases/{job_id}/log 400",
		"POST /api/v1/leases/{job_id}/log 404", "POST /api/v1/leases/{job_id}/log 409",
		"GET /api/v1/jobs/{job_id}/events 200", "GET /api/v1/jobs/{job_id}/events 400", "GET /api/v1/jobs/{job_id}/events 404",
		"GET /api/v1/jobs/{job_id}/logs 200", "GET /api/v1/jobs/{job_id}/logs 400", "GET /api/v1/jobs/{job_id}/logs 404",
	} {
		if !slices.Contains(seen, want) {
			t.Errorf("not seen: %s", want)
		}
	}
	if t.Failed() {
		t.Logf("seen: %v", seen)
	}
}
