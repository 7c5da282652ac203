package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
)

// The scenarios of the HTTP API served in jobbench's own process: SSE
// progress, long-poll wake and GET /status.

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
	h, err := api.New(api.Config{Logger: b.quiet, JobTypes: api.TypeSet{typeNoop: nil, typeProgress: nil},
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
		// A pause after the last report too: a report the job's
		// completion follows at once is superseded by it, never written.
		for k := 1; k <= b.cfg.ProgressEvents+1; k++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(300+rand.IntN(400)) * time.Millisecond):
			}
			if k <= b.cfg.ProgressEvents {
				j.Progress(float64(k), strconv.FormatInt(time.Now().UnixNano(), 10))
			}
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
