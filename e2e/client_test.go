package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/pkg/client"
)

// TestClientsAgainstProcesses drives the service's clients — the jobctl
// binary and the Go SDK — against real processes: submit on one
// apiserver, watch and cancel through the other, and follow a stream
// across a SIGTERM of the apiserver serving it.
func TestClientsAgainstProcesses(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2})
	apis := cl.APIs()
	a, b := apis[0].URL, apis[1].URL
	bin := proctest.Build(t, "github.com/compileo/jobqueue/cmd/jobctl")
	jobctl := func(server string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "JOBS_SERVER="+server)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}

	out, code := jobctl(a, "submit", "demo", `{"steps": 3, "step_ms": 20}`)
	id := strings.TrimSpace(out)
	if code != 0 || len(id) != 36 {
		t.Fatalf("submit: exit %d: %s", code, out)
	}
	if out, code := jobctl(b, "watch", id); code != 0 || !strings.HasSuffix(out, "completed: {\"steps\":3,\"step_ms\":20}\n") {
		t.Fatalf("watch: exit %d:\n%s", code, out)
	}
	if out, code := jobctl(b, "workers"); code != 0 || strings.Count(out, "\nworker") != 2 {
		t.Fatalf("workers: exit %d:\n%s", code, out)
	}

	// The SDK follows a stream across a rolling restart: a balancer
	// (here a proxy) sends it to A; A gets SIGTERM mid-stream and is
	// taken out; the stream resumes on B after the last event.
	var backend atomic.Pointer[string]
	backend.Store(&a)
	var resumedOnB atomic.Bool // a stream request reached B with a Last-Event-ID
	lb := httptest.NewServer(&httputil.ReverseProxy{FlushInterval: -1, Rewrite: func(r *httputil.ProxyRequest) {
		to := *backend.Load()
		if to == b && strings.HasSuffix(r.In.URL.Path, "/stream") && r.In.Header.Get("Last-Event-ID") != "" {
			resumedOnB.Store(true)
		}
		u, _ := url.Parse(to)
		r.SetURL(u)
	}})
	defer lb.Close()
	c, err := client.New(client.Config{BaseURL: lb.URL, RetryBaseDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// It runs until cancelled, once the stream is seen resumed on B, so
	// the restart cannot miss it however slow the machine.
	job, err := c.Submit(ctx, client.Submission{Type: "demo", Payload: map[string]int{"steps": 10000, "step_ms": 20}})
	if err != nil {
		t.Fatal(err)
	}
	var evs []client.Event
	cancelled := false
	for ev, err := range c.Stream(ctx, job.JobID, nil) {
		if err != nil {
			t.Fatalf("stream after %d events: %v", len(evs), err)
		}
		if len(evs) > 0 && ev.ID <= evs[len(evs)-1].ID {
			t.Fatalf("event %d after %d: an event twice or out of order", ev.ID, evs[len(evs)-1].ID)
		}
		evs = append(evs, ev)
		if len(evs) == 1 {
			backend.Store(&b)
			if err := apis[0].Proc.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		if !cancelled && resumedOnB.Load() {
			cancelled = true
			if err := c.Cancel(ctx, job.JobID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if last := evs[len(evs)-1]; last.Status != client.StateCancelled || !resumedOnB.Load() {
		t.Fatalf("last event %+v, resumed on B: %t", last, resumedOnB.Load())
	}
	if err := apis[0].Proc.Wait(30 * time.Second); err != nil {
		t.Fatalf("apiserver A after SIGTERM: %v", err)
	}

	// Cancel through the CLI: a watcher exits 3.
	out, _ = jobctl(b, "submit", "demo", `{"steps": 10000, "step_ms": 50}`)
	long := strings.TrimSpace(out)
	if out, code := jobctl(b, "cancel", long); code != 0 {
		t.Fatalf("cancel: exit %d: %s", code, out)
	}
	if out, code := jobctl(b, "watch", long); code != 3 || !strings.HasSuffix(out, "cancelled\n") {
		t.Fatalf("watch of a cancelled job: exit %d:\n%s", code, out)
	}
}
