package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/compileo/jobqueue/pkg/api"
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
				batch = append(batch, queue.EnqueueParams{Type: typ})
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
	var next atomic.Int64
	start := time.Now()
	err := parallel(b.cfg.Producers, func(int) error {
		for next.Add(1) <= int64(n) {
			if _, err := b.client.Enqueue(ctx, queue.EnqueueParams{Type: typeNoop}); err != nil {
				return err
			}
		}
		return nil
	})
	return []Result{rate("enqueue_single", ours, unitJobsPerS, n, time.Since(start))}, err
}

// enqueueBatch: Producers goroutines submit BatchN jobs in batches of Batch.
func (b *bench) enqueueBatch(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	err := b.fill(ctx, typeNoop, b.cfg.BatchN, b.cfg.Batch)
	r := rate("enqueue_batch", ours, unitJobsPerS, b.cfg.BatchN, time.Since(start))
	r.Note = fmt.Sprintf("EnqueueBatch of %d", b.cfg.Batch)
	return []Result{r}, err
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
// job completed.
func (b *bench) process(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	n := b.cfg.ProcessN
	if err := b.fill(ctx, typeNoop, n, 500); err != nil {
		return nil, err
	}
	r, err := b.drain(ctx, n, b.cfg.Workers, b.cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	r.Scenario = "process"
	return []Result{r}, nil
}

// drain starts workers × concurrency on n pending no-op jobs and returns
// the rate, timed from the workers' start until Redis counts every job
// completed.
func (b *bench) drain(ctx context.Context, n, workers, concurrency int) (Result, error) {
	var handled atomic.Int64
	allHandled := make(chan struct{})
	mux := queue.NewMux()
	mux.HandleFunc(typeNoop, func(context.Context, *queue.ActiveJob) (any, error) {
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
	for { // the handlers ran; wait for the last acknowledgements
		st, err := b.client.Stats(ctx)
		if err != nil {
			return Result{}, err
		}
		if st.Counts[queue.StateCompleted] >= int64(n) {
			break
		}
		if time.Since(start) > b.cfg.Timeout {
			return Result{}, fmt.Errorf("%d of %d completed", st.Counts[queue.StateCompleted], n)
		}
		time.Sleep(time.Millisecond)
	}
	r := rate("", ours, unitJobsPerS, n, time.Since(start))
	r.Note = fmt.Sprintf("%d workers × concurrency %d", workers, concurrency)
	return r, nil
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

// apiServer is the HTTP API served in process on a loopback port, with
// its Hub, as cmd/apiserver serves it.
type apiServer struct {
	hub  *queue.Hub
	srv  *http.Server
	base string
	http *http.Client
}

func (b *bench) startAPI(ctx context.Context, conns int) (*apiServer, error) {
	hub := b.client.NewHub()
	if err := hub.Start(ctx); err != nil {
		return nil, err
	}
	// Every stream of a scenario comes from this one client address: the
	// per-caller cap must let all of them in.
	h, err := api.New(api.Config{Logger: b.quiet, Types: []string{typeNoop, typeProgress},
		MaxStreams: conns + 16, MaxStreamsPerCaller: conns + 16}, b.client, hub)
	if err != nil {
		hub.Stop()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hub.Stop()
		return nil, err
	}
	s := &apiServer{hub: hub, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		base: "http://" + ln.Addr().String(),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns + 16,
			DisableCompression: true}}}
	s.srv.RegisterOnShutdown(hub.Stop)
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *apiServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.hub.Stop()
	s.http.CloseIdleConnections()
}

// get fetches path and discards the body; any status but 200 is an error.
func (s *apiServer) get(ctx context.Context, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return nil
}

// sseProgress: Streams SSE clients on one API instance, one per running
// job; each job reports progress every 300-700 ms, ProgressEvents times,
// carrying the time of the report in its step; the latency runs from the
// handler's Progress call to the event's arrival at the client.
func (b *bench) sseProgress(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	n := b.cfg.Streams
	srv, err := b.startAPI(ctx, n)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	ids := make([]string, 0, n)
	for len(ids) < n {
		batch := make([]queue.EnqueueParams, min(500, n-len(ids)))
		for i := range batch {
			batch[i] = queue.EnqueueParams{Type: typeProgress}
		}
		res, err := b.client.EnqueueBatch(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			if r.Err != nil {
				return nil, r.Err
			}
			ids = append(ids, r.Job.ID)
		}
	}

	sctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	var ready, done sync.WaitGroup
	perStream := make([][]time.Duration, n)
	errs := make([]error, n)
	for i, id := range ids {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			perStream[i], errs[i] = readStream(sctx, srv, id, ready.Done)
		}()
	}
	ready.Wait() // every stream is open and has its first event

	mux := queue.NewMux()
	mux.HandleFunc(typeProgress, func(ctx context.Context, j *queue.ActiveJob) (any, error) {
		for k := 1; k <= b.cfg.ProgressEvents; k++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(300+rand.IntN(400)) * time.Millisecond):
			}
			j.Progress(float64(k), strconv.FormatInt(time.Now().UnixNano(), 10))
		}
		return nil, nil
	})
	start := time.Now()
	stop, err := b.startWorkers(ctx, mux, 1, n)
	if err != nil {
		return nil, err
	}
	done.Wait()
	stop()
	var samples []time.Duration
	for i := range perStream {
		if errs[i] != nil {
			return nil, errs[i]
		}
		samples = append(samples, perStream[i]...)
	}
	r := latencies("sse_progress", ours, samples, time.Since(start))
	r.Note = fmt.Sprintf("%d streams open, one running job each", n)
	return []Result{r}, nil
}

