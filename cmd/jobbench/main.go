// Command jobbench measures the job queue and, side by side in the same
// run on the same Redis, hibiken/asynq v0.26.0: enqueue throughput (one
// job per call and batched), processing throughput, idle pickup latency,
// progress → SSE latency with 1,000 streams open, long-poll wake latency,
// GET /status throughput, Redis memory per pending job and /queue/stats
// latency with 1k to 1M jobs stored; and, ours only, batched enqueue and
// processing with 6 shards on a local Redis Cluster of 1 master and of 3.
// It prints one JSON line per scenario and then a table; docs/benchmarks.md
// records a run.
//
// Run it from the repository root (asynq's side is the separate module
// bench/asynq, built and run as a child process):
//
//	go run ./cmd/jobbench            # starts its own redis-server
//	go run ./cmd/jobbench -quick     # small sizes, seconds
//	go run ./cmd/jobbench -redis-url redis://127.0.0.1:6379/0
//
// It FLUSHES the database of -redis-url and the next one (asynq's).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// config sizes every scenario; each is bounded in count, and Timeout
// bounds any wait.
type config struct {
	RedisURL string
	// Scenarios selects scenarios by name (nil: all).
	Scenarios []string
	Repeat    int
	Asynq     bool
	AsynqDir  string
	// AsynqDB is asynq's database number (default: ours + 1).
	AsynqDB int

	Producers int
	EnqueueN  int
	Batch     int
	BatchN    int
	ProcessN  int
	// PipelinesN is the pipelines of the pipelines scenario;
	// PipelinesPayload the bytes of each of its jobs' payloads (0: none).
	PipelinesN       int
	PipelinesPayload int
	// PipelinesInputs makes each job of pipelines read its parents'
	// results (ActiveJob.Inputs), as a real stage does.
	PipelinesInputs bool
	Workers         int
	Concurrency     int
	PickupN         int
	AsynqPickupN    int
	Streams         int
	ProgressEvents  int
	PollN           int
	StatusClients   int
	StatusDuration  time.Duration
	StatsSizes      []int
	StatsSamples    int
	// ClusterShards is queue.Config.Shards in the cluster scenario;
	// ClusterWideConcurrency its second processing variant's concurrency.
	ClusterShards          int
	ClusterWideConcurrency int
	// HTTPSubmitN jobs are POSTed by HTTPClients clients in http_submit
	// and drain_fleet; FleetConcurrency is each worker process's
	// concurrency in drain_fleet.
	HTTPSubmitN      int
	HTTPClients      int
	FleetConcurrency int
	Timeout          time.Duration

	Markdown   bool
	Calls      bool
	PhaseCmd   string
	CPUProfile string
}

// scenarioNames in the order they run.
var scenarioNames = []string{"enqueue_single", "enqueue_batch", "process", "process_progress", "pipelines",
	"http_worker", "http_submit", "drain_fleet", "pickup_idle", "sse_progress", "longpoll_wake", "http_status",
	"queue_stats", "cluster"}

// fleetScenarios run the service's own processes (fleet.go).
var fleetScenarios = []string{"http_worker", "http_submit", "drain_fleet"}

