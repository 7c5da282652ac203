package clustertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Client is the HTTP client of the helpers: bounded, so a hung server
// fails a test instead of stalling it.
var Client = &http.Client{Timeout: 30 * time.Second}

// Do sends a request with an optional JSON body and decodes a JSON answer
// into into (when non-nil and the body is not empty).
func Do(ctx context.Context, method, url, body string, into any) (int, http.Header, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, err
	}
	if into != nil && len(b) > 0 {
		if err := json.Unmarshal(b, into); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: %d %q: %w", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, resp.Header, nil
}

// GetJSON is Do(GET) that fails the test on a transport error.
func GetJSON(t testing.TB, url string, into any) int {
	t.Helper()
	code, _, err := Do(context.Background(), http.MethodGet, url, "", into)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return code
}

// PostJSON is Do(POST) that fails the test on a transport error.
func PostJSON(t testing.TB, url, body string, into any) (int, http.Header) {
	t.Helper()
	code, hdr, err := Do(context.Background(), http.MethodPost, url, body, into)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return code, hdr
}

// Submit posts a job to base and returns its id, failing the test unless
// the answer is 201 with a matching Location.
func Submit(t testing.TB, base, body string) string {
	t.Helper()
	var out struct {
		JobID string `json:"job_id"`
	}
	code, hdr := PostJSON(t, base+"/api/v1/jobs", body, &out)
	if code != http.StatusCreated || out.JobID == "" || hdr.Get("Location") != "/api/v1/jobs/"+out.JobID {
		t.Fatalf("submit: %d %+v location %q", code, out, hdr.Get("Location"))
	}
	return out.JobID
}

// Event is one server-sent event (or a bare retry hint: Retry set, no Data).
type Event struct {
	ID    string
	Data  map[string]any
	Retry string
}

// Stream is an open SSE response.
type Stream struct {
	Resp *http.Response
	sc   *bufio.Scanner
}

// OpenStream opens an SSE stream, resuming after lastEventID when it is
// not empty. A non-200 answer is returned as an error with its body.
func OpenStream(ctx context.Context, url, lastEventID string) (*Stream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req) // no overall timeout: ctx bounds it
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, fmt.Errorf("stream %s: %d %s", url, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("stream %s: content type %q", url, ct)
	}
	return &Stream{Resp: resp, sc: bufio.NewScanner(resp.Body)}, nil
}

// Next returns the next event or retry hint; io.EOF when the stream ended
// cleanly, another error when it broke (e.g. the server died).
func (s *Stream) Next() (Event, error) {
	var ev Event
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			ev.ID = line[4:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &ev.Data); err != nil {
				return ev, fmt.Errorf("event data is not JSON: %q", line)
			}
		case strings.HasPrefix(line, "retry: "):
			ev.Retry = line[7:]
		case line == "" && (ev.Data != nil || ev.Retry != ""):
			return ev, nil
		}
	}
	if err := s.sc.Err(); err != nil {
		return ev, err
	}
	return ev, io.EOF
}

// Close ends the stream.
func (s *Stream) Close() { s.Resp.Body.Close() }

// ReadStream reads a job's SSE stream to its end and returns its events
// (retry hints included), failing the test if it cannot open or breaks.
func ReadStream(t testing.TB, ctx context.Context, url, lastEventID string) []Event {
	t.Helper()
	s, err := OpenStream(ctx, url, lastEventID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var evs []Event
	for {
		ev, err := s.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatalf("stream %s: %v", url, err)
		}
		evs = append(evs, ev)
	}
}
