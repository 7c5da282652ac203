package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// The job types the scenarios submit; their handlers do nothing but what
// the scenario measures.
const (
	typeNoop     = "bench_noop"
	typePickup   = "bench_pickup"
	typeProgress = "bench_progress"
)

const ours = "jobqueue"

// bench runs the scenarios on our engine.
type bench struct {
	cfg *config
	// rdb is a *redis.Client, or a *redis.ClusterClient in the cluster
	// scenario's runs.
	rdb    redis.UniversalClient
	client *queue.Client
	quiet  *slog.Logger
	// fleet runs the apiserver and worker processes of the fleet
	// scenarios (nil when none is selected).
	fleet *fleet
	// nativeRate is the process scenario's last rate, which http_worker
	// is set beside (0: it did not run).
	nativeRate float64
}

// flush empties our database (on a cluster, every master's), so every
// scenario starts from nothing.
func (b *bench) flush(ctx context.Context) error {
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return node.FlushDB(ctx).Err()
		})
	}
	return b.rdb.FlushDB(ctx).Err()
}

// parallel runs f on n goroutines and returns the first error.
func parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fill submits n no-op jobs in batches of size with the configured producers.
func (b *bench) fill(ctx context.Context, typ string, n, size int) error {
	return b.fillWith(ctx, typ, n, size, nil)
}

// fillWith is fill with a payload for every job (nil: none).
func (b *bench) fillWith(ctx context.Context, typ string, n, size int, payload json.RawMessage) error {
	var next atomic.Int64
	return parallel(b.cfg.Producers, func(int) error {
		batch := make([]queue.EnqueueParams, 0, size)
		for {
			end := next.Add(int64(size))
			start := end - int64(size)
			if start >= int64(n) {
				return nil
			}
			batch = batch[:0]
			for range min(end, int64(n)) - start {
				batch = append(batch, queue.EnqueueParams{Type: typ, Payload: payload})
			}
			res, err := b.client.EnqueueBatch(ctx, batch)
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Err != nil {
					return r.Err
				}
			}
		}
	})
}

// enqueueSingle: Producers goroutines submit EnqueueN jobs, one per call.
func (b *bench) enqueueSingle(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	n := b.cfg.EnqueueN
	m, err := startMeter(ctx, b.rdb)
	if err != nil {
		return nil, err
	}
	var next atomic.Int64
	start := time.Now()
	err = parallel(b.cfg.Producers, func(int) error {
		for next.Add(1) <= int64(n) {
			if _, err := b.client.Enqueue(ctx, queue.EnqueueParams{Type: typeNoop}); err != nil {
				return err
			}
		}
		return nil
	})
	r := rate("enqueue_single", ours, unitJobsPerS, n, time.Since(start))
	return []Result{r}, measured(ctx, m, n, &r, err)
}

// measured ends a meter on a workload of n jobs and records its cost on r,
// unless the workload failed (err, returned as is).
func measured(ctx context.Context, m *redisMeter, n int, r *Result, err error) error {
	if err != nil {
		return err
	}
	cost, err := m.stop(ctx, n)
	cost.apply(r)
	return err
}

// enqueueBatch: Producers goroutines submit BatchN jobs in batches of Batch.
func (b *bench) enqueueBatch(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	m, err := startMeter(ctx, b.rdb)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = b.fill(ctx, typeNoop, b.cfg.BatchN, b.cfg.Batch)
	r := rate("enqueue_batch", ours, unitJobsPerS, b.cfg.BatchN, time.Since(start))
	r.Note = fmt.Sprintf("EnqueueBatch of %d", b.cfg.Batch)
	return []Result{r}, measured(ctx, m, b.cfg.BatchN, &r, err)
}

// startWorkers starts n workers of the given concurrency on mux.
func (b *bench) startWorkers(ctx context.Context, mux *queue.Mux, n, concurrency int) (stop func(), err error) {
	var ws []*queue.Worker
	stop = func() {
		_ = parallel(len(ws), func(i int) error { ws[i].Stop(); return nil })
	}
	for range n {
		w, err := queue.NewWorker(b.client, mux, queue.WorkerConfig{Concurrency: concurrency,
			Logger: b.quiet, ShutdownTimeout: 5 * time.Second})
		if err != nil {
			stop()
			return nil, err
		}
		if err := w.Start(ctx); err != nil {
			stop()
			return nil, err
		}
		ws = append(ws, w)
	}
	return stop, nil
}