func parseConfig(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("jobbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis to run on (its DB and the next are FLUSHED); empty: start a redis-server on a free loopback port")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios to run (default all): "+strings.Join(scenarioNames, ","))
	fs.IntVar(&c.Repeat, "repeat", 1, "run each scenario (but queue_stats) this many times and report the median")
	fs.BoolVar(&c.Asynq, "asynq", true, "measure asynq beside us (needs the Go toolchain to build bench/asynq)")
	fs.StringVar(&c.AsynqDir, "asynq-dir", "bench/asynq", "the asynq bench module")
	fs.IntVar(&c.AsynqDB, "asynq-db", -1, "asynq's Redis database (default: ours + 1)")
	quick := fs.Bool("quick", false, "small sizes (a smoke run of a few seconds); explicit flags still win")
	fs.IntVar(&c.Producers, "producers", 8, "concurrent producers of the enqueue scenarios")
	fs.IntVar(&c.EnqueueN, "enqueue-n", 50_000, "jobs of enqueue_single")
	fs.IntVar(&c.Batch, "batch", 100, "jobs per call of enqueue_batch")
	fs.IntVar(&c.BatchN, "batch-n", 200_000, "jobs of enqueue_batch")
	fs.IntVar(&c.ProcessN, "process-n", 50_000, "pre-submitted jobs of process")
	fs.IntVar(&c.PipelinesN, "pipelines-n", 1000, "pipelines of 10 no-op jobs of pipelines (and 10 times as many plain jobs beside)")
	fs.BoolVar(&c.PipelinesInputs, "pipelines-inputs", false, "each job of pipelines reads its parents' results, as a real stage does (plain jobs have none to read)")
	fs.IntVar(&c.PipelinesPayload, "pipelines-payload", 0, "bytes of the payload of each job of pipelines, pipelines' and plain alike (0: none; a document's is a few hundred)")
	fs.IntVar(&c.Workers, "workers", 2, "workers of process and pickup_idle")
	fs.IntVar(&c.Concurrency, "concurrency", 32, "concurrency of each worker")
	fs.IntVar(&c.PickupN, "pickup-n", 200, "samples of pickup_idle")
	fs.IntVar(&c.AsynqPickupN, "asynq-pickup-n", 25, "samples of pickup_idle on asynq (each waits for its 1 s poll)")
	fs.IntVar(&c.Streams, "streams", 1000, "SSE streams open in sse_progress")
	fs.IntVar(&c.ProgressEvents, "progress-events", 4, "progress reports per job in sse_progress")
	fs.IntVar(&c.PollN, "poll-n", 200, "samples of longpoll_wake")
	fs.IntVar(&c.StatusClients, "status-clients", 16, "concurrent clients of http_status")
	fs.DurationVar(&c.StatusDuration, "status-duration", 3*time.Second, "duration of http_status")
	sizes := fs.String("stats-sizes", "1000,100000,1000000", "pending jobs at which queue_stats is timed (the largest also gives bytes_per_pending)")
	fs.IntVar(&c.StatsSamples, "stats-samples", 200, "requests timed at each stats size")
	fs.IntVar(&c.ClusterShards, "cluster-shards", 6, "queue shards (QUEUE_SHARDS) in the cluster scenario, on 1 master and on 3 alike")
	fs.IntVar(&c.ClusterWideConcurrency, "cluster-wide-concurrency", 256, "concurrency of each worker in the cluster scenario's process_wide variant (bigger claims and completions per round trip)")
	fs.IntVar(&c.HTTPSubmitN, "http-submit-n", 20_000, "jobs POSTed in http_submit and drain_fleet")
	fs.IntVar(&c.HTTPClients, "http-clients", 16, "keep-alive HTTP clients of http_submit and drain_fleet")
	fs.IntVar(&c.FleetConcurrency, "fleet-concurrency", 50, "concurrency of each worker process in drain_fleet")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Minute, "bound of any one wait")
	fs.BoolVar(&c.Markdown, "markdown", false, "also print the table as Markdown")
	fs.BoolVar(&c.Calls, "calls", false, "log each measured workload's Redis commands per job, by command")
	fs.StringVar(&c.PhaseCmd, "phase-cmd", "", "a shell command run as each measured workload starts and ends (e.g. callgrind_control --dump, to split a profile of Redis by workload)")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of this process to the file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *quick {
		quickSizes(fs)
	}
	if err := c.check(*scenarios, *sizes); err != nil {
		return nil, err
	}
	return c, nil
}

// quickSizes sets the small sizes of -quick on the flags not given.
func quickSizes(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	small := map[string]string{"enqueue-n": "2000", "batch-n": "5000", "process-n": "2000",
		"pickup-n": "20", "asynq-pickup-n": "3", "streams": "50", "progress-events": "2",
		"poll-n": "20", "status-duration": "300ms", "stats-sizes": "1000,10000", "stats-samples": "20",
		"http-submit-n": "2000", "pipelines-n": "100"}
	for name, v := range small {
		if !set[name] {
			_ = fs.Set(name, v)
		}
	}
}

