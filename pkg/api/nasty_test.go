package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/queue"
)

// TestNastyRequests sends hostile and malformed requests as raw bytes over
// a real TCP connection, so nothing on the client side tidies them up.
// Each must get its precise 4xx with the JSON error body — never a 5xx,
// a dropped connection or a hang — and none may create a job.
func TestNastyRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{BodyLimit: 64 << 10})
	id := b.submit(t, `{"type": "demo", "payload": {"steps": 1, "step_ms": 0}}`)
	host := strings.TrimPrefix(b.url, "http://")
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000) // past encoding/json's depth limit, under the body limit
	big := `{"type": "demo", "payload": {"pad": "` + strings.Repeat("x", 70<<10) + `"}}`

	for _, c := range []struct {
		name, method, target, body string
		header                     []string // extra "Name: value" lines
		chunked                    bool     // send the body chunked, without a length
		status                     int
		code                       string
	}{
		{name: "uppercase id", method: "GET", target: "/api/v1/jobs/status/" + strings.ToUpper(id), status: 400, code: CodeInvalidArgument},
		{name: "id with NUL", method: "GET", target: "/api/v1/jobs/status/%00" + id[1:], status: 400, code: CodeInvalidArgument},
		{name: "very long id", method: "GET", target: "/api/v1/jobs/status/" + strings.Repeat("a", 4000), status: 400, code: CodeInvalidArgument},
		{name: "id with escaped slash", method: "GET", target: "/api/v1/jobs/status/..%2F..%2Fetc%2Fpasswd", status: 404, code: CodeNotFound},
		{name: "traversal", method: "GET", target: "/api/v1/jobs/status/../../../etc/passwd", status: 404, code: CodeNotFound},
		{name: "invalid utf-8 id", method: "GET", target: "/api/v1/jobs/status/%ff%fe", status: 400, code: CodeInvalidArgument},
		{name: "poll timeout 0", method: "GET", target: "/api/v1/jobs/status/" + id + "/poll?timeout=0", status: 400, code: CodeInvalidArgument},
		{name: "poll timeout 301", method: "GET", target: "/api/v1/jobs/status/" + id + "/poll?timeout=301", status: 400, code: CodeInvalidArgument},
		{name: "poll timeout huge", method: "GET", target: "/api/v1/jobs/status/" + id + "/poll?timeout=99999999999999999999999", status: 400, code: CodeInvalidArgument},
		{name: "poll timeout negative", method: "GET", target: "/api/v1/jobs/status/" + id + "/poll?timeout=-5", status: 400, code: CodeInvalidArgument},
		{name: "poll bad status", method: "GET", target: "/api/v1/jobs/status/" + id + "/poll?current_status=%3Cscript%3E", status: 400, code: CodeInvalidArgument},
		{name: "bad Last-Event-ID", method: "GET", target: "/api/v1/jobs/status/" + id + "/stream", header: []string{"Last-Event-ID: 1; DROP TABLE"}, status: 400, code: CodeInvalidArgument},
		{name: "list limit 0", method: "GET", target: "/api/v1/jobs?limit=0", status: 400, code: CodeInvalidArgument},
		{name: "list bad status", method: "GET", target: "/api/v1/jobs?status=everything", status: 400, code: CodeInvalidArgument},
		{name: "forged cursor", method: "GET", target: "/api/v1/jobs?cursor=MXxydW5uaW5nfGE6YnwxMA", status: 400, code: CodeInvalidArgument},
		{name: "empty body", method: "POST", target: "/api/v1/jobs", status: 400, code: CodeInvalidArgument},
		{name: "truncated JSON", method: "POST", target: "/api/v1/jobs", body: `{"type": "de`, status: 400, code: CodeInvalidArgument},
		{name: "deep nesting", method: "POST", target: "/api/v1/jobs", body: deep, status: 400, code: CodeInvalidArgument},
		{name: "deep payload", method: "POST", target: "/api/v1/jobs", body: `{"type": "demo", "payload": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, status: 400, code: CodeInvalidArgument},
		{name: "priority overflow", method: "POST", target: "/api/v1/jobs", body: `{"type": "demo", "priority": 1e400}`, status: 400, code: CodeInvalidArgument},
		{name: "priority out of range", method: "POST", target: "/api/v1/jobs", body: `{"type": "demo", "priority": 101}`, status: 400, code: CodeInvalidArgument},
		{name: "timeout out of range", method: "POST", target: "/api/v1/jobs", body: `{"type": "demo", "timeout_seconds": -1}`, status: 400, code: CodeInvalidArgument},
		{name: "type with NUL", method: "POST", target: "/api/v1/jobs", body: `{"type": "demo\u0000"}`, status: 400, code: CodeInvalidArgument},
		{name: "unknown type", method: "POST", target: "/api/v1/jobs", body: `{"type": "rm_rf"}`, status: 400, code: CodeUnknownJobType},
		{name: "bad demo payload", method: "POST", target: "/api/v1/jobs", body: `{"type": "demo", "payload": {"steps": 1e9}}`, status: 400, code: CodeInvalidArgument},
		{name: "invalid utf-8 body", method: "POST", target: "/api/v1/jobs", body: "{\"type\": \"demo\xff\"}", status: 400, code: CodeInvalidArgument},
		{name: "duplicate field", method: "POST", target: "/api/v1/jobs", body: `{"type": "demo", "type": "rm_rf"}`, status: 400, code: CodeUnknownJobType},
		{name: "body over the limit", method: "POST", target: "/api/v1/jobs", body: big, status: 413, code: CodePayloadTooLarge},
		{name: "chunked body over the limit", method: "POST", target: "/api/v1/jobs", body: big, chunked: true, status: 413, code: CodePayloadTooLarge},
		{name: "declared length over the limit", method: "POST", target: "/api/v1/jobs", header: []string{"Content-Length: 999999999"}, status: 413, code: CodePayloadTooLarge},
		{name: "empty batch", method: "POST", target: "/api/v1/jobs/batch", body: `{"jobs": []}`, status: 400, code: CodeInvalidArgument},
		{name: "batch too big", method: "POST", target: "/api/v1/jobs/batch", body: `{"jobs": [` + strings.TrimSuffix(strings.Repeat(`{"type":"demo"},`, MaxBatch+1), ",") + `]}`, status: 400, code: CodeInvalidArgument},
		{name: "wrong method", method: "PUT", target: "/api/v1/jobs/status/" + id, status: 405, code: CodeMethodNotAllowed},
		{name: "cancel by GET", method: "GET", target: "/api/v1/jobs/cancel/" + id, status: 405, code: CodeMethodNotAllowed},
		{name: "unknown route", method: "GET", target: "/api/v2/jobs", status: 404, code: CodeNotFound},
		{name: "trailing slash", method: "GET", target: "/api/v1/jobs/status/" + id + "/", status: 404, code: CodeNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := rawRequest(t, host, c.method, c.target, c.body, c.header, c.chunked)
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			var e struct{ Error errorBody }
			if resp.StatusCode != c.status || json.Unmarshal(data, &e) != nil || e.Error.Code != c.code || e.Error.Message == "" {
				t.Fatalf("%d %.300s, want %d %s", resp.StatusCode, data, c.status, c.code)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Fatalf("content type %q", ct)
			}
		})
	}
	// Only the first job exists.
	if st := b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200); st["total_jobs"] != 1.0 {
		t.Fatalf("hostile requests created jobs: %v", st)
	}
}

// rawRequest writes one HTTP/1.1 request byte for byte and reads the answer.
func rawRequest(t *testing.T, host, method, target, body string, header []string, chunked bool) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, host)
	hasLength := false
	for _, h := range header {
		hasLength = hasLength || strings.HasPrefix(strings.ToLower(h), "content-length:")
		req.WriteString(h + "\r\n")
	}
	switch {
	case chunked:
		req.WriteString("Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
		for rest := body; rest != ""; {
			n := min(len(rest), 4096)
			fmt.Fprintf(&req, "%x\r\n%s\r\n", n, rest[:n])
			rest = rest[n:]
		}
		req.WriteString("0\r\n\r\n")
	case hasLength:
		req.WriteString("\r\n")
	default:
		fmt.Fprintf(&req, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	}
	// The server may answer (413) before it has read the whole body; a
	// write error after that is expected, the answer is what counts.
	_, _ = io.WriteString(conn, req.String())
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %.80s: no HTTP answer: %v", method, target, err)
	}
	return resp
}

// A body that trickles in (here: one byte of a declared 100,000, then
// nothing) gets 408 once Config.BodyTimeout has passed, and its connection
// is closed: a slow client cannot hold a connection open for ever.
func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{BodyTimeout: 300 * time.Millisecond})
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(b.url, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second)) // far past BodyTimeout: only a missing answer hits it
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a trickling body after %s: %v", time.Since(start), err)
	}
	data, _ := io.ReadAll(resp.Body)
	var e struct{ Error errorBody }
	if resp.StatusCode != http.StatusRequestTimeout || json.Unmarshal(data, &e) != nil || e.Error.Code != CodeRequestTimeout {
		t.Fatalf("%d %s, want 408 %s", resp.StatusCode, data, CodeRequestTimeout)
	}
	if !resp.Close {
		t.Error("408 without Connection: close")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("the connection stays open after the 408: %v", err)
	}

	// A body that arrives in time is not cut by the deadline, nor is the
	// next request on the same connection.
	for range 2 {
		b.submit(t, `{"type": "demo", "payload": {"steps": 1, "step_ms": 0}}`)
	}
}

// Refusals (401, 403, 413) close the connection: the client may not keep
// it to try again at no cost.
func TestRefusalsCloseTheConnection(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Keys: testKeys(t), BodyLimit: 1 << 10})
	for _, c := range []struct {
		method, path, body string
		header             []string
		status             int
	}{
		{"GET", "/api/v1/jobs", "", nil, http.StatusUnauthorized},
		{"GET", "/api/v1/jobs", "", []string{"X-API-Key", "not-a-key-0123456789"}, http.StatusUnauthorized},
		{"POST", "/api/v1/jobs/cancel/" + unknownID, "", []string{"X-API-Key", readSecret}, http.StatusForbidden},
		{"POST", "/api/v1/jobs", `{"type": "demo", "payload": {"pad": "` + strings.Repeat("x", 2<<10) + `"}}`,
			[]string{"X-API-Key", submitSecret}, http.StatusRequestEntityTooLarge},
	} {
		resp, _ := b.do(t, c.method, c.path, c.body, c.header...)
		if resp.StatusCode != c.status || !resp.Close {
			t.Errorf("%s %s: %d, Connection %q; want %d and close", c.method, c.path, resp.StatusCode, resp.Header.Get("Connection"), c.status)
		}
	}
}

// Invalid UTF-8 in a payload, or anything but printable ASCII in a
// unique_key, is refused with 400 and creates nothing; a payload stored
// with invalid UTF-8 by other means is served as null, never raw.
func TestInvalidUTF8IsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	host := strings.TrimPrefix(b.url, "http://")
	for name, body := range map[string]string{
		"payload":             "{\"type\": \"document_parsing\", \"payload\": {\"documents\": [\"caf\xe9\"]}}",
		"payload, overlong":   "{\"type\": \"document_parsing\", \"payload\": {\"documents\": [\"\xc0\xaf\"]}}",
		"unique_key, control": `{"type": "demo", "unique_key": "a\u0001b"}`,
		"unique_key, latin":   `{"type": "demo", "unique_key": "café"}`,
		"unique_key, invalid": "{\"type\": \"demo\", \"unique_key\": \"caf\xe9\"}",
		"batch payload":       "{\"jobs\": [{\"type\": \"document_parsing\", \"payload\": {\"documents\": [\"\xff\"]}}]}",
	} {
		target := "/api/v1/jobs"
		if strings.HasPrefix(name, "batch") {
			target += "/batch"
		}
		resp := rawRequest(t, host, "POST", target, body, nil, false)
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasPrefix(name, "batch") {
			var out struct{ Jobs []batchItem }
			if resp.StatusCode != 200 || json.Unmarshal(data, &out) != nil || len(out.Jobs) != 1 ||
				out.Jobs[0].Error == nil || out.Jobs[0].Error.Code != CodeInvalidArgument {
				t.Errorf("%s: %d %s, want its item refused", name, resp.StatusCode, data)
			}
			continue
		}
		var e struct{ Error errorBody }
		if resp.StatusCode != 400 || json.Unmarshal(data, &e) != nil || e.Error.Code != CodeInvalidArgument {
			t.Errorf("%s: %d %s, want 400 %s", name, resp.StatusCode, data, CodeInvalidArgument)
		}
	}
	if st := b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200); st["total_jobs"] != 0.0 {
		t.Fatalf("refused submissions created jobs: %v", st)
	}
	// Printable ASCII, spaces included, is a fine key.
	b.submit(t, `{"type": "demo", "unique_key": "parse doc #42 (v2)"}`)

	// A record that holds invalid UTF-8 all the same is served valid.
	res, err := b.client.EnqueueBatch(ctxT(t), []queue.EnqueueParams{{Type: "demo", Payload: json.RawMessage("\"\xff\"")}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("enqueue: %v %v", err, res)
	}
	for _, path := range []string{"/api/v1/jobs/" + res[0].Job.ID, "/api/v1/jobs"} {
		_, data := b.do(t, "GET", path, "")
		if !utf8.Valid(data) {
			t.Errorf("GET %s serves invalid UTF-8: %q", path, data)
		}
	}
}
