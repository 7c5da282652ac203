package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Redis going away ends open streams with a retry hint and answers open
// long polls with a 503, instead of leaving them waiting for events that
// cannot come (regression: both waited until Redis returned, or for the
// poll's whole timeout).
func TestStreamsAndPollsEndWhenRedisIsLost(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil) // the test's own server: it stops it
	b := setupOn(t, redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1}), Config{})
	id := b.submit(t, `{"type": "demo"}`)
	s := b.openStream(t, id, "")
	if _, ok := s.nextEvent(t); !ok {
		t.Fatal("no first event")
	}
	polled := make(chan *http.Response, 1)
	go func() {
		resp, err := b.http.Get(b.url + "/api/v1/jobs/status/" + id + "/poll?timeout=300")
		if err != nil {
			resp = nil
		}
		polled <- resp
	}()
	waitFor(t, "the poll to subscribe", func() bool { return b.hub.Count() == 2 })

	srv.Stop()
	t0 := time.Now()
	ev, ok := s.nextEvent(t)
	if !ok || ev.Retry != "1000" {
		t.Fatalf("stream after Redis went away: %+v", ev)
	}
	if rest := s.rest(t); len(rest) != 0 {
		t.Fatalf("after the retry hint: %+v", rest)
	}
	resp := <-polled
	if resp == nil {
		t.Fatal("poll: no answer")
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || body.Error.Code != CodeUnavailable ||
		resp.Header.Get("Retry-After") == "" {
		t.Fatalf("poll after Redis went away: %d %+v Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Fatalf("stream and poll ended %s after Redis went away", took)
	}
	waitFor(t, "the subscriptions to be freed", func() bool { return b.hub.Count() == 0 })
}