// process: ProcessN pre-submitted no-op jobs drained by Workers workers of
// Concurrency each; timed from the workers' start until Redis counts every
// job completed. Its Redis CPU per job covers the submission as well
// (submit + claim + complete).
func (b *bench) process(ctx context.Context) ([]Result, error) {
	return b.processWith(ctx, "process", func(context.Context, *queue.ActiveJob) {})
}

// processProgress is process with jobs that report progress once, then
// return: the shape of every real job of the product.
func (b *bench) processProgress(ctx context.Context) ([]Result, error) {
	return b.processWith(ctx, "process_progress", func(_ context.Context, j *queue.ActiveJob) {
		j.Progress(50, "half way")
	})
}

// processWith fills ProcessN jobs in batches of 500 and drains them with
// work as every job's handler.
func (b *bench) processWith(ctx context.Context, name string, work func(context.Context, *queue.ActiveJob)) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	n := b.cfg.ProcessN
	r, err := b.submitThenRun(ctx, n,
		func() error { return b.fill(ctx, typeNoop, n, 500) },
		func() (Result, error) { return b.drain(ctx, n, b.cfg.Workers, b.cfg.Concurrency, work) })
	r.Scenario = name
	if name == "process" && err == nil {
		b.nativeRate = r.Value
	}
	return []Result{r}, err
}

// submitThenRun measures a submission of n jobs, then their run, which
// gives the result; the result's Redis cost per job is the two phases'
// together, and its note says each.
func (b *bench) submitThenRun(ctx context.Context, n int, submit func() error, run func() (Result, error)) (Result, error) {
	m, err := startMeter(ctx, b.rdb)
	if err != nil {
		return Result{}, err
	}
	if err := submit(); err != nil {
		return Result{}, err
	}
	sc, err := m.stop(ctx, n)
	if err != nil {
		return Result{}, err
	}
	if m, err = startMeter(ctx, b.rdb); err != nil {
		return Result{}, err
	}
	r, err := run()
	if err != nil {
		return Result{}, err
	}
	rc, err := m.stop(ctx, n)
	if err != nil {
		return Result{}, err
	}
	r.RedisUsPerJob = math.Round(10*(sc.UsPerJob+rc.UsPerJob)) / 10
	r.RedisCallsPerJob = round2(sc.CallsPerJob + rc.CallsPerJob)
	r.Note += fmt.Sprintf("; Redis µs/job: submit %s + run %s", num(sc.UsPerJob), num(rc.UsPerJob))
	return r, nil
}

// drain starts workers × concurrency on n pending no-op jobs, each
// handled by work, and returns the rate, timed from the workers' start
// until Redis counts every job completed.
func (b *bench) drain(ctx context.Context, n, workers, concurrency int, work func(context.Context, *queue.ActiveJob)) (Result, error) {
	var handled atomic.Int64
	allHandled := make(chan struct{})
	mux := queue.NewMux()
	mux.HandleFunc(typeNoop, func(ctx context.Context, j *queue.ActiveJob) (any, error) {
		work(ctx, j)
		if handled.Add(1) == int64(n) {
			close(allHandled)
		}
		return nil, nil
	})
	start := time.Now()
	stop, err := b.startWorkers(ctx, mux, workers, concurrency)
	if err != nil {
		return Result{}, err
	}
	defer stop()
	select {
	case <-allHandled:
	case <-time.After(b.cfg.Timeout):
		return Result{}, fmt.Errorf("%d of %d jobs handled in %s", handled.Load(), n, b.cfg.Timeout)
	}
	if err := b.waitCompleted(ctx, n, start); err != nil {
		return Result{}, err
	}
	r := rate("", ours, unitJobsPerS, n, time.Since(start))
	r.Note = fmt.Sprintf("%d workers × concurrency %d", workers, concurrency)
	return r, nil
}

// waitCompleted waits until Redis counts n jobs completed (the handlers
// ran; their acknowledgements may still be on their way).
func (b *bench) waitCompleted(ctx context.Context, n int, start time.Time) error {
	for {
		st, err := b.client.Stats(ctx)
		if err != nil {
			return err
		}
		if st.Counts[queue.StateCompleted] >= int64(n) {
			return nil
		}
		if time.Since(start) > b.cfg.Timeout {
			return fmt.Errorf("%d of %d completed", st.Counts[queue.StateCompleted], n)
		}
		time.Sleep(5 * time.Millisecond) // a stats read is Redis work: not too often
	}
}

