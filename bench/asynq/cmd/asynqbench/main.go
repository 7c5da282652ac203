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
	timeout                         time.Duration
}

func main() {
	c := config{}
	flag.StringVar(&c.addr, "addr", "127.0.0.1:6379", "Redis address")
	flag.StringVar(&c.password, "password", "", "Redis password")
	flag.IntVar(&c.db, "db", 1, "Redis database (FLUSHED)")
	flag.StringVar(&c.scenario, "scenario", "", "enqueue_single, enqueue_batch, process, pickup_idle or queue_stats")
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
	start := time.Now()
	err := b.enqueue(ctx, b.cfg.enqueueN, b.cfg.producers)
	return []Result{rate("enqueue_single", b.cfg.enqueueN, time.Since(start))}, err
}

// enqueueBatch: asynq has no batch submission; its best is one Enqueue
// per task from the same producers.
func (b *bench) enqueueBatch(ctx context.Context) ([]Result, error) {
	start := time.Now()
	err := b.enqueue(ctx, b.cfg.batchN, b.cfg.producers)
	r := rate("enqueue_batch", b.cfg.batchN, time.Since(start))
	r.Note = "no batch API: one Enqueue per task"
	return []Result{r}, err
}

// startServers starts n servers of the given concurrency on mux.
func (b *bench) startServers(mux *asynq.ServeMux) (stop func(), err error) {
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
		s := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{Concurrency: b.cfg.concurrency,
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
// no pending or active task.
func (b *bench) process(ctx context.Context) ([]Result, error) {
	n := b.cfg.processN
	if err := b.enqueue(ctx, n, fillWorkers); err != nil {
		return nil, err
	}
	var handled atomic.Int64
	allHandled := make(chan struct{})
	mux := asynq.NewServeMux()
	mux.HandleFunc(typeNoop, func(context.Context, *asynq.Task) error {
		if handled.Add(1) == int64(n) {
			close(allHandled)
		}
		return nil
	})
	start := time.Now()
	stop, err := b.startServers(mux)
	if err != nil {
		return nil, err
	}
	defer stop()
	select {
	case <-allHandled:
	case <-time.After(b.cfg.timeout):
		return nil, fmt.Errorf("process: %d of %d tasks handled", handled.Load(), n)
	}
	for {
		qi, err := b.inspector.GetQueueInfo(queueName)
		if err != nil {
			return nil, err
		}
		if qi.Pending == 0 && qi.Active == 0 {
			break
		}
		if time.Since(start) > b.cfg.timeout {
			return nil, fmt.Errorf("process: %d pending and %d active left", qi.Pending, qi.Active)
		}
		time.Sleep(time.Millisecond)
	}
	r := rate("process", n, time.Since(start))
	r.Note = fmt.Sprintf("%d servers × concurrency %d", b.cfg.workers, b.cfg.concurrency)
	return []Result{r}, nil
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
	stop, err := b.startServers(mux)
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
