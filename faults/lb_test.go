package faults

import (
	"context"
	"io"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
)

// TestStreamSurvivesAPIKillBehindNginx: a client streams a job through
// nginx; the apiserver serving the stream is SIGKILLed mid-job. The client
// reconnects through nginx with Last-Event-ID, lands on the survivor and
// receives the rest up to the terminal event: no duplicate ids, versions
// only increasing.
func TestStreamSurvivesAPIKillBehindNginx(t *testing.T) {
	streamAcrossAPIFailure(t, func(p *proctest.Proc) { p.Kill() }, false)
}

// TestStreamResumesAfterAPISIGTERMBehindNginx: the apiserver serving the
// stream is stopped gracefully; the stream ends with an SSE retry hint and
// the client resumes on the other instance.
func TestStreamResumesAfterAPISIGTERMBehindNginx(t *testing.T) {
	streamAcrossAPIFailure(t, func(p *proctest.Proc) {
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}, true)
}

func streamAcrossAPIFailure(t *testing.T, stop func(*proctest.Proc), wantRetryHint bool) {
	t.Parallel()
	cl := clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 1,
		APIEnv: []string{"API_SHUTDOWN_TIMEOUT=2s"}})
	apis := cl.APIs()
	byAddr := map[string]*clustertest.API{}
	var upstreams []string
	for _, a := range apis {
		addr := strings.TrimPrefix(a.URL, "http://")
		upstreams = append(upstreams, addr)
		byAddr[addr] = a
	}
	lb := startNginx(t, upstreams)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// 30 steps of 100 ms: long enough to break the stream in the middle.
	id := clustertest.Submit(t, lb, `{"type":"demo","payload":{"steps":30,"step_ms":100}}`)
	url := lb + "/api/v1/jobs/status/" + id + "/stream"

	s, err := clustertest.OpenStream(ctx, url, "")
	if err != nil {
		t.Fatal(err)
	}
	served := byAddr[s.Resp.Header.Get("X-Upstream")]
	if served == nil {
		t.Fatalf("X-Upstream %q names no apiserver of %v", s.Resp.Header.Get("X-Upstream"), upstreams)
	}
	var seen []clustertest.Event
	for len(seen) < 3 { // a few progress events, then the failure
		ev, err := s.Next()
		if err != nil {
			t.Fatalf("stream before the failure: %v after %d events", err, len(seen))
		}
		if ev.Data != nil {
			seen = append(seen, ev)
		}
	}
	stop(served.Proc)
	stoppedAt := time.Now()
	// Read what the first connection still carries: with SIGKILL it breaks
	// (an error); with SIGTERM it ends cleanly after a retry hint.
	var retry string
	var endErr error
	for {
		ev, err := s.Next()
		if err != nil {
			endErr = err
			break
		}
		if ev.Retry != "" {
			retry = ev.Retry
		}
		if ev.Data != nil {
			seen = append(seen, ev)
		}
	}
	s.Close()
	firstConn := len(seen)
	t.Logf("first connection (via %s): %d events, then %v; retry hint %q", served.URL, firstConn, endErr, retry)
	if wantRetryHint {
		if retry == "" || endErr != io.EOF {
			t.Fatalf("graceful stop: want a retry hint and a clean end, got retry %q, end %v", retry, endErr)
		}
		ms, _ := strconv.Atoi(retry)
		time.Sleep(time.Duration(ms) * time.Millisecond) // as EventSource would
		if err := served.Proc.Wait(10 * time.Second); err != nil {
			t.Fatalf("apiserver exit after SIGTERM: %v", err)
		}
	}
	if seen[len(seen)-1].Data["status"] == "completed" {
		t.Fatal("the job finished before the failure; nothing was resumed")
	}

	// Resume through nginx with the last id seen; nginx moves to the survivor.
	last := seen[len(seen)-1].ID
	s2, err := clustertest.OpenStream(ctx, url, last)
	if err != nil {
		t.Fatalf("resume after the failure: %v", err)
	}
	resumedAfter := time.Since(stoppedAt)
	// $upstream_addr lists every upstream tried ("dead, survivor"); the
	// last one served.
	survivor := otherThan(apis, served)
	up := s2.Resp.Header.Get("X-Upstream")
	if !strings.HasSuffix(up, strings.TrimPrefix(survivor.URL, "http://")) {
		t.Fatalf("resumed stream served by %q, want the survivor %s", up, survivor.URL)
	}
	t.Logf("resumed via %q", up)
	for {
		ev, err := s2.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("resumed stream: %v", err)
		}
		if ev.Data != nil {
			seen = append(seen, ev)
		}
	}
	s2.Close()

	prev := int64(-1)
	for i, ev := range seen {
		v, err := strconv.ParseInt(ev.ID, 10, 64)
		if err != nil || v <= prev {
			t.Fatalf("event %d: id %q after %d: ids must be versions, increasing, without duplicates", i, ev.ID, prev)
		}
		prev = v
		if ev.Data["job_id"] != id {
			t.Fatalf("event %d is for job %v", i, ev.Data["job_id"])
		}
	}
	lastEv := seen[len(seen)-1]
	if lastEv.Data["status"] != "completed" || lastEv.Data["progress"] != 100.0 {
		t.Fatalf("last event %+v, want completed at 100%%", lastEv.Data)
	}
	t.Logf("SUMMARY lb-%s events=%d (first connection %d, resumed %d) resumed_after=%s last=%s",
		map[bool]string{false: "sigkill", true: "sigterm"}[wantRetryHint], len(seen), firstConn, len(seen)-firstConn,
		resumedAfter.Round(time.Millisecond), lastEv.Data["status"])
}

func otherThan(apis []*clustertest.API, a *clustertest.API) *clustertest.API {
	for _, b := range apis {
		if b != a {
			return b
		}
	}
	return nil
}
