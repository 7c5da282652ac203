package api

import (
	"encoding/json"
	"fmt"
	"github.com/compileo/jobqueue/internal/proctest"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

const (
	readSecret   = "read-secret-0123456789"
	submitSecret = "submit-secret-0123456789"
	adminSecret  = "admin-secret-0123456789"
	workerSecret = "worker-secret-0123456789"
)

func testKeys(t *testing.T) []Key {
	t.Helper()
	keys, err := ParseKeys("reader:read:" + readSecret + ",\nsubmitter:submit:" + submitSecret + "\n# ops\nops:admin:" + adminSecret +
		"\nrunner:worker:" + workerSecret)
	if err != nil || len(keys) != 4 {
		t.Fatalf("ParseKeys: %v %v", keys, err)
	}
	return keys
}

func TestParseKeysRefusals(t *testing.T) {
	for _, spec := range []string{
		"nocolons",
		"name:root:" + adminSecret,
		"name:read:short",
		":read:" + readSecret,
		"a:read:" + readSecret + ",a:admin:" + adminSecret,
		"a:read:" + readSecret + ",b:admin:" + readSecret,
		// Fields out of order: a secret where the name or the role goes.
		readSecret + ":read:name",
		"name:" + readSecret + ":read",
		"a:read:" + readSecret + "," + readSecret + "::",
	} {
		_, err := ParseKeys(spec)
		if err == nil {
			t.Errorf("ParseKeys(%q) accepted", spec)
			continue
		}
		for _, secret := range []string{readSecret, adminSecret} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("ParseKeys error quotes a secret: %v", err)
			}
		}
	}
	// A secret may itself hold colons.
	keys, err := ParseKeys("a:admin:x:y:z:0123456789abcdef")
	if err != nil || len(keys) != 1 || keys[0].Role != RoleAdmin {
		t.Fatalf("colon secret: %v %v", keys, err)
	}
}

// Each route needs its role: read < submit < admin; health stays open.
func TestRoles(t *testing.T) {
	t.Parallel()
	// The access log is written after the answer: a buffer safe to read
	// while the server still writes.
	var logs proctest.LogBuffer
	b := setup(t, Config{Keys: testKeys(t), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	id := b.submitAs(t, submitSecret)

	status := func(method, path, secret string) int {
		t.Helper()
		var hdr []string
		if secret != "" {
			hdr = []string{"Authorization", "Bearer " + secret}
		}
		body := ""
		if method == "POST" && strings.HasSuffix(path, "/jobs") {
			body = `{"type": "demo", "payload": {"steps": 1, "step_ms": 0}}`
		}
		resp, data := b.do(t, method, path, body, hdr...)
		if resp.StatusCode >= 400 {
			var e struct{ Error errorBody }
			if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
				t.Fatalf("%s %s: error body %s", method, path, data)
			}
		}
		return resp.StatusCode
	}
	routes := []struct {
		method, path string
		need         Role
	}{
		{"GET", "/api/v1/jobs/status/" + id, RoleRead},
		{"GET", "/api/v1/jobs/status/" + id + "/poll?timeout=1&current_status=completed", RoleRead},
		{"GET", "/api/v1/jobs/queue/stats", RoleRead},
		{"GET", "/api/v1/jobs", RoleRead},
		{"GET", "/api/v1/jobs/" + id, RoleRead},
		{"GET", "/api/v1/workers", RoleRead},
		{"GET", "/api/v1/whoami", RoleRead},
		{"POST", "/api/v1/jobs", RoleSubmit},
		{"POST", "/api/v1/jobs/restart/" + id, RoleAdmin}, // 409: pending
	}
	for _, r := range routes {
		if got := status(r.method, r.path, ""); got != http.StatusUnauthorized {
			t.Errorf("%s %s without a key: %d, want 401", r.method, r.path, got)
		}
		if got := status(r.method, r.path, "not-a-key-0123456789"); got != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong key: %d, want 401", r.method, r.path, got)
		}
		for role, secret := range map[Role]string{RoleRead: readSecret, RoleSubmit: submitSecret, RoleAdmin: adminSecret} {
			got := status(r.method, r.path, secret)
			switch {
			case role < r.need && got != http.StatusForbidden:
				t.Errorf("%s %s as %s: %d, want 403", r.method, r.path, role, got)
			case role >= r.need && (got == http.StatusUnauthorized || got == http.StatusForbidden):
				t.Errorf("%s %s as %s: %d, want it allowed", r.method, r.path, role, got)
			}
		}
	}
	b.call(t, "GET", "/healthz", "", 200)
	b.call(t, "GET", "/readyz", "", 200)

	// X-API-Key works too; a key in the URL never does (URLs end up in
	// logs: a browser's EventSource uses a stream token instead).
	if resp, _ := b.do(t, "POST", "/api/v1/jobs/cancel/"+id, "", "X-API-Key", adminSecret); resp.StatusCode != 200 {
		t.Fatalf("cancel with X-API-Key: %d", resp.StatusCode)
	}
	if resp, _ := b.do(t, "GET", "/api/v1/jobs/status/"+id+"?api_key="+readSecret, ""); resp.StatusCode != 401 {
		t.Fatalf("GET with api_key: %d, want 401", resp.StatusCode)
	}
	// 401 tells how to authenticate.
	if resp, _ := b.do(t, "GET", "/api/v1/jobs/queue/stats", ""); !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("401 without WWW-Authenticate: %v", resp.Header)
	}
	// Secrets never reach the log; key names do.
	for _, secret := range []string{readSecret, submitSecret, adminSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log holds a secret:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "caller=key:ops") {
		t.Fatalf("the log does not name the caller:\n%s", logs.String())
	}
}