// readStream follows one job's SSE stream until the job is finished and
// returns the latencies of its progress events. opened is called once the
// first event (the job's state when the stream opened) arrived.
func readStream(ctx context.Context, srv *apiServer, id string, opened func()) ([]time.Duration, error) {
	once := sync.OnceFunc(opened)
	defer once()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/api/v1/jobs/status/"+id+"/stream", nil)
	resp, err := srv.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("stream %s: %s", id, resp.Status)
	}
	var out []time.Duration
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		now := time.Now()
		once()
		var ev struct {
			Status      queue.State `json:"status"`
			CurrentStep string      `json:"current_step"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			return nil, fmt.Errorf("stream %s: %w", id, err)
		}
		if ev.Status.Terminal() {
			return out, nil
		}
		if sent, err := strconv.ParseInt(ev.CurrentStep, 10, 64); err == nil && ev.Status == queue.StateRunning {
			out = append(out, now.Sub(time.Unix(0, sent)))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("stream %s: %w", id, err)
	}
	return nil, fmt.Errorf("stream %s ended before the job finished", id)
}

// longPoll: one long poll at a time waits on a pending job; the latency
// runs from just before the Cancel that changes the job to the poll's
// whole answer at the client.
func (b *bench) longPoll(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	srv, err := b.startAPI(ctx, 4)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	samples := make([]time.Duration, 0, b.cfg.PollN)
	start := time.Now()
	for range b.cfg.PollN {
		job, err := b.client.Enqueue(ctx, queue.EnqueueParams{Type: typeNoop})
		if err != nil {
			return nil, err
		}
		subs := srv.hub.Count()
		answered := make(chan error, 1)
		var at time.Time
		go func() {
			err := srv.get(ctx, "/api/v1/jobs/status/"+job.ID+"/poll?current_status=pending&timeout=10")
			at = time.Now()
			answered <- err
		}()
		for srv.hub.Count() == subs { // the poll subscribed ...
			time.Sleep(50 * time.Microsecond)
		}
		time.Sleep(time.Millisecond) // ... and waits
		t0 := time.Now()
		if err := b.client.Cancel(ctx, job.ID); err != nil {
			return nil, err
		}
		if err := <-answered; err != nil {
			return nil, err
		}
		samples = append(samples, at.Sub(t0))
	}
	return []Result{latencies("longpoll_wake", ours, samples, time.Since(start))}, nil
}

// httpStatus: StatusClients clients GET /status of random jobs among
// 1,000 for StatusDuration, over keep-alive connections.
func (b *bench) httpStatus(ctx context.Context) ([]Result, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	srv, err := b.startAPI(ctx, b.cfg.StatusClients)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	batch := make([]queue.EnqueueParams, 1000)
	for i := range batch {
		batch[i] = queue.EnqueueParams{Type: typeNoop}
	}
	res, err := b.client.EnqueueBatch(ctx, batch)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(res))
	for i, r := range res {
		if r.Err != nil {
			return nil, r.Err
		}
		ids[i] = r.Job.ID
	}
	var count atomic.Int64
	start := time.Now()
	deadline := start.Add(b.cfg.StatusDuration)
	err = parallel(b.cfg.StatusClients, func(int) error {
		for time.Now().Before(deadline) {
			if err := srv.get(ctx, "/api/v1/jobs/status/"+ids[rand.IntN(len(ids))]); err != nil {
				return err
			}
			count.Add(1)
		}
		return nil
	})
	r := rate("http_status", ours, unitReqPerS, int(count.Load()), time.Since(start))
	r.Note = fmt.Sprintf("%d clients", b.cfg.StatusClients)
	return []Result{r}, err
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
