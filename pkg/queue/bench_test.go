package queue

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

// Micro-benchmarks of the hot paths against the shared real redis-server:
//
//	go test -run '^$' -bench . -benchtime 3s ./pkg/queue/

func BenchmarkEnqueue(b *testing.B) {
	c, _ := setup(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Enqueue(ctx, EnqueueParams{Type: "noop"}); err != nil {
				b.Error(err)
			}
		}
	})
}

func BenchmarkEnqueueBatch100(b *testing.B) {
	c, _ := setup(b)
	ctx := context.Background()
	batch := make([]EnqueueParams, 100)
	for i := range batch {
		batch[i] = EnqueueParams{Type: "noop"}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.EnqueueBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkProcess drains b.N pre-enqueued no-op jobs with one worker of
// concurrency 32.
func BenchmarkProcess(b *testing.B) {
	c, _ := setup(b)
	ctx := context.Background()
	batch := make([]EnqueueParams, 0, 500)
	for left := b.N; left > 0; left -= len(batch) {
		batch = batch[:0]
		for i := 0; i < min(left, 500); i++ {
			batch = append(batch, EnqueueParams{Type: "noop"})
		}
		if _, err := c.EnqueueBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	finished := make(chan struct{})
	mux := NewMux()
	mux.HandleFunc("noop", func(ctx context.Context, j *ActiveJob) (any, error) {
		if done.Add(1) == int64(b.N) {
			close(finished)
		}
		return nil, nil
	})
	b.ResetTimer()
	w, err := NewWorker(c, mux, WorkerConfig{Concurrency: 32, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case <-finished:
	case <-time.After(5 * time.Minute):
		b.Fatal("not drained")
	}
	b.StopTimer()
	w.Stop()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
