package queue

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The Start/Stop contract every background loop shares.
func TestServiceLifecycle(t *testing.T) {
	t.Parallel()
	var s service
	s.stop(nil) // never started: nothing to do
	var loops atomic.Int32
	ctxs := make(chan context.Context, 2)
	loop := func(ctx context.Context) { loops.Add(1); ctxs <- ctx; <-ctx.Done() }
	refused := errors.New("not now")
	if err := s.start(context.Background(), func(context.Context) error { return refused }, loop); err != refused {
		t.Fatalf("a failed first step: %v", err)
	}
	if loops.Load() != 0 || s.stopped() != nil {
		t.Fatal("the loop ran although the start failed")
	}
	// The context given to Start bounds the start, not the loop.
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.start(ctx, nil, loop); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := s.start(context.Background(), nil, loop); !errors.Is(err, errStarted) {
		t.Fatalf("a second start: %v", err)
	}
	loopCtx := <-ctxs
	if loopCtx.Err() != nil {
		t.Fatal("the loop's context ended with the start's")
	}
	s.stop(nil)
	<-s.stopped()
	if loopCtx.Err() == nil {
		t.Fatal("the loop's context outlived Stop")
	}
	s.stop(nil) // stopped already
	// It starts again after a stop.
	if err := s.start(context.Background(), nil, loop); err != nil {
		t.Fatal(err)
	}
	s.stop(nil)
	if n := loops.Load(); n != 2 {
		t.Fatalf("%d loops ran, want 2", n)
	}
}

// Start and Stop of a Worker may come from any goroutines at once: one
// Start wins, every Stop returns once it stopped.
func TestWorkerStartStopConcurrently(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	w, err := NewWorker(c, NewMux(), WorkerConfig{Logger: slog.New(slog.DiscardHandler), LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	var wg sync.WaitGroup
	var won atomic.Int32
	for range 4 {
		wg.Go(func() {
			if w.Start(ctx) == nil {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d starts succeeded, want 1", won.Load())
	}
	for range 3 {
		wg.Go(w.Stop)
	}
	wg.Wait()
	if err := w.Start(ctx); err == nil {
		t.Fatal("a stopped worker started again")
	}
}