// check reads the scenarios and stats sizes into c and checks every size.
func (c *config) check(scenarios, sizes string) error {
	if scenarios != "" {
		for _, s := range strings.Split(scenarios, ",") {
			if !slices.Contains(scenarioNames, s) {
				return fmt.Errorf("unknown scenario %q: want %s", s, strings.Join(scenarioNames, ","))
			}
			c.Scenarios = append(c.Scenarios, s)
		}
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("stats size %q: want a positive integer", s)
		}
		if len(c.StatsSizes) > 0 && n <= c.StatsSizes[len(c.StatsSizes)-1] {
			return fmt.Errorf("stats sizes must grow")
		}
		c.StatsSizes = append(c.StatsSizes, n)
	}
	for name, v := range map[string]int{"repeat": c.Repeat, "producers": c.Producers, "enqueue-n": c.EnqueueN,
		"batch": c.Batch, "batch-n": c.BatchN, "process-n": c.ProcessN, "workers": c.Workers,
		"concurrency": c.Concurrency, "pickup-n": c.PickupN, "asynq-pickup-n": c.AsynqPickupN,
		"streams": c.Streams, "progress-events": c.ProgressEvents, "poll-n": c.PollN,
		"status-clients": c.StatusClients, "stats-samples": c.StatsSamples,
		"cluster-shards": c.ClusterShards, "cluster-wide-concurrency": c.ClusterWideConcurrency,
		"http-submit-n": c.HTTPSubmitN, "http-clients": c.HTTPClients, "fleet-concurrency": c.FleetConcurrency} {
		if v <= 0 {
			return fmt.Errorf("-%s %d: must be positive", name, v)
		}
	}
	return nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jobbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jobbench:", err)
		os.Exit(1)
	}
}

// run measures the selected scenarios and writes one JSON line per
// scenario, then the table, to out; progress goes to logw.
func run(ctx context.Context, cfg *config, out, logw io.Writer) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(logw, "jobbench: "+format+"\n", args...)
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.Calls {
		callsLog = logw
	}
	phaseCmd = cfg.PhaseCmd
	redisURL, stopRedis, err := benchRedis(cfg, logf)
	if err != nil {
		return err
	}
	defer stopRedis()
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("-redis-url: %w", err)
	}
	opts.PoolSize = 64 // 1,000 SSE streams and a worker of concurrency 1,000 share it
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	client, err := queue.NewClient(ctx, rdb, nil)
	if err != nil {
		return err
	}
	b := &bench{cfg: cfg, rdb: rdb, client: client, quiet: slog.New(slog.DiscardHandler)}
	if cfg.Scenarios == nil || slices.ContainsFunc(cfg.Scenarios, func(s string) bool { return slices.Contains(fleetScenarios, s) }) {
		logf("building the apiserver and worker")
		if b.fleet, err = buildFleet(ctx, redisURL, logw); err != nil {
			return err
		}
		defer b.fleet.close()
	}

	var asq *asynqRunner
	if cfg.Asynq {
		db := cfg.AsynqDB
		if db < 0 {
			db = opts.DB + 1
		}
		logf("building the asynq bench in %s", cfg.AsynqDir)
		if asq, err = buildAsynq(ctx, cfg, opts, db, logw); err != nil {
			return err
		}
		defer asq.close()
	}

	var table []Comparison
	for _, name := range scenarioNames {
		if cfg.Scenarios != nil && !slices.Contains(cfg.Scenarios, name) {
			continue
		}
		oursRuns, asynqRuns, err := b.repeat(ctx, name, asq, logf)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, c := range compareRuns(oursRuns, asynqRuns) {
			writeJSON(out, c)
			table = append(table, c)
		}
	}
	fmt.Fprintln(out)
	writeTable(out, table)
	if cfg.Markdown {
		fmt.Fprintln(out)
		writeMarkdown(out, table)
	}
	return nil
}

// benchRedis is the Redis to measure on: -redis-url, or a redis-server
// of its own started here (stop stops it).
func benchRedis(cfg *config, logf func(string, ...any)) (url string, stop func(), err error) {
	if cfg.RedisURL != "" {
		return cfg.RedisURL, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "jobbench-redis-")
	if err != nil {
		return "", nil, err
	}
	srv, err := redistest.Start(dir, nil) // --save "" --appendonly no, on 127.0.0.1
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	logf("started redis-server on %s", srv.Addr)
	return srv.URL() + "/0", func() { srv.Stop(); _ = os.RemoveAll(dir) }, nil
}

