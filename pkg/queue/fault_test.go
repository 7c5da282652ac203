package queue

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

// TestWorkerSurvivesRedisRestart: Redis goes away mid-run and comes back
// from its AOF; the worker backs off, resumes by itself, and every job
// submitted before and after finishes, with the counters exact.
func TestWorkerSurvivesRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, &redistest.Options{AOF: true, Args: []string{"--appendfsync", "always"}})
	c, _ := setupOn(t, srv)
	ctx := ctxT(t)
	mux := NewMux()
	mux.HandleFunc("slow", func(ctx context.Context, j *ActiveJob) (any, error) {
		var p struct{ MS int }
		_ = json.Unmarshal(j.Payload, &p)
		for i := 0; i < 10; i++ {
			j.Progress(float64(i*10), "working")
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(p.MS) * time.Millisecond):
			}
		}
		return "ok", nil
	})
	startWorker(t, c, mux, WorkerConfig{Concurrency: 4, LeaseTTL: time.Second, ReapInterval: 100 * time.Millisecond})
	var ids []string
	for i := 0; i < 8; i++ {
		ids = append(ids, mustEnqueue(t, c, EnqueueParams{Type: "slow", Payload: json.RawMessage(`{"MS": 30}`)}))
	}
	waitFor(t, 10*time.Second, "some jobs running, some pending", func() bool {
		st, err := c.Stats(ctx)
		return err == nil && st.Counts[StateRunning] > 0 && st.Counts[StatePending] > 0
	})
	srv.Shutdown()
	time.Sleep(700 * time.Millisecond) // Redis is gone for most of a lease
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		ids = append(ids, mustEnqueue(t, c, EnqueueParams{Type: "slow", Payload: json.RawMessage(`{"MS": 1}`)}))
	}
	var jobs []*Job
	done := 0
	defer func() {
		if done != len(ids) {
			for _, j := range jobs {
				if j != nil {
					t.Logf("%s %s attempts %d err %q", j.ID, j.Status, j.Attempts, j.Error)
				}
			}
		}
	}()
	waitFor(t, 20*time.Second, "every job completed after the Redis restart", func() bool {
		var err error
		if jobs, err = c.GetMany(ctx, ids); err != nil {
			return false
		}
		done = 0
		for _, j := range jobs {
			if j != nil && j.Status == StateCompleted {
				done++
			}
		}
		return done == len(ids)
	})
	checkInvariants(t, c)
}

// TestStartWithoutRedisFailsCleanly: a worker whose Redis is gone fails
// to start with ErrUnavailable, and Stop after that is harmless.
func TestStartWithoutRedisFailsCleanly(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil)
	c, _ := setupOn(t, srv)
	srv.Stop()
	w, err := NewWorker(c, NewMux(), WorkerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.Start(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("start: %v", err)
	}
	w.Stop()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatalf("start once Redis is back: %v", err)
	}
	w.Stop()
}

// TestCompletionLostToAnOutageIsNotAFailure: a handler finishes while Redis
// is away for longer than the lease, so its completion cannot be written.
// The job must run again once Redis is back (the reaper recovers it), not
// be failed for good with "redis unavailable" (regression: the worker took
// the unwritable completion for an unencodable result and failed the job
// permanently as soon as Redis came back).
func TestCompletionLostToAnOutageIsNotAFailure(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, &redistest.Options{AOF: true, Args: []string{"--appendfsync", "always"}})
	c, _ := setupOn(t, srv)
	ctx := ctxT(t)
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	mux := NewMux()
	mux.HandleFunc("once", func(ctx context.Context, j *ActiveJob) (any, error) {
		if runs.Add(1) == 1 {
			close(started)
			<-release // the first run ends while Redis is away
		}
		return "done", nil
	})
	logs := newLogSignal()
	givenUp := logs.on("could not record the completion")
	// No maintenance in the worker: the test reaps by itself, after the
	// worker had its chance to write something.
	startWorker(t, c, mux, WorkerConfig{Concurrency: 1, LeaseTTL: 2 * time.Second, DisableMaintenance: true,
		Logger: slog.New(logs)})
	id := mustEnqueue(t, c, EnqueueParams{Type: "once"})
	within(t, 10*time.Second, "the first run", started)
	srv.Stop()
	close(release) // the completion now fails for one lease, then is given up
	within(t, 20*time.Second, "the worker to give the completion up", givenUp)
	// Redis returns while the worker would be writing a failure, were it
	// to take the lost completion for one.
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	var j *Job
	waitFor(t, 20*time.Second, "the job to finish once Redis is back", func() bool {
		if _, err := c.Reap(ctx); err != nil { // once its lease has expired
			return false
		}
		var err error
		j, err = c.Get(ctx, id)
		return err == nil && j.Status.Terminal()
	})
	if j.Status != StateCompleted || runs.Load() != 2 {
		t.Fatalf("job %s after %d runs, error %q; want completed by a second run", j.Status, runs.Load(), j.Error)
	}
	checkInvariants(t, c)
}
