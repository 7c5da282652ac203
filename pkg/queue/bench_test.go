package queue

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
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

// BenchmarkSubmitBatches submits b.N plain jobs in calls of 1, then of
// 8, then of 100 on a redis-server of its own, and reports what each
// size cost Redis per job: the fixed cost of a script call against the
// cost of a job in it.
func BenchmarkSubmitBatches(b *testing.B) {
	c, bu := setupOn(b, redistest.New(b, nil))
	ctx := context.Background()
	m := &redisMeter{b: b, rdb: bu}
	b.ResetTimer()
	m.start()
	for _, size := range []int{1, 8, 100} {
		params := make([]EnqueueParams, size)
		for i := range params {
			params[i] = EnqueueParams{Type: "x"}
		}
		for left := b.N; left > 0; left -= size {
			if _, err := c.EnqueueBatch(ctx, params[:min(left, size)]); err != nil {
				b.Fatal(err)
			}
		}
		m.report("submit" + strconv.Itoa(size))
	}
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

// BenchmarkTransitions moves b.N jobs through the hot transitions in
// batches of 32 — submit, claim, progress, complete — on a redis-server
// of its own, and reports what each cost Redis per job: CPU (INFO cpu,
// used_cpu_sys + used_cpu_user) and commands (INFO commandstats, the
// calls inside scripts included). Redis CPU per job is what bounds
// throughput, and what a change to a script moves:
//
//	go test -run '^$' -bench Transitions -benchtime 20000x ./pkg/queue/
func BenchmarkTransitions(b *testing.B) {
	srv := redistest.New(b, nil)
	c, bu := setupOn(b, srv)
	ctx := context.Background()
	const batch = 32
	m := &redisMeter{b: b, rdb: bu}
	b.ResetTimer()
	m.start()
	params := make([]EnqueueParams, batch)
	for i := range params {
		params[i] = EnqueueParams{Type: "x", Payload: []byte(`{"n":1}`)}
	}
	var sample []string // the first jobs, whose bytes are measured
	for left := b.N; left > 0; left -= batch {
		res, err := c.EnqueueBatch(ctx, params[:min(left, batch)])
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if len(sample) < 100 && r.Job != nil {
				sample = append(sample, r.Job.ID)
			}
		}
	}
	m.report("submit")
	m.bytes("pending", c, sample)
	w := testWorker(c)
	runs := make([]*run, 0, b.N)
	for len(runs) < b.N {
		jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"x"}, batch, time.Minute)
		if err != nil || len(jobs) == 0 {
			b.Fatalf("claim: %d jobs, %v", len(jobs), err)
		}
		for _, j := range jobs {
			runs = append(runs, &run{w: w, job: j, token: j.token, ctx: ctx, cancel: func(error) {}})
		}
	}
	m.report("claim")
	m.bytes("running", c, sample)
	for k := 0; k < len(runs); k += batch {
		var reports []progressReport
		for _, r := range runs[k:min(k+batch, len(runs))] {
			reports = append(reports, progressReport{id: r.job.ID, token: r.token, percent: 50, step: "half way"})
		}
		for _, err := range c.luaProgress(ctx, reports, time.Minute) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	m.report("progress")
	m.bytes("progressed", c, sample)
	for k := 0; k < len(runs); k += batch {
		var comps []*completion
		for _, r := range runs[k:min(k+batch, len(runs))] {
			comps = append(comps, &completion{r: r, done: make(chan error, 1)})
		}
		if _, err := c.luaComplete(ctx, completeRuns(comps)); err != nil {
			b.Fatal(err)
		}
	}
	m.report("complete")
	m.bytes("completed", c, sample)
}

// bytes reports the Redis memory a job in state what takes, on average
// over ids: its hash and its history together, and its history alone
// (MEMORY USAGE, exact).
func (m *redisMeter) bytes(what string, c *Client, ids []string) {
	ctx := context.Background()
	var total, hist int64
	for _, id := range ids {
		k := c.shards.of(id)
		for i, key := range []string{k.job(id), k.jobEvents(id)} {
			n, err := m.rdb.rdb.MemoryUsage(ctx, key, 0).Result()
			if err != nil && err != redis.Nil {
				m.b.Fatal(err)
			}
			total += n
			if i == 1 {
				hist += n
			}
		}
	}
	if len(ids) > 0 {
		m.b.ReportMetric(float64(total)/float64(len(ids)), what+"-B/job")
		m.b.ReportMetric(float64(hist)/float64(len(ids)), what+"-history-B/job")
	}
}

// redisMeter reports, per job of the benchmark, what Redis spent since
// the last report.
type redisMeter struct {
	b     *testing.B
	rdb   *bundle
	cpu   float64
	calls int64
}

func (m *redisMeter) start() {
	m.edge("start")
	m.cpu, m.calls = m.read()
}

// edge runs $BENCH_PHASE_CMD, when set, by sh with PHASE and REDIS_PID
// (the server's process) in its environment, as a measured phase ends: a
// profiler of Redis then splits its counts by phase, e.g.
//
//	REDIS_SERVER=callgrind-redis-server BENCH_PHASE_CMD='callgrind_control -d $PHASE $REDIS_PID' \
//	  go test ./pkg/queue -run XXX -bench PipelineTransitions -benchtime 2000x
func (m *redisMeter) edge(phase string) {
	cmd := os.Getenv("BENCH_PHASE_CMD")
	if cmd == "" {
		return
	}
	pid := m.rdb.rdb.InfoMap(context.Background(), "server").Item("Server", "process_id")
	c := exec.Command("sh", "-c", cmd)
	c.Env = append(os.Environ(), "PHASE="+phase, "REDIS_PID="+pid)
	c.Stdout, c.Stderr = os.Stderr, os.Stderr
	if err := c.Run(); err != nil {
		m.b.Logf("BENCH_PHASE_CMD: %v", err)
	}
}

func (m *redisMeter) report(phase string) {
	m.edge(phase)
	cpu, calls := m.read()
	m.b.ReportMetric((cpu-m.cpu)*1e6/float64(m.b.N), phase+"-redis-µs/job")
	m.b.ReportMetric(float64(calls-m.calls)/float64(m.b.N), phase+"-calls/job")
	m.cpu, m.calls = m.read()
}

// read is Redis's CPU seconds so far and the commands it ran, INFO aside.
func (m *redisMeter) read() (cpu float64, calls int64) {
	info := m.rdb.rdb.Info(context.Background(), "cpu", "commandstats").Val()
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch {
		case name == "used_cpu_sys" || name == "used_cpu_user":
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				m.b.Fatal(err)
			}
			cpu += v
		case strings.HasPrefix(name, "cmdstat_") && name != "cmdstat_info":
			v, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				m.b.Fatal(err)
			}
			calls += n
		}
	}
	return cpu, calls
}