func (b *bundle) submitAs(t *testing.T, secret string) string {
	t.Helper()
	resp, data := b.do(t, "POST", "/api/v1/jobs", `{"type": "demo"}`, "Authorization", "Bearer "+secret)
	var out struct {
		JobID string `json:"job_id"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(data, &out) != nil {
		t.Fatalf("submit: %d %s", resp.StatusCode, data)
	}
	return out.JobID
}

// Two API instances on one Redis share each caller's budget; over it the
// answer is 429 with Retry-After, and other callers are unaffected.
// whoami names the caller and its role, to any valid key; without keys
// it answers everyone, as admin.
func TestWhoami(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t)})
	for secret, want := range map[string]string{readSecret: "reader read", submitSecret: "submitter submit", adminSecret: "ops admin"} {
		resp, data := b.do(t, "GET", "/api/v1/whoami", "", "X-API-Key", secret)
		var me map[string]any
		mustJSON(t, data, &me)
		wantKeys(t, "whoami", me, "caller", "role")
		if got := strings.TrimPrefix(me["caller"].(string), "key:") + " " + me["role"].(string); resp.StatusCode != 200 || got != want {
			t.Errorf("whoami as %s: %d %s", want, resp.StatusCode, data)
		}
	}
	b.wantError(t, "GET", "/api/v1/whoami", "", http.StatusUnauthorized, CodeUnauthenticated)

	open := setup(t, Config{})
	me := open.call(t, "GET", "/api/v1/whoami", "", 200)
	if me["role"] != "admin" || !strings.HasPrefix(me["caller"].(string), "ip:") {
		t.Errorf("whoami without keys: %v", me)
	}
}

func TestRateLimitAcrossInstances(t *testing.T) {
	t.Parallel()
	cfg := Config{Keys: testKeys(t), RateLimit: queue.RateLimit{Rate: 1, Period: time.Hour, Burst: 4}}
	a := setup(t, cfg)
	// A second instance: its own handler and HTTP server on the same Redis
	// (the handler keeps no state; the budget lives in Redis).
	cfg.Logger = discard
	h, err := New(cfg, a.client, a.hub)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	b := &bundle{url: ts.URL, http: checkedClient(t, ts), client: a.client, hub: a.hub}
	get := func(x *bundle, secret string) *http.Response {
		resp, _ := x.do(t, "GET", "/api/v1/jobs/queue/stats", "", "X-API-Key", secret)
		return resp
	}
	for i, x := range []*bundle{a, b, a, b} {
		if resp := get(x, readSecret); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
	}
	resp, data := a.do(t, "GET", "/api/v1/jobs/queue/stats", "", "X-API-Key", readSecret)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(data), CodeRateLimited) {
		t.Fatalf("over the burst: %d %v %s", resp.StatusCode, resp.Header, data)
	}
	if resp := get(b, readSecret); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the other instance let the caller through: %d", resp.StatusCode)
	}
	if resp := get(a, adminSecret); resp.StatusCode != 200 {
		t.Fatalf("another caller was limited: %d", resp.StatusCode)
	}
	// Health checks are never limited.
	for range 5 {
		a.call(t, "GET", "/healthz", "", 200)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{CORSOrigins: []string{"https://dash.example"}})
	req, _ := http.NewRequest("OPTIONS", b.url+"/api/v1/jobs", nil)
	req.Header.Set("Origin", "https://dash.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 || resp.Header.Get("Access-Control-Allow-Origin") != "https://dash.example" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// Another origin is refused with the API's JSON error, like any 403
	// (gin-contrib/cors alone answers a bare 403 without a body).
	resp, data := b.do(t, "GET", "/api/v1/jobs/queue/stats", "", "Origin", "https://evil.example")
	var refusal struct{ Error errorBody }
	mustJSON(t, data, &refusal)
	if resp.StatusCode != 403 || refusal.Error.Code != CodeForbidden ||
		!strings.Contains(refusal.Error.Message, "https://evil.example") {
		t.Fatalf("foreign origin: %d %s", resp.StatusCode, data)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a foreign origin was allowed: %v", resp.Header)
	}
	if _, err := New(Config{CORSOrigins: []string{"dash.example"}}, b.client, b.hub); err == nil {
		t.Fatal("an origin without a scheme was accepted")
	}
}

// Every request has an id — the caller's when sane, else a new one —
// echoed in the response and on its log lines.
func TestRequestID(t *testing.T) {
	t.Parallel()
	var logs proctest.LogBuffer
	b := setup(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	resp, _ := b.do(t, "GET", "/api/v1/jobs/queue/stats", "", "X-Request-ID", "trace-42.a")
	if resp.Header.Get("X-Request-ID") != "trace-42.a" {
		t.Fatalf("kept id: %v", resp.Header)
	}
	waitFor(t, "the request's log line", func() bool { return strings.Contains(logs.String(), "request_id=trace-42.a") })
	resp, _ = b.do(t, "GET", "/api/v1/jobs/queue/stats", "", "X-Request-ID", "evil\" injected=1")
	if id := resp.Header.Get("X-Request-ID"); parseJobID(id) != nil {
		t.Fatalf("an insane id was not replaced by a UUID: %q", id)
	}
}

// Weak secrets are refused at start-up with an error that says what a
// strong one looks like and never quotes the secret; random ones of the
// usual shapes pass.
func TestCheckSecret(t *testing.T) {
	for _, weak := range []string{
		"short",
		"aaaaaaaaaaaaaaaaaaaaaaaa",         // one character
		"abababababababababababab",         // a short cycle
		"abcabcabcabcabcabcabcabcabcabc",   // still one
		"1234567812345678",                 // 16 digits: 53 bits
		"0000000000000000000000000000000a", // long run
	} {
		err := CheckSecret(weak)
		if err == nil {
			t.Errorf("CheckSecret(%q) accepted", weak)
			continue
		}
		if strings.Contains(err.Error(), weak) || !strings.Contains(err.Error(), "jobctl keygen") {
			t.Errorf("CheckSecret(%q): %v", weak, err)
		}
		if _, err := ParseKeys("k:read:" + weak); err == nil || strings.Contains(err.Error(), weak) {
			t.Errorf("ParseKeys with secret %q: %v", weak, err)
		}
	}
	for _, strong := range []string{
		readSecret, "0123456789abcdef", "fedcba9876543210fedc",
		"k3J9_xQ2-vLp8ZrT4mWn6yBc1Hd5Gf7Ea0Us", // base64url
		"9f86d081884c7d659a2feaa0c55ad015",     // 32 hex digits
		"correct-horse-battery-staple",
	} {
		if err := CheckSecret(strong); err != nil {
			t.Errorf("CheckSecret(%q): %v", strong, err)
		}
	}
}

// Failed authentications are throttled per client address, across
// instances: past the budget the address is barred, valid keys included
// (or guessing would go on at full speed), with 429 and Retry-After;
// a missing key (a browser's first visit) does not count.
func TestFailedAuthThrottledAcrossInstances(t *testing.T) {
	t.Parallel()
	cfg := Config{Keys: testKeys(t), AuthFailureLimit: &queue.RateLimit{Rate: 1, Period: time.Hour, Burst: 3}}
	a := setup(t, cfg)
	cfg.Logger = discard
	h, err := New(cfg, a.client, a.hub)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	b := &bundle{url: ts.URL, http: checkedClient(t, ts), client: a.client, hub: a.hub}

	for range 5 {
		a.wantError(t, "GET", "/api/v1/jobs", "", http.StatusUnauthorized, CodeUnauthenticated)
	}
	for i, x := range []*bundle{a, b, a} {
		x.wantError(t, "GET", "/api/v1/jobs", "", http.StatusUnauthorized, CodeUnauthenticated, "X-API-Key", fmt.Sprintf("guess-%d-0123456789abcdef", i))
	}
	resp, data := b.do(t, "GET", "/api/v1/jobs", "", "X-API-Key", "guess-3-0123456789abcdef")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(data), "failed authentications") {
		t.Fatalf("past the budget: %d %v %s", resp.StatusCode, resp.Header, data)
	}
	for _, x := range []*bundle{a, b} {
		x.wantError(t, "GET", "/api/v1/jobs", "", http.StatusTooManyRequests, CodeRateLimited, "X-API-Key", adminSecret)
	}
	// Open routes stay open.
	a.call(t, "GET", "/healthz", "", 200)

	// Without keys there is nothing to guess and nothing is throttled;
	// with the throttle off, wrong keys are only 401s.
	off := setup(t, Config{Keys: testKeys(t), AuthFailureLimit: &queue.RateLimit{}})
	for range 20 {
		off.wantError(t, "GET", "/api/v1/jobs", "", http.StatusUnauthorized, CodeUnauthenticated, "X-API-Key", "guess-0123456789abcdef")
	}
	off.call(t, "GET", "/api/v1/jobs", "", 200, "X-API-Key", readSecret)
}
