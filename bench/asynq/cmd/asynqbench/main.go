// Command asynqbench runs one of jobbench's scenarios on hibiken/asynq
// v0.26.0 and prints its results as JSON lines, in the shape jobbench reads
// (cmd/jobbench/report.go, Result). It lives in its own module so that the
// service's go.mod never depends on asynq; jobbench builds and runs it.
//
// It FLUSHES its Redis database before and after each scenario.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Result mirrors jobbench's Result.
type Result struct {
	Scenario string  `json:"scenario"`
	System   string  `json:"system"`
	N        int     `json:"n"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	P50Ms    float64 `json:"p50_ms,omitempty"`
	P99Ms    float64 `json:"p99_ms,omitempty"`
	Seconds  float64 `json:"seconds"`
	Note     string  `json:"note,omitempty"`
	// Redis's CPU (µs) and commands per task during the measured part.
	RedisUsPerJob    float64 `json:"redis_us_per_job,omitempty"`
	RedisCallsPerJob float64 `json:"redis_calls_per_job,omitempty"`
}

const (
	system      = "asynq"
	typeNoop    = "bench_noop"
	typePickup  = "bench_pickup"
	queueName   = "default"
	fillWorkers = 16
)

type config struct {
	addr, password, scenario        string
	db, producers, enqueueN, batchN int
	processN, workers, concurrency  int
	pickupN, statsSamples           int
	statsSizes                      []int
	fleetN, fleetProducers          int
	fleetConcurrency                int
	timeout                         time.Duration
}

func main() {
	c := config{}
	flag.StringVar(&c.addr, "addr", "127.0.0.1:6379", "Redis address")
	flag.StringVar(&c.password, "password", "", "Redis password")
	flag.IntVar(&c.db, "db", 1, "Redis database (FLUSHED)")
	flag.StringVar(&c.scenario, "scenario", "", "enqueue_single, enqueue_batch, process, process_progress, drain_fleet, pickup_idle or queue_stats")
	flag.IntVar(&c.producers, "producers", 8, "concurrent producers")
	flag.IntVar(&c.enqueueN, "enqueue-n", 50_000, "tasks of enqueue_single")
	flag.IntVar(&c.batchN, "batch-n", 200_000, "tasks of enqueue_batch")
	flag.IntVar(&c.processN, "process-n", 50_000, "tasks of process")
	flag.IntVar(&c.workers, "workers", 2, "servers")
	flag.IntVar(&c.concurrency, "concurrency", 32, "concurrency of each server")
	flag.IntVar(&c.pickupN, "pickup-n", 25, "samples of pickup_idle")
	sizes := flag.String("stats-sizes", "1000,100000,1000000", "stored tasks at which the inspector is timed")
	flag.IntVar(&c.statsSamples, "stats-samples", 200, "inspector calls timed per size")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "bound of any one wait")
	flag.IntVar(&c.fleetN, "fleet-n", 20_000, "tasks of drain_fleet")
	flag.IntVar(&c.fleetProducers, "fleet-producers", 16, "producers of drain_fleet, one Enqueue per task")
	flag.IntVar(&c.fleetConcurrency, "fleet-concurrency", 50, "concurrency of each server in drain_fleet")
	flag.Parse()
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			fail(fmt.Errorf("stats size %q: %w", s, err))
		}
		c.statsSizes = append(c.statsSizes, n)
	}
	b := &bench{cfg: c, rdb: redis.NewClient(&redis.Options{Addr: c.addr, Password: c.password, DB: c.db, PoolSize: 64})}
	defer b.rdb.Close()
	b.client = asynq.NewClientFromRedisClient(b.rdb)
	b.inspector = asynq.NewInspectorFromRedisClient(b.rdb)
	ctx := context.Background()
	if err := b.rdb.FlushDB(ctx).Err(); err != nil {
		fail(err)
	}
	defer b.rdb.FlushDB(ctx)
	run := map[string]func(context.Context) ([]Result, error){
		"enqueue_single": b.enqueueSingle, "enqueue_batch": b.enqueueBatch, "process": b.process,
		"process_progress": b.processProgress, "drain_fleet": b.drainFleet,
		"pickup_idle": b.pickup, "queue_stats": b.queueStats,
	}[c.scenario]
	if run == nil {
		fail(fmt.Errorf("unknown scenario %q", c.scenario))
	}
	results, err := run(ctx)
	if err != nil {
		fail(err)
	}
	for _, r := range results {
		r.System = system
		line, _ := json.Marshal(r)
		fmt.Println(string(line))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "asynqbench:", err)
	os.Exit(1)
}

type bench struct {
	cfg       config
	rdb       *redis.Client
	client    *asynq.Client
	inspector *asynq.Inspector
}

func parallel(n int, f func() error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// enqueue submits n no-op tasks, one Enqueue each, from producers goroutines.
func (b *bench) enqueue(ctx context.Context, n, producers int) error {
	var next atomic.Int64
	return parallel(producers, func() error {
		for next.Add(1) <= int64(n) {
			if _, err := b.client.EnqueueContext(ctx, asynq.NewTask(typeNoop, nil), asynq.Queue(queueName)); err != nil {
				return err
			}
		}
		return nil
	})
}

func rate(scenario string, n int, d time.Duration) Result {
	return Result{Scenario: scenario, N: n, Unit: "jobs/s", Value: float64(n) / d.Seconds(), Seconds: d.Seconds()}
}

func latencies(scenario string, samples []time.Duration, d time.Duration) Result {
	slices.Sort(samples)
	r := Result{Scenario: scenario, N: len(samples), Unit: "ms", Seconds: d.Seconds()}
	q := func(p float64) float64 {
		i := min(max(int(math.Ceil(p*float64(len(samples))))-1, 0), len(samples)-1)
		return math.Round(float64(samples[i].Microseconds())) / 1000
	}
	if len(samples) > 0 {
		r.P50Ms, r.P99Ms = q(0.5), q(0.99)
		r.Value = r.P50Ms
	}
	return r
}

func (b *bench) enqueueSingle(ctx context.Context) ([]Result, error) {
	m := b.meter(ctx)
	start := time.Now()
	err := b.enqueue(ctx, b.cfg.enqueueN, b.cfg.producers)
	r := rate("enqueue_single", b.cfg.enqueueN, time.Since(start))
	r.RedisUsPerJob, r.RedisCallsPerJob = m.perJob(ctx, b.cfg.enqueueN)
	return []Result{r}, err
}

// enqueueBatch: asynq has no batch submission; its best is one Enqueue
// per task from the same producers.
func (b *bench) enqueueBatch(ctx context.Context) ([]Result, error) {
	m := b.meter(ctx)
	start := time.Now()
	err := b.enqueue(ctx, b.cfg.batchN, b.cfg.producers)
	r := rate("enqueue_batch", b.cfg.batchN, time.Since(start))
	r.Note = "no batch API: one Enqueue per task"
	r.RedisUsPerJob, r.RedisCallsPerJob = m.perJob(ctx, b.cfg.batchN)
	return []Result{r}, err
}

// startServers starts n servers of the given concurrency on mux.
func (b *bench) startServers(mux *asynq.ServeMux, concurrency int) (stop func(), err error) {
	var srvs []*asynq.Server
	stop = func() {
		var wg sync.WaitGroup
		for _, s := range srvs {
			wg.Add(1)
			go func() { defer wg.Done(); s.Shutdown() }()
		}
		wg.Wait()
	}
	for range b.cfg.workers {
		s := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{Concurrency: concurrency,
			Queues: map[string]int{queueName: 1}, LogLevel: asynq.ErrorLevel,
			ShutdownTimeout: 5 * time.Second})
		if err := s.Start(mux); err != nil {
			stop()
			return nil, err
		}
		srvs = append(srvs, s)
	}
	return stop, nil
}

// process: processN pre-submitted no-op tasks drained by workers servers
// of concurrency each; timed from the servers' start until the queue holds
// no pending or active task. Its Redis CPU per task covers the enqueue too.
func (b *bench) process(ctx context.Context) ([]Result, error) {
	return b.processWith(ctx, "process", b.cfg.processN, fillWorkers, b.cfg.concurrency,
		func(context.Context, *asynq.Task) {})
}

// processProgress: process with tasks that write once before they return
// (ResultWriter, asynq's nearest to a progress report).
func (b *bench) processProgress(ctx context.Context) ([]Result, error) {
	return b.processWith(ctx, "process_progress", b.cfg.processN, fillWorkers, b.cfg.concurrency, writeOnce)
}

// drainFleet: fleetN tasks enqueued one by one by fleetProducers, then
// drained by workers servers of fleetConcurrency, each task writing once.
// asynq has no HTTP submission and runs its servers in this process.
func (b *bench) drainFleet(ctx context.Context) ([]Result, error) {
	rs, err := b.processWith(ctx, "drain_fleet", b.cfg.fleetN, b.cfg.fleetProducers, b.cfg.fleetConcurrency, writeOnce)
	for i := range rs {
		rs[i].Note += "; in-process servers, tasks enqueued one by one"
	}
	return rs, err
}

func writeOnce(_ context.Context, t *asynq.Task) {
	_, _ = t.ResultWriter().Write([]byte(`{"progress":50}`))
}

func (b *bench) processWith(ctx context.Context, name string, n, producers, concurrency int,
	work func(context.Context, *asynq.Task)) ([]Result, error) {
	m := b.meter(ctx)
	if err := b.enqueue(ctx, n, producers); err != nil {
		return nil, err
	}
	submitUs, submitCalls := m.perJob(ctx, n)
	m = b.meter(ctx)
	var handled atomic.Int64
	allHandled := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc(typeNoop, func(ctx context.Context, t *asynq.Task) error {
		work(ctx, t)
		if handled.Add(1) == int64(n) {
			close(allHandled)
		}
		return nil
	})
	start := time.Now()
	stop, err := b.startServers(mux, concurrency)
	if err != nil {
		return nil, err
	}
	defer stop()
	select {
	case <-allHandled:
	case <-time.After(b.cfg.timeout):
		return nil, fmt.Errorf("%s: %d of %d tasks handled", name, handled.Load(), n)
	}
	if err := b.waitDrained(start); err != nil {
		return nil, err
	}
	r := rate(name, n, time.Since(start))
	runUs, runCalls := m.perJob(ctx, n)
	r.RedisUsPerJob, r.RedisCallsPerJob = math.Round(10*(submitUs+runUs))/10, math.Round(100*(submitCalls+runCalls))/100
	r.Note = fmt.Sprintf("%d servers × concurrency %d; Redis µs/task: enqueue %.1f + run %.1f",
		b.cfg.workers, concurrency, submitUs, runUs)
	return []Result{r}, nil
}

// waitDrained waits until the queue holds no pending or active task.
func (b *bench) waitDrained(start time.Time) error {
	for {
		qi, err := b.inspector.GetQueueInfo(queueName)
		if err != nil {
			return err
		}
		if qi.Pending == 0 && qi.Active == 0 {
			return nil
		}
		if time.Since(start) > b.cfg.timeout {
			return fmt.Errorf("%d pending and %d active left", qi.Pending, qi.Active)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pickup: on idle servers, one task at a time; the latency runs from just
// before Enqueue to the start of the handler.
func (b *bench) pickup(ctx context.Context) ([]Result, error) {
	lat := make(chan time.Duration, 1)
	mux := asynq.NewServeMux()
	mux.HandleFunc(typePickup, func(_ context.Context, t *asynq.Task) error {
		now := time.Now()
		sent, _ := strconv.ParseInt(string(t.Payload()), 10, 64)
		lat <- now.Sub(time.Unix(0, sent))
		return nil
	})
	stop, err := b.startServers(mux, b.cfg.concurrency)
	if err != nil {
		return nil, err
	}
	defer stop()
	time.Sleep(50 * time.Millisecond)
	samples := make([]time.Duration, 0, b.cfg.pickupN)
	start := time.Now()
	for range b.cfg.pickupN {
		time.Sleep(time.Duration(2+rand.IntN(8)) * time.Millisecond)
		payload := strconv.FormatInt(time.Now().UnixNano(), 10)
		if _, err := b.client.EnqueueContext(ctx, asynq.NewTask(typePickup, []byte(payload)), asynq.Queue(queueName)); err != nil {
			return nil, err
		}
		select {
		case d := <-lat:
			samples = append(samples, d)
		case <-time.After(30 * time.Second):
			return nil, errors.New("pickup: a task waited 30 s")
		}
	}
	return []Result{latencies("pickup_idle", samples, time.Since(start))}, nil
}

// queueStats fills the queue to each size and times the inspector's
// GetQueueInfo (asynq's queue stats); at the largest size it also reports
// Redis memory per pending task.
func (b *bench) queueStats(ctx context.Context) ([]Result, error) {
	mem0, err := b.usedMemory(ctx)
	if err != nil {
		return nil, err
	}
	var out []Result
	filled := 0
	for _, size := range b.cfg.statsSizes {
		if err := b.enqueue(ctx, size-filled, fillWorkers); err != nil {
			return nil, err
		}
		filled = size
		samples := make([]time.Duration, 0, b.cfg.statsSamples)
		start := time.Now()
		for range b.cfg.statsSamples {
			t0 := time.Now()
			if _, err := b.inspector.GetQueueInfo(queueName); err != nil {
				return nil, err
			}
			samples = append(samples, time.Since(t0))
		}
		r := latencies("queue_stats_"+sizeLabel(size), samples, time.Since(start))
		r.Note = "Inspector.GetQueueInfo"
		out = append(out, r)
	}
	mem, err := b.usedMemory(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, Result{Scenario: "bytes_per_pending", N: filled, Unit: "B/job",
		Value: float64(mem-mem0) / float64(filled)})
	return out, nil
}

func (b *bench) usedMemory(ctx context.Context) (int64, error) {
	info, err := b.rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("INFO memory has no used_memory")
}

func sizeLabel(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
