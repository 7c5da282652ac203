package api

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leaseHTTP takes the one runnable job of type typ over the lease protocol.
func (b *bundle) leaseHTTP(t *testing.T, typ string) leased {
	t.Helper()
	var got struct {
		Leases []leased `json:"leases"`
	}
	_, data := b.do(t, "POST", "/api/v1/leases", `{"worker_id": "w-1", "types": ["`+typ+`"], "wait_seconds": 5}`)
	mustJSON(t, data, &got)
	if len(got.Leases) != 1 {
		t.Fatalf("leased %s", data)
	}
	return got.Leases[0]
}

func (l leased) call(t *testing.T, b *bundle, what, fields string) {
	t.Helper()
	b.call(t, "POST", "/api/v1/leases/"+l.JobID+"/"+what, `{"lease_token": "`+l.LeaseToken+`"`+fields+`}`, 200)
}

// A client that was away while its job made progress gets every step it
// missed when it comes back with its Last-Event-ID, in order and once,
// then the live ones.
func TestStreamReplaysEveryMissedEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.do(t, "POST", "/api/v1/leases", `{"worker_id": "w-1", "types": ["ocr"]}`) // the type is known
	id := b.submit(t, `{"type": "ocr"}`)
	l := b.leaseHTTP(t, "ocr")
	s := b.openStream(t, id, "")
	first, ok := s.nextEvent(t)
	if !ok || first.Data["status"] != "running" {
		t.Fatalf("first event %+v", first)
	}
	s.close()
	for i := 1; i <= 10; i++ {
		l.call(t, b, "heartbeat", fmt.Sprintf(`, "progress": %d, "current_step": "step %d"`, i*5, i))
		if i%3 == 0 { // log lines take ids too; the status stream skips them
			l.call(t, b, "log", fmt.Sprintf(`, "lines": [{"message": "line %d"}]`, i))
		}
	}
	s = b.openStream(t, id, first.ID)
	last := mustAtoi(t, first.ID)
	for i := 1; i <= 10; i++ {
		ev, ok := s.nextEvent(t)
		if !ok || ev.Data["current_step"] != fmt.Sprintf("step %d", i) || mustAtoi(t, ev.ID) <= last {
			t.Fatalf("replayed event %d: %+v after id %d", i, ev, last)
		}
		last = mustAtoi(t, ev.ID)
	}
	// Lines after the last step move the job's version, not its state:
	// a client resuming after the last step gets no state twice.
	l.call(t, b, "log", `, "lines": [{"message": "after the steps"}]`)
	s.close()
	waitFor(t, "the stream's subscription to be freed", func() bool { return b.hub.Count() == 0 })
	s = b.openStream(t, id, strconv.Itoa(last))
	waitFor(t, "the resumed stream to subscribe", func() bool { return b.hub.Count() == 1 })
	l.call(t, b, "complete", "")
	evs := s.rest(t)
	if len(evs) != 1 || evs[0].Data["status"] != "completed" {
		t.Fatalf("after the replay: %+v, want only the completion", evs)
	}
}

// GET /events lists the kept events after an id, both kinds in order.
func TestJobEventsAfterAnID(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.do(t, "POST", "/api/v1/leases", `{"worker_id": "w-1", "types": ["ocr"]}`) // the type is known
	id := b.submit(t, `{"type": "ocr"}`)
	got := b.call(t, "GET", "/api/v1/jobs/"+id+"/events", "", 200)
	if evs := got["events"].([]any); len(evs) != 0 {
		t.Fatalf("a pending job has events %v", evs)
	}
	l := b.leaseHTTP(t, "ocr")
	l.call(t, b, "log", `, "lines": [{"level": "error", "message": "bad page"}]`)
	l.call(t, b, "heartbeat", `, "progress": 40, "current_step": "Reading"`)
	got = b.call(t, "GET", "/api/v1/jobs/"+id+"/events", "", 200)
	evs := got["events"].([]any)
	var kinds []string
	for _, e := range evs {
		m := e.(map[string]any)
		kinds = append(kinds, fmt.Sprintf("%v:%v", m["kind"], m["status"])+fmt.Sprint(m["level"]))
	}
	if fmt.Sprint(kinds) != "[state:running<nil> log:<nil>error state:running<nil>]" {
		t.Fatalf("events %v", evs)
	}
	after := evs[1].(map[string]any)["id"].(float64)
	got = b.call(t, "GET", fmt.Sprintf("/api/v1/jobs/%s/events?after=%d", id, int(after)), "", 200)
	if evs := got["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["current_step"] != "Reading" {
		t.Fatalf("after %v: %v", after, evs)
	}
	b.wantError(t, "GET", "/api/v1/jobs/"+id+"/events?after=x", "", 400, CodeInvalidArgument)
}