// repeat runs one scenario cfg.Repeat times (queue_stats once) on our
// engine and, when it has one, on asynq's, alternating who goes first so
// that neither always meets a warmer machine.
func (b *bench) repeat(ctx context.Context, name string, asq *asynqRunner, logf func(string, ...any)) (oursRuns, asynqRuns [][]Result, err error) {
	runs := map[string]func(context.Context) ([]Result, error){
		"enqueue_single": b.enqueueSingle, "enqueue_batch": b.enqueueBatch, "process": b.process,
		"process_progress": b.processProgress, "pipelines": b.pipelines, "http_worker": b.httpWorker, "http_submit": b.httpSubmit, "drain_fleet": b.drainFleet,
		"pickup_idle": b.pickup, "sse_progress": b.sseProgress, "longpoll_wake": b.longPoll,
		"http_status": b.httpStatus, "queue_stats": b.queueStats, "cluster": b.cluster,
	}
	repeat := b.cfg.Repeat
	if name == "queue_stats" {
		repeat = 1
	}
	for i := range repeat {
		sides := []func() error{
			func() error {
				logf("%s: jobqueue (run %d/%d)", name, i+1, repeat)
				rs, err := runs[name](ctx)
				oursRuns = append(oursRuns, rs)
				return err
			},
		}
		if asq != nil && asq.has(name) {
			asynqSide := func() error {
				logf("%s: asynq (run %d/%d)", name, i+1, repeat)
				rs, err := asq.run(ctx, name)
				asynqRuns = append(asynqRuns, rs)
				return err
			}
			if i%2 == 1 {
				sides = append([]func() error{asynqSide}, sides...)
			} else {
				sides = append(sides, asynqSide)
			}
		}
		for _, side := range sides {
			if err := side(); err != nil {
				return nil, nil, err
			}
		}
	}
	return oursRuns, asynqRuns, nil
}

// compareRuns takes the median of each result over the repetitions and
// pairs ours with asynq's by scenario.
func compareRuns(oursRuns, asynqRuns [][]Result) []Comparison {
	medians := func(runs [][]Result) (names []string, by map[string]Result) {
		all := map[string][]Result{}
		for _, rs := range runs {
			for _, r := range rs {
				if _, ok := all[r.Scenario]; !ok {
					names = append(names, r.Scenario)
				}
				all[r.Scenario] = append(all[r.Scenario], r)
			}
		}
		by = map[string]Result{}
		for name, rs := range all {
			by[name] = withCostRatio(median(rs), rs)
		}
		return names, by
	}
	names, ours := medians(oursRuns)
	_, theirs := medians(asynqRuns)
	var out []Comparison
	var smallestStats float64
	for _, name := range names {
		var a *Result
		if r, ok := theirs[name]; ok {
			a = &r
		}
		t := targets[name]
		if strings.HasPrefix(name, "queue_stats_") {
			p50 := ours[name].P50Ms
			if smallestStats == 0 {
				smallestStats = p50
			}
			base := smallestStats
			t = target{text: "p50 within 2× of the smallest size's",
				check: func(c Comparison) bool { return c.Ours.P50Ms <= 2*base }}
		}
		c := compare(ours[name], a, t)
		if base, ok := ours[baselineScenario(name)]; ok && base.Value > 0 {
			c.VsOneMaster = round2(c.Ours.Value / base.Value)
		}
		out = append(out, c)
	}
	return out
}

// withCostRatio gives m, the median run of runs, the median of the runs'
// cost ratios, when they have one; its note says so when there were
// several.
func withCostRatio(m Result, runs []Result) Result {
	var ratios []float64
	for _, r := range runs {
		if r.CostRatio > 0 {
			ratios = append(ratios, r.CostRatio)
		}
	}
	if len(ratios) < 2 {
		return m
	}
	slices.Sort(ratios)
	m.CostRatio = ratios[(len(ratios)-1)/2]
	m.Note += fmt.Sprintf("; median of %d runs' ratios %.2fx (%s)", len(ratios), m.CostRatio,
		strings.Trim(fmt.Sprint(ratios), "[]"))
	return m
}

// targets are the goals per scenario, against asynq or absolute
// (docs/benchmarks.md says why these).
var targets = map[string]target{
	"enqueue_single":    ratioAtLeast(1.5),
	"enqueue_batch":     ratioAtLeast(2.5),
	"process":           ratioAndRedisCPU(2.5, 35),
	"process_progress":  ratioAtLeast(2),
	"http_submit":       rateAndP99(10_000, 10),
	"drain_fleet":       ratioAndRedisCPU(2, 40),
	"pipelines":         costRatioAtMost(1.5),
	"pickup_idle":       latencyAtMost(2, 10),
	"sse_progress":      p99AtMost(10),
	"longpoll_wake":     p99AtMost(10),
	"bytes_per_pending": bytesAtMost(400),
}
