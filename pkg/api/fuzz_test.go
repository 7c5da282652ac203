package api

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/google/uuid"
)

// Fuzz targets of the request parsers: whatever a client sends, parsing
// never panics, and every refusal maps to a 4xx.

func want4xx(t *testing.T, what string, err error) {
	t.Helper()
	if status, body := classify(err); status < 400 || status > 499 || body.Code == "" {
		t.Fatalf("%s: %v maps to %d %+v, want a 4xx", what, err, status, body)
	}
}

var fuzzNow = time.Date(2024, 1, 21, 10, 30, 0, 0, time.UTC)

// fuzzLimits are the default limits of a server.
var fuzzLimits = submitLimits{maxTimeout: DefaultMaxJobTimeout}

func FuzzSubmitRequest(f *testing.F) {
	for _, s := range []string{
		`{"type": "demo"}`,
		`{"type": "demo", "payload": {"steps": 3}, "queue": "q", "priority": 100, "max_retries": 0, "timeout_seconds": 604800, "unique_key": "k"}`,
		`{"type": "demo", "run_at": "2024-01-21T10:30:00Z"}`,
		`{"type": "demo", "run_at": "2024-01-21T10:30:00.5+02:00"}`,
		`{"type": "demo", "delay_seconds": 31536000}`,
		`{"type": "demo", "delay_seconds": 1, "run_at": "2024-01-21T10:30:00Z"}`,
		`{"type": "demo", "payload": null}`,
		`{"type": "demo", "payload": [1, "x"]}`,
		`{"type": "demo", "priority": 1e3}`,
		`{"type": "demo", "x": 1}`,
		`{"type": "demo"} []`,
		`{"type": ""}`,
		`{"TYPE": "demo"}`,
		`null`, `[]`, ``, `"`, `{"type": "\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseSubmit(bytes.NewReader(body), fuzzNow, fuzzLimits)
		if err != nil {
			want4xx(t, "submit", err)
			return
		}
		if p.Type == "" || p.Queue == "" || p.MaxRetries == nil || len(p.Payload) == 0 ||
			p.Timeout <= 0 || p.Timeout > fuzzLimits.maxTimeout {
			t.Fatalf("accepted without defaults: %+v", p)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted %q, which the engine refuses: %v", body, err)
		}
		// As the only job of a batch it gets the same verdict.
		params, errs, err := parseBatch(strings.NewReader(`{"jobs": [`+string(body)+`]}`), fuzzNow, fuzzLimits)
		if err == nil && (len(params) != 1 || errs[0] != nil) {
			t.Fatalf("batch of %q: %v %v", body, errs, err)
		}
	})
}

func FuzzBatchRequest(f *testing.F) {
	for _, s := range []string{`{"jobs": [{"type": "demo"}]}`, `{"jobs": []}`, `{"jobs": null}`,
		`{"jobs": [null, 1, "x", {"type": "demo", "x": 1}]}`, `{"jobs": [{}], "more": 1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		params, errs, err := parseBatch(bytes.NewReader(body), fuzzNow, fuzzLimits)
		if err != nil {
			want4xx(t, "batch", err)
			return
		}
		if len(params) == 0 || len(params) > MaxBatch || len(errs) != len(params) {
			t.Fatalf("batch of %d jobs, %d errors", len(params), len(errs))
		}
		for _, e := range errs {
			if e != nil {
				want4xx(t, "batch item", e)
			}
		}
	})
}

func FuzzPollParams(f *testing.F) {
	for _, s := range []string{"", "timeout=30", "timeout=1&current_status=running", "timeout=300",
		"timeout=0", "timeout=301", "timeout=abc", "timeout=", "current_status=", "current_status=bogus",
		"timeout=+5", "timeout=99999999999999999999", "timeout=1&timeout=2", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		p, err := parsePollParams(q)
		if err != nil {
			want4xx(t, "poll", err)
			return
		}
		if p.timeout < time.Second || p.timeout > MaxPollTimeout || p.timeout%time.Second != 0 {
			t.Fatalf("%q: timeout %s", raw, p.timeout)
		}
		if p.current != "" && !p.current.Valid() {
			t.Fatalf("%q: current_status %q", raw, p.current)
		}
	})
}

func FuzzJobID(f *testing.F) {
	for _, s := range []string{"123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
		"urn:uuid:123e4567-e89b-12d3-a456-426614174000", "{123e4567-e89b-12d3-a456-426614174000}",
		"123e4567e89b12d3a456426614174000", "", "x", "123e4567-e89b-12d3-a456-42661417400\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := parseJobID(s); err != nil {
			want4xx(t, "job id", err)
			return
		}
		if u, err := uuid.Parse(s); err != nil || u.String() != s || len(s) != 36 {
			t.Fatalf("accepted job id %q", s)
		}
	})
}

func FuzzLastEventID(f *testing.F) {
	for _, s := range []string{"", "0", "17", "-1", "abc", "9223372036854775808", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseLastEventID(s)
		if err != nil {
			want4xx(t, "Last-Event-ID", err)
			return
		}
		if (s == "" && v != -1) || (s != "" && v < 0) {
			t.Fatalf("%q: %d", s, v)
		}
	})
}

func FuzzListParams(f *testing.F) {
	for _, s := range []string{"", "limit=1", "limit=0", "limit=1001", "limit=x", "status=running&queue=default",
		"type=demo&cursor=abc", "limit=", "limit=1&limit=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		p, err := parseListParams(q)
		if err != nil {
			want4xx(t, "list", err)
			return
		}
		if p.Limit < 0 || p.Limit > queue.MaxListLimit {
			t.Fatalf("%q: limit %d", raw, p.Limit)
		}
	})
}

// FuzzParseKeys: key configuration never panics, never quotes a secret in
// an error, and what it accepts has names, roles and long secrets.
func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{"a:read:0123456789abcdef", "a:admin:0123456789abcdef,b:submit:fedcba9876543210",
		"# c\na:read:0123456789abcdef\n", "a:root:0123456789abcdef", "a:read:short", ":read:0123456789abcdef",
		"a:read:x:y:0123456789abcdef", ",,,", "a:read:0123456789abcdef,a:read:0123456789abcdeg"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		keys, err := ParseKeys(spec)
		if err != nil {
			for _, entry := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' }) {
				if parts := strings.SplitN(entry, ":", 3); len(parts) == 3 && len(parts[2]) >= minSecretLen &&
					strings.Contains(err.Error(), parts[2]) {
					t.Fatalf("error %q quotes a secret", err)
				}
			}
			return
		}
		for _, k := range keys {
			if k.Name == "" || k.Role < RoleRead || k.Role > RoleAdmin {
				t.Fatalf("%q: accepted %+v", spec, k)
			}
		}
	})
}

func FuzzParseRateLimit(f *testing.F) {
	for _, s := range []string{"", "100/s", "6000/m", "1/h", "50/10s", "0/s", "-1/s", "1/0s", "1/x", "5", "1/1ns",
		"99999999999999999999/s"} {
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, spec string, burst int) {
		l, err := ParseRateLimit(spec, burst)
		if err != nil {
			return
		}
		if spec == "" {
			if l.Enabled() {
				t.Fatalf("empty spec enabled %+v", l)
			}
			return
		}
		if !l.Enabled() || l.Period <= 0 || l.Validate() != nil {
			t.Fatalf("%q burst %d accepted as %+v", spec, burst, l)
		}
	})
}