// A follower gets the kept lines, then each new one, then the end.
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.do(t, "POST", "/api/v1/leases", `{"worker_id": "w-1", "types": ["ocr"]}`) // the type is known
	id := b.submit(t, `{"type": "ocr"}`)
	l := b.leaseHTTP(t, "ocr")
	l.call(t, b, "log", `, "lines": [{"message": "kept"}]`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/api/v1/jobs/"+id+"/logs?follow=1", nil)
	resp, err := b.http.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(err, resp)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	next := func() string { // the next event's lines, joined
		t.Helper()
		var ev []string
		for sc.Scan() {
			if sc.Text() == "" {
				if len(ev) > 0 {
					return strings.Join(ev, "|")
				}
				continue
			}
			if !strings.HasPrefix(sc.Text(), ":") {
				ev = append(ev, sc.Text())
			}
		}
		return strings.Join(ev, "|")
	}
	if ev := next(); !strings.Contains(ev, `"message":"kept"`) {
		t.Fatalf("first event %q", ev)
	}
	waitFor(t, "the follower to subscribe", func() bool { return b.hub.Count() == 1 })
	l.call(t, b, "log", `, "lines": [{"level": "warn", "message": "live"}]`)
	if ev := next(); !strings.Contains(ev, `"level":"warn","message":"live"`) {
		t.Fatalf("live event %q", ev)
	}
	l.call(t, b, "complete", "")
	if ev := next(); !strings.HasPrefix(ev, "event: end|data: ") || !strings.Contains(ev, `"status":"completed"`) {
		t.Fatalf("end event %q", ev)
	}
	if sc.Scan() {
		t.Fatalf("the stream goes on after its end: %q", sc.Text())
	}
	got := b.call(t, "GET", "/api/v1/jobs/"+id+"/logs", "", 200)
	if lines := got["lines"].([]any); len(lines) != 2 || got["dropped"].(float64) != 0 {
		t.Fatalf("logs %v", got)
	}
}

// A burst of lines bigger than a subscription's buffer reaches a follower
// whole: what the Hub dropped is read back from the job's log.
func TestLogsFollowGetsEveryLineOfABurst(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{BodyLimit: 1 << 20})
	b.do(t, "POST", "/api/v1/leases", `{"worker_id": "w-1", "types": ["ocr"]}`) // the type is known
	id := b.submit(t, `{"type": "ocr"}`)
	l := b.leaseHTTP(t, "ocr")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.url+"/api/v1/jobs/"+id+"/logs?follow=1", nil)
	resp, err := b.http.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatal(err, resp)
	}
	defer resp.Body.Close()
	waitFor(t, "the follower to subscribe", func() bool { return b.hub.Count() == 1 })
	const burst = 1000
	lines := make([]string, burst)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"message": "line %d"}`, i)
	}
	l.call(t, b, "log", `, "lines": [`+strings.Join(lines, ",")+`]`)
	l.call(t, b, "complete", "")
	sc := bufio.NewScanner(resp.Body)
	var got []string
	ended := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "event: end") {
			ended = true
		}
		if m := regexp.MustCompile(`"message":"(line \d+)"`).FindStringSubmatch(line); m != nil {
			got = append(got, m[1])
		}
	}
	if !ended || len(got) != burst {
		t.Fatalf("ended %v, %d lines of %d", ended, len(got), burst)
	}
	for i, m := range got {
		if m != fmt.Sprintf("line %d", i) {
			t.Fatalf("line %d is %q", i, m)
		}
	}
}
