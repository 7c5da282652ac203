package queue

import (
	"context"
	"encoding/json"
	"errors"
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
	time.Sleep(150 * time.Millisecond) // some running, some pending
	srv.Shutdown()
	time.Sleep(700 * time.Millisecond) // Redis is gone for most of a lease
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		ids = append(ids, mustEnqueue(t, c, EnqueueParams{Type: "slow", Payload: json.RawMessage(`{"MS": 1}`)}))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		jobs, err := c.GetMany(ctx, ids)
		if err == nil {
			done := 0
			for _, j := range jobs {
				if j != nil && j.Status == StateCompleted {
					done++
				}
			}
			if done == len(ids) {
				break
			}
			if time.Now().After(deadline) {
				for _, j := range jobs {
					t.Logf("%s %s attempts %d err %q", j.ID, j.Status, j.Attempts, j.Error)
				}
				t.Fatalf("%d of %d jobs completed after the Redis restart", done, len(ids))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
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
