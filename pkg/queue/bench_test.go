package queue

import (
	"strconv"
	"strings"

	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
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

// BenchmarkClaimComplete claims b.N pending jobs 32 at a time, then
// completes them 32 at a time, and reports what Redis spent on them (from
// INFO commandstats on a redis-server of its own): the scripts' time per
// job, and what is left after every other command's time (the scripts'
// own calls, and the peeks outside them) — at least that much is Lua
// itself. Redis CPU per job is what bounds processing throughput:
//
//	go test -run '^$' -bench ClaimComplete -benchtime 20000x ./pkg/queue/
func BenchmarkClaimComplete(b *testing.B) {
	srv := redistest.New(b, nil)
	c, bu := setupOn(b, srv)
	ctx := context.Background()
	params := make([]EnqueueParams, 500)
	for i := range params {
		params[i] = EnqueueParams{Type: "x"}
	}
	for left := b.N; left > 0; left -= len(params) {
		if _, err := c.EnqueueBatch(ctx, params[:min(left, len(params))]); err != nil {
			b.Fatal(err)
		}
	}
	w := testWorker(c)
	runs := make([]*run, 0, b.N)
	report := func(phase string) {
		evalUS, otherUS := commandUsec(b, bu)
		b.ReportMetric(evalUS/float64(b.N), phase+"-redis-µs/job")
		b.ReportMetric((evalUS-otherUS)/float64(b.N), phase+"-lua-µs/job")
		bu.rdb.ConfigResetStat(ctx)
	}
	bu.rdb.ConfigResetStat(ctx)
	b.ResetTimer()
	for len(runs) < b.N {
		jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"x"}, 32, time.Minute)
		if err != nil || len(jobs) == 0 {
			b.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		for _, j := range jobs {
			runs = append(runs, &run{w: w, job: j, token: j.token, ctx: ctx, cancel: func(error) {}})
		}
	}
	report("claim")
	for k := 0; k < len(runs); k += 32 {
		var batch []*completion
		for _, r := range runs[k:min(k+32, len(runs))] {
			batch = append(batch, &completion{r: r, done: make(chan error, 1)})
		}
		if _, err := c.luaComplete(ctx, completeRuns(batch)); err != nil {
			b.Fatal(err)
		}
	}
	report("complete")
}

// commandUsec sums INFO commandstats: the microseconds of EVALSHA, and of
// every other command (those the scripts ran).
func commandUsec(b *testing.B, bu *bundle) (evalUS, otherUS float64) {
	for _, line := range strings.Split(bu.rdb.Info(context.Background(), "commandstats").Val(), "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "usec="); ok {
				us, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				if name == "cmdstat_evalsha" || name == "cmdstat_eval" {
					evalUS += us
				} else {
					otherUS += us
				}
			}
		}
	}
	return evalUS, otherUS
}
