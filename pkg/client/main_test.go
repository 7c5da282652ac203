package client_test

import (
	"context"
	"fmt"
	"github.com/compileo/jobqueue/internal/testmain"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/internal/servertest"
	"github.com/compileo/jobqueue/pkg/client"
)

// serverURL is the API the examples call: the whole service, in this
// test process, on a redis-server of its own.
var serverURL string

func TestMain(m *testing.M) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "client-example-redis-")
	if err != nil {
		fail(err)
	}
	rs, err := redistest.Start(dir, nil)
	if err != nil {
		os.RemoveAll(dir)
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	srv, err := servertest.Start(ctx, rs.Addr, nil)
	cancel()
	if err != nil {
		rs.Stop()
		os.RemoveAll(dir)
		fail(err)
	}
	serverURL = srv.URL
	testmain.Run(m, func() {
		srv.Close()
		rs.Stop()
		os.RemoveAll(dir)
		http.DefaultClient.CloseIdleConnections() // the examples' connections
	})
}

// ctxT is a context bounded for one test.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// bundle is a client under test and the live service it calls.
type bundle struct {
	c   *client.Client
	srv *servertest.Server
}

// setup starts the service for one test (real Redis, the API, a worker
// running the built-in handlers) and a client of it.
func setup(t *testing.T, opts *servertest.Options) *bundle {
	t.Helper()
	srv := servertest.New(t, opts)
	return &bundle{c: newClient(t, client.Config{BaseURL: srv.URL}), srv: srv}
}

// newClient returns a client with its own connections, closed at cleanup
// (so no test leaves a goroutine behind), and fast retries.
func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	if cfg.RetryBaseDelay == 0 {
		cfg.RetryBaseDelay = 10 * time.Millisecond
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const unknownID = "123e4567-e89b-12d3-a456-426614174000"

// demo is a demo job of n steps of ms milliseconds each.
func demo(n, ms int) client.Submission {
	return client.Submission{Type: "demo", Payload: map[string]int{"steps": n, "step_ms": ms}}
}

// submit submits job and returns its id.
func (b *bundle) submit(t *testing.T, job client.Submission) string {
	t.Helper()
	s, err := b.c.Submit(ctxT(t), job)
	if err != nil {
		t.Fatalf("submit %+v: %v", job, err)
	}
	return s.JobID
}

// waitRunning long-polls until the job runs.
func (b *bundle) waitRunning(t *testing.T, id string) {
	t.Helper()
	ctx := ctxT(t)
	st, err := b.c.Status(ctx, id)
	for err == nil && st.Status != client.StateRunning {
		if st.Status.Terminal() {
			t.Fatalf("job %s %s before it was seen running", id, st.Status)
		}
		st, err = b.c.Poll(ctx, id, st.Status, 30*time.Second)
	}
	if err != nil {
		t.Fatal(err)
	}
}