// pickup: on an idle fleet (Workers × Concurrency, all blocked waiting),
// one job at a time; the latency runs from just before Enqueue to the
// start of the handler.
func (b *bench) pickup(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	lat := make(chan time.Duration, 1)
	mux := queue.NewMux()
	mux.HandleFunc(typePickup, func(_ context.Context, j *queue.ActiveJob) (any, error) {
		now := time.Now()
		var p struct{ T int64 }
		_ = json.Unmarshal(j.Payload, &p)
		lat <- now.Sub(time.Unix(0, p.T))
		return nil, nil
	})
	stop, err := b.startWorkers(ctx, mux, b.cfg.Workers, b.cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	defer stop()
	time.Sleep(50 * time.Millisecond) // let every worker reach its blocking wait
	samples := make([]time.Duration, 0, b.cfg.PickupN)
	start := time.Now()
	for range b.cfg.PickupN {
		// A random pause: the fleet is idle again, and submissions do not
		// fall in step with any periodic activity.
		time.Sleep(time.Duration(2+rand.IntN(8)) * time.Millisecond)
		payload := fmt.Sprintf(`{"T":%d}`, time.Now().UnixNano())
		if _, err := b.client.Enqueue(ctx, queue.EnqueueParams{Type: typePickup, Payload: json.RawMessage(payload)}); err != nil {
			return nil, err
		}
		select {
		case d := <-lat:
			samples = append(samples, d)
		case <-time.After(10 * time.Second):
			return nil, errors.New("pickup: a job waited 10 s")
		}
	}
	return []Result{latencies("pickup_idle", ours, samples, time.Since(start))}, nil
}

// queueStats fills the queue to each of StatsSizes pending jobs and, at
// each, times StatsSamples sequential GET /queue/stats; at the largest it
// also reports Redis memory per pending job (used_memory growth / jobs).
func (b *bench) queueStats(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = b.flush(context.WithoutCancel(ctx)) }()
	srv, err := b.startAPI(ctx, 1)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	mem0, err := usedMemory(ctx, b.rdb)
	if err != nil {
		return nil, err
	}
	var out []Result
	filled := 0
	for _, size := range b.cfg.StatsSizes {
		if err := b.fill(ctx, typeNoop, size-filled, 1000); err != nil {
			return nil, err
		}
		filled = size
		samples := make([]time.Duration, 0, b.cfg.StatsSamples)
		start := time.Now()
		for range b.cfg.StatsSamples {
			t0 := time.Now()
			if err := srv.get(ctx, "/api/v1/jobs/queue/stats"); err != nil {
				return nil, err
			}
			samples = append(samples, time.Since(t0))
		}
		out = append(out, latencies("queue_stats_"+sizeLabel(size), ours, samples, time.Since(start)))
	}
	mem, err := usedMemory(ctx, b.rdb)
	if err != nil {
		return nil, err
	}
	out = append(out, Result{Scenario: "bytes_per_pending", System: ours, N: filled, Unit: unitBytes,
		Value: float64(mem-mem0) / float64(filled)})
	return out, nil
}

// usedMemory is Redis's INFO memory used_memory.
func usedMemory(ctx context.Context, rdb redis.UniversalClient) (int64, error) {
	n, err := infoSum(ctx, rdb, "memory", "used_memory")
	return int64(n), err
}

// infoSum reads one INFO section and sums the named numeric fields.
func infoSum(ctx context.Context, rdb redis.Cmdable, section string, fields ...string) (float64, error) {
	info, err := rdb.InfoMap(ctx, section).Result()
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for _, f := range fields {
		found := false
		for _, kv := range info {
			if v, ok := kv[f]; ok {
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return 0, fmt.Errorf("INFO %s %s=%q: %w", section, f, v, err)
				}
				sum, found = sum+n, true
			}
		}
		if !found {
			return 0, fmt.Errorf("INFO %s has no %s", section, f)
		}
	}
	return sum, nil
}

// sizeLabel is 1k, 100k, 1M...
func sizeLabel(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
