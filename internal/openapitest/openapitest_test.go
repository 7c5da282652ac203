package openapitest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// spec is the smallest document Check works with: one JSON operation,
// one event stream, and the components it relies on.
const spec = `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/things/{id}": {
      "get": {
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": {"type": "string"}}}}}}
        }
      }
    },
    "/things/{id}/events": {
      "get": {
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "events", "content": {"text/event-stream": {"schema": {"type": "string"}}}}
        }
      }
    }
  },
  "components": {
    "schemas": {
      "StreamEvent": {"type": "object", "required": ["n"], "additionalProperties": false,
        "properties": {"n": {"type": "integer"}}}
    },
    "responses": {
      "NoRoute": {"description": "no route", "content": {"application/json": {"schema": {"type": "object", "required": ["error"]}}}},
      "MethodNotAllowed": {"description": "no method",
        "headers": {"Allow": {"required": true, "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"type": "object", "required": ["error"]}}}}
    }
  }
}`

func TestCheck(t *testing.T) {
	c, err := New([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	jsonH := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	sse := http.Header{"Content-Type": {"text/event-stream"}}
	allow := http.Header{"Content-Type": {"application/json"}, "Allow": {"GET"}}
	for _, tc := range []struct {
		method, path string
		status       int
		header       http.Header
		body         string
		ok           bool
	}{
		{"GET", "/things/1", 200, jsonH, `{"name": "a"}`, true},
		{"GET", "/things/1", 200, jsonH, `{"name": "a", "extra": 1}`, false}, // closed object
		{"GET", "/things/1", 200, jsonH, `{}`, false},                        // required field
		{"GET", "/things/1", 404, jsonH, `{"error": {}}`, false},             // undocumented status
		{"GET", "/things/1", 200, http.Header{"Content-Type": {"text/plain"}}, `name`, false},
		{"GET", "/nowhere", 404, jsonH, `{"error": {}}`, true},
		{"GET", "/nowhere", 200, jsonH, `{"name": "a"}`, false},
		{"PUT", "/things/1", 405, allow, `{"error": {}}`, true},
		{"PUT", "/things/1", 405, jsonH, `{"error": {}}`, false}, // Allow is required
		{"PUT", "/things/1", 404, jsonH, `{"error": {}}`, false},
		{"GET", "/things/1/events", 200, sse, "id: 1\ndata: {\"n\": 1}\n\n: keep-alive\n\nid: 3\ndata: {\"n\": 2}\n\nretry: 1000\n\n", true},
		{"GET", "/things/1/events", 200, sse, "id: 1\ndata: {\"n\": \"x\"}\n\n", false},                        // data breaks StreamEvent
		{"GET", "/things/1/events", 200, sse, "id: 2\ndata: {\"n\": 1}\n\nid: 2\ndata: {\"n\": 1}\n\n", false}, // ids must grow
		{"GET", "/things/1/events", 200, sse, "data: {\"n\": 1}\n\n", false},                                   // no id
		{"GET", "/things/1/events", 200, sse, "id: 1\ndata: {\"n\": 1}\n", false},                              // cut mid-event
		{"GET", "/things/1/events", 200, sse, "event: x\n\n", false},                                           // a field the API never sends
		{"GET", "/things/1", 200, sse, "id: 1\ndata: {\"n\": 1}\n\n", false},                                   // not a stream operation
		{"OPTIONS", "/things/1", 204, nil, "", true},                                                           // a CORS preflight
		{"HEAD", "/things/1", 200, nil, "", true},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.method == "OPTIONS" {
			req.Header.Set("Access-Control-Request-Method", "GET")
		}
		err := c.Check(req, tc.status, tc.header, []byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s %s %d %q: err %v, want ok=%v", tc.method, tc.path, tc.status, tc.body, err, tc.ok)
		}
	}
	want := []string{"* MethodNotAllowed 405", "* NoRoute 404", "GET /things/{id} 200", "GET /things/{id}/events 200"}
	if got := c.Seen(); !slices.Equal(got, want) {
		t.Errorf("Seen() = %v, want %v", got, want)
	}
	if got := c.Operations(); !slices.Equal(got, []string{"GET /things/{id}", "GET /things/{id}/events"}) {
		t.Errorf("Operations() = %v", got)
	}
}

// The transport fails a request whose response breaks the document, and
// a stream's read at its first bad event, after passing the good ones.
func TestTransport(t *testing.T) {
	c, err := New([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/things/good":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"name": "a"}`)
		case "/things/bad":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"nom": "a"}`)
		case "/things/1/events":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: 1\ndata: {\"n\": 1}\n\nid: 2\ndata: {\"n\": true}\n\n")
		}
	}))
	defer ts.Close()
	hc := &http.Client{Transport: c.Transport(ts.Client().Transport)}

	resp, err := hc.Get(ts.URL + "/things/good")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != `{"name": "a"}` {
		t.Fatalf("body %q not passed through", b)
	}
	resp.Body.Close()
	if _, err := hc.Get(ts.URL + "/things/bad"); err == nil || !strings.Contains(err.Error(), "nom") {
		t.Fatalf("a bad body passed: %v", err)
	}
	resp, err = hc.Get(ts.URL + "/things/1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil || !strings.Contains(string(b), `{"n": 1}`) {
		t.Fatalf("stream read %q, %v: want the good event, then an error", b, err)
	}
}
