package queue

import (
	"context"
	"testing"
	"time"
)

// A handler stopped by its worker learns why: a cancel, its timeout, or
// the worker's shutdown; a context no worker made has no reason.
func TestRunStopped(t *testing.T) {
	t.Parallel()
	if got := RunStopped(context.Background()); got != "" {
		t.Fatalf("a plain context: %q", got)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if got := RunStopped(ended); got != "" {
		t.Fatalf("a context cancelled by no worker: %q", got)
	}
	for _, tc := range []struct {
		want StopReason
		stop func(t *testing.T, c *Client, w *Worker, id string)
	}{
		{StopCancelled, func(t *testing.T, c *Client, _ *Worker, id string) {
			if err := c.Cancel(ctxT(t), id); err != nil {
				t.Fatal(err)
			}
		}},
		{StopTimeout, func(*testing.T, *Client, *Worker, string) {}},
		{StopShutdown, func(_ *testing.T, _ *Client, w *Worker, _ string) { go w.Stop() }},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			t.Parallel()
			c, _ := setup(t)
			started, reason := make(chan struct{}, 1), make(chan StopReason, 1)
			mux := NewMux()
			mux.HandleFunc("x", func(ctx context.Context, _ *ActiveJob) (any, error) {
				started <- struct{}{}
				<-ctx.Done()
				reason <- RunStopped(ctx)
				return nil, ctx.Err()
			})
			w := startWorker(t, c, mux, WorkerConfig{ShutdownTimeout: 50 * time.Millisecond})
			p := EnqueueParams{Type: "x"}
			if tc.want == StopTimeout {
				p.Timeout = 50 * time.Millisecond
			}
			id := mustEnqueue(t, c, p)
			within(t, 10*time.Second, "the handler to start", started)
			tc.stop(t, c, w, id)
			select {
			case got := <-reason:
				if got != tc.want {
					t.Fatalf("RunStopped: %q, want %q", got, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the handler was never stopped")
			}
		})
	}
}
