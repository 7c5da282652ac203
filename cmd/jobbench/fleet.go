package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

// fleet runs the service as an operator does: cmd/apiserver and
// cmd/worker processes, built once from this checkout, on the bench's
// Redis. The HTTP scenarios (http_submit, drain_fleet) measure the path
// real jobs take, with nothing in jobbench's own process.
type fleet struct {
	dir      string
	api      string // apiserver binary
	worker   string // worker binary
	redisURL string
	logw     io.Writer
}

// fleetJob is what the fleet scenarios submit: a demo job of one step that
// reports its progress once, the shape of every real job of the product.
const fleetJob = `{"type":"demo","payload":{"steps":1,"step_ms":0}}`

func buildFleet(ctx context.Context, redisURL string, logw io.Writer) (*fleet, error) {
	dir, err := os.MkdirTemp("", "jobbench-fleet-")
	if err != nil {
		return nil, err
	}
	// Every process of the fleet copies its output into logw from a
	// goroutine of its own: one at a time.
	logw = &lockedWriter{w: logw}
	f := &fleet{dir: dir, api: filepath.Join(dir, "apiserver"), worker: filepath.Join(dir, "worker"),
		redisURL: redisURL, logw: logw}
	build := exec.CommandContext(ctx, "go", "build", "-o", dir+"/",
		"github.com/compileo/jobqueue/cmd/apiserver", "github.com/compileo/jobqueue/cmd/worker")
	build.Stdout, build.Stderr = logw, logw
	if err := build.Run(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("build the apiserver and worker (run jobbench inside the module): %w", err)
	}
	return f, nil
}

func (f *fleet) close() { _ = os.RemoveAll(f.dir) }

// lockedWriter serialises the writes of several goroutines to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// proc is one process of the fleet; stop ends it with SIGTERM (SIGKILL
// after 10 s).
type proc struct{ cmd *exec.Cmd }

func (f *fleet) start(bin string, env ...string) (*proc, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"REDIS_URL=" + f.redisURL, "LOG_LEVEL=warn"}, env...)...)
	cmd.Stdout, cmd.Stderr = f.logw, f.logw
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &proc{cmd: cmd}, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// startAPI starts an apiserver on a free loopback port and waits until it
// is ready; it returns the base URL.
func (f *fleet) startAPI(ctx context.Context) (*proc, string, error) {
	port, err := redistest.FreePort()
	if err != nil {
		return nil, "", err
	}
	// An open API on loopback, and no quota: the benchmark's clients are
	// one address submitting far more than a caller's default share.
	p, err := f.start(f.api, "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port), "API_ALLOW_NO_KEYS=1", "API_JOB_QUOTA=0")
	if err != nil {
		return nil, "", err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, base, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, "", fmt.Errorf("apiserver on %s not ready", base)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startWorkers starts n worker processes of the given concurrency.
func (f *fleet) startWorkers(n, concurrency int) (stop func(), err error) {
	var ps []*proc
	stop = func() {
		_ = parallel(len(ps), func(i int) error { ps[i].stop(); return nil })
	}
	for i := range n {
		p, err := f.start(f.worker, "WORKER_ID=bench-"+strconv.Itoa(i), "WORKER_CONCURRENCY="+strconv.Itoa(concurrency))
		if err != nil {
			stop()
			return nil, err
		}
		ps = append(ps, p)
	}
	return stop, nil
}

// postJobs has clients keep-alive clients POST n fleetJob submissions to
// base and returns each request's latency. Each client is one connection
// that writes a prepared request and reads the answer, as wrk does:
// net/http's client spends several times the CPU per request (a pool, two
// goroutines per connection and their hand-offs), and on two shared cores
// that CPU is the apiserver's, so it would measure the client instead.
func postJobs(ctx context.Context, base string, n, clients int) ([]time.Duration, error) {
	host := strings.TrimPrefix(base, "http://")
	req := []byte("POST /api/v1/jobs HTTP/1.1\r\nHost: " + host +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(fleetJob)) +
		"\r\n\r\n" + fleetJob)
	lat := make([]time.Duration, n)
	var next atomic.Int64
	err := parallel(clients, func(int) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return err
		}
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		defer stop()
		br := bufio.NewReader(conn)
		for {
			i := next.Add(1) - 1
			if i >= int64(n) {
				return nil
			}
			t0 := time.Now()
			if _, err := conn.Write(req); err != nil {
				return err
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(t0)
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("POST /api/v1/jobs: %s", resp.Status)
			}
		}
	})
	return lat, err
}

// httpSubmit: HTTPClients keep-alive clients POST HTTPSubmitN jobs to one
// apiserver process; jobs/s, with the requests' p50 and p99.
func (b *bench) httpSubmit(ctx context.Context) ([]Result, error) {
	var r Result
	err := b.withAPI(ctx, func(base string) error {
		n := b.cfg.HTTPSubmitN
		m, err := startMeter(ctx, b.rdb)
		if err != nil {
			return err
		}
		start := time.Now()
		lat, err := postJobs(ctx, base, n, b.cfg.HTTPClients)
		d := time.Since(start)
		r = latencies("http_submit", ours, lat, d)
		r.Value, r.Unit = float64(n)/d.Seconds(), unitJobsPerS
		r.Note = fmt.Sprintf("%d keep-alive clients, one apiserver process", b.cfg.HTTPClients)
		return measured(ctx, m, n, &r, err)
	})
	return []Result{r}, err
}

// drainFleet: the real path. HTTPSubmitN demo jobs of one step are POSTed
// to an apiserver process by HTTPClients clients, then drained by Workers
// cmd/worker processes of FleetConcurrency each; the rate is the drain's
// (from the workers' start until Redis counts every job completed), the
// Redis CPU per job covers submission and drain.
func (b *bench) drainFleet(ctx context.Context) ([]Result, error) {
	var r Result
	err := b.withAPI(ctx, func(base string) error {
		n := b.cfg.HTTPSubmitN
		var err error
		r, err = b.submitThenRun(ctx, n,
			func() error { _, err := postJobs(ctx, base, n, b.cfg.HTTPClients); return err },
			func() (Result, error) {
				start := time.Now()
				stop, err := b.fleet.startWorkers(b.cfg.Workers, b.cfg.FleetConcurrency)
				if err != nil {
					return Result{}, err
				}
				defer stop()
				if err := b.waitCompleted(ctx, n, start); err != nil {
					return Result{}, err
				}
				r := rate("drain_fleet", ours, unitJobsPerS, n, time.Since(start))
				r.Note = fmt.Sprintf("%d worker processes × concurrency %d, one progress report per job",
					b.cfg.Workers, b.cfg.FleetConcurrency)
				return r, nil
			})
		return err
	})
	return []Result{r}, err
}

// withAPI empties the database, starts an apiserver process and runs f
// with its base URL; the apiserver stops when f returns.
func (b *bench) withAPI(ctx context.Context, f func(base string) error) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	api, base, err := b.fleet.startAPI(ctx)
	if err != nil {
		return err
	}
	defer api.stop()
	return f(base)
}
