package faults

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// Bounds of TestRedisUnreachable: generous, since the machine is shared
// and noisy; the figures it logs are the measurement.
const (
	unreachableAnswerBound = 3 * time.Second  // a request meets a down Redis with 503
	unreachableEndBound    = 5 * time.Second  // an open stream or long poll ends
	unreachableDownFor     = 3 * time.Second  // longer than the lease: runs are fenced off
	unreachableLease       = time.Second      // workers' lease
	unreachableRecoverIn   = 30 * time.Second // jobs submitted after recovery complete
)

// TestRedisUnreachable takes Redis away from a running cluster twice: frozen
// (SIGSTOP: connections hang, as in a partition), then shut down
// (connections refused). Each time, requests get a quick 503 with
// Retry-After and a JSON error; an open stream ends with a retry hint and a
// pending long poll ends, instead of hanging; the workers back off, and
// when Redis returns every process resumes by itself and new jobs
// complete. Redis connections and file descriptors return to their level
// from before the outages.
func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 2,
		RedisArgs: []string{"--appendfsync", "always"},
		WorkerEnv: []string{"WORKER_LEASE_TTL=" + unreachableLease.String()}})
	api := cl.APIs()[0]
	q := cl.Queue()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	pids := map[string]int{api.Proc.Name: api.Proc.PID()}
	for _, w := range cl.Workers() {
		pids[w.Name] = w.PID()
	}
	// Let the processes open their connections, then take the baseline.
	clustertest.Submit(t, api.URL, `{"type":"demo","payload":{"steps":1,"step_ms":1}}`)
	time.Sleep(500 * time.Millisecond)
	connsBefore, fdsBefore := redisClients(t, cl.Redis.Addr), fdCounts(t, pids)

	var summary []string
	conns := []int{connsBefore}
	for _, o := range []struct {
		name       string
		stop, back func() error
	}{
		{"frozen", cl.Redis.Freeze, cl.Redis.Thaw},
		{"shutdown", func() error { cl.Redis.Shutdown(); return nil }, cl.Redis.Restart},
	} {
		summary = append(summary, redisOutage(t, ctx, cl, q, o.name, o.stop, o.back))
		time.Sleep(time.Second) // let the last requests' connections settle
		conns = append(conns, redisClients(t, cl.Redis.Addr))
	}
	for _, w := range cl.Workers() {
		if !strings.Contains(w.Output(), "backing off") && !strings.Contains(w.Output(), "heartbeat failed") {
			t.Errorf("%s logged no backoff while Redis was away:\n%s", w.Name, w.Output())
		}
	}

	// No leak: connections and descriptors stay at their level. (Pools may
	// keep a connection or two more after a burst; a leak grows with every
	// outage.)
	connsAfter, fdsAfter := conns[len(conns)-1], fdCounts(t, pids)
	t.Logf("Redis clients: %d before the outages, then after each %v; fds before %v, after %v", connsBefore, conns[1:], fdsBefore, fdsAfter)
	if connsAfter > connsBefore+4 || connsAfter > conns[1]+2 {
		t.Errorf("Redis connections grew from %d to %v across the outages", connsBefore, conns[1:])
	}
	for name, n := range fdsAfter {
		if n > fdsBefore[name]+4 {
			t.Errorf("%s: %d fds after the outages, %d before", name, n, fdsBefore[name])
		}
	}
	t.Logf("SUMMARY redis-unreachable %s redis_clients=%d→%d", strings.Join(summary, " "), connsBefore, connsAfter)
}

// redisOutage runs one outage: a running job is streamed and long-polled,
// stop takes Redis away, requests must fail fast and the stream and poll
// end; after unreachableDownFor, back brings Redis back and new jobs (and
// the interrupted one) must complete. It returns the outage's figures.
func redisOutage(t *testing.T, ctx context.Context, cl *clustertest.Cluster, q *queue.Client,
	name string, stop, back func() error) string {
	api := cl.APIs()[0]
	id := clustertest.Submit(t, api.URL, `{"type":"demo","payload":{"steps":10,"step_ms":300}}`)
	proctest.WaitFor(t, 10*time.Second, "the job running", func() bool {
		j, err := q.Get(ctx, id)
		return err == nil && j.Status == queue.StateRunning
	})
	stream, err := clustertest.OpenStream(ctx, api.URL+"/api/v1/jobs/status/"+id+"/stream", "")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if _, err := stream.Next(); err != nil {
		t.Fatalf("first event: %v", err)
	}
	type answer struct {
		code int
		body string
		err  error
		at   time.Time
	}
	polled := make(chan answer, 1)
	go func() {
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		code, hdr, err := clustertest.Do(ctx, http.MethodGet,
			api.URL+"/api/v1/jobs/status/"+id+"/poll?timeout=60&current_status=running", "", &body)
		polled <- answer{code: code, body: fmt.Sprintf("code %s, Retry-After %s", body.Error.Code, hdr.Get("Retry-After")),
			err: err, at: time.Now()}
	}()
	streamEnd := make(chan answer, 1)
	go func() {
		var retry string
		for {
			ev, err := stream.Next()
			if ev.Retry != "" {
				retry = ev.Retry
			}
			if err != nil {
				streamEnd <- answer{body: retry, err: err, at: time.Now()}
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond) // the poll is waiting

	down := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var slowest time.Duration
	ends := map[string]time.Duration{}
	for _, rq := range []struct{ method, path, body string }{
		{"GET", "/api/v1/jobs/status/" + id, ""},
		{"GET", "/api/v1/jobs/" + id, ""},
		{"POST", "/api/v1/jobs", `{"type":"demo"}`},
		{"POST", "/api/v1/jobs/cancel/" + id, ""},
		{"GET", "/api/v1/jobs/queue/stats", ""},
		{"GET", "/api/v1/jobs?status=running", ""},
		{"GET", "/readyz", ""},
	} {
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		t0 := time.Now()
		code, hdr, err := clustertest.Do(ctx, rq.method, api.URL+rq.path, rq.body, &body)
		took := time.Since(t0)
		slowest = max(slowest, took)
		t.Logf("Redis %s: %s %s → %d %q in %s", name, rq.method, rq.path, code, body.Error.Code, took.Round(time.Millisecond))
		if err != nil || code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" ||
			body.Error.Code != "unavailable" || took > unreachableAnswerBound {
			t.Errorf("%s %s with Redis %s: %d Retry-After %q body %+v err %v in %s; want a 503 JSON error with Retry-After within %s",
				rq.method, rq.path, name, code, hdr.Get("Retry-After"), body, err, took, unreachableAnswerBound)
		}
	}
	for _, w := range []struct {
		what string
		ch   chan answer
	}{{"long poll", polled}, {"stream", streamEnd}} {
		select {
		case a := <-w.ch:
			ends[w.what] = a.at.Sub(down)
			if ends[w.what] > unreachableEndBound {
				t.Errorf("Redis %s: the %s ended only %s after Redis went away; want within %s", name, w.what, ends[w.what], unreachableEndBound)
			}
			t.Logf("Redis %s: the %s ended %s after: status %d, %q, end %v", name, w.what,
				a.at.Sub(down).Round(time.Millisecond), a.code, a.body, a.err)
			switch {
			case w.what == "stream" && (a.body == "" || a.err != io.EOF):
				t.Errorf("stream ended with retry hint %q and %v; want a retry hint and a clean end", a.body, a.err)
			case w.what == "long poll" && (a.err != nil || a.code != http.StatusServiceUnavailable ||
				a.body != "code unavailable, Retry-After 1"):
				t.Errorf("long poll ended with %d %s %v; want 503", a.code, a.body, a.err)
			}
		case <-time.After(max(unreachableEndBound-time.Since(down), 0) + time.Second):
			t.Errorf("Redis %s: the %s still open %s after Redis went away", name, w.what, unreachableEndBound)
		}
	}
	time.Sleep(time.Until(down.Add(unreachableDownFor)))
	for _, w := range cl.Workers() {
		if w.Exited() {
			t.Fatalf("%s exited while Redis was away:\n%s", w.Name, w.Output())
		}
	}

	// Redis returns; everything resumes by itself.
	if err := back(); err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	clustertest.WaitReady(t, api.URL, 10*time.Second)
	readyIn := time.Since(returned)
	var ids []string
	for range 20 {
		ids = append(ids, clustertest.Submit(t, api.URL, `{"type":"demo","payload":{"steps":2,"step_ms":20}}`))
	}
	ids = append(ids, id) // the job that ran during the outage is recovered too
	for deadline := time.Now().Add(unreachableRecoverIn); ; time.Sleep(20 * time.Millisecond) {
		jobs, err := q.GetMany(ctx, ids)
		if err == nil && allCompleted(jobs) {
			break
		}
		if time.Now().After(deadline) {
			for _, j := range jobs {
				if j != nil && j.Status != queue.StateCompleted {
					t.Logf("job %s: %s attempts %d worker %s error %q", j.ID, j.Status, j.Attempts, j.WorkerID, j.Error)
				}
			}
			t.Fatalf("Redis %s: not every job completed %s after Redis returned (%v)", name, unreachableRecoverIn, err)
		}
	}
	recoveredIn := time.Since(returned)
	proctest.WaitFor(t, 10*time.Second, "both workers registered again", func() bool {
		ws, err := q.Workers(ctx)
		return err == nil && len(ws) == 2
	})
	if err := q.CheckInvariants(ctx); err != nil {
		t.Error(err)
	}
	return fmt.Sprintf("%s:max_503=%s,stream_end=%s,poll_end=%s,ready_again=%s,jobs_after=%d,completed_in=%s",
		name, slowest.Round(time.Millisecond), ends["stream"].Round(time.Millisecond),
		ends["long poll"].Round(time.Millisecond), readyIn.Round(time.Millisecond), len(ids),
		recoveredIn.Round(time.Millisecond))
}

// redisClients counts the connections Redis has open, this probe's own
// excluded.
func redisClients(t testing.TB, addr string) int {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
	defer rdb.Close()
	list, err := rdb.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	return strings.Count(strings.TrimSpace(list), "\n") // lines minus this one
}

func fdCounts(t testing.TB, pids map[string]int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for name, pid := range pids {
		n, err := clustertest.OpenFDs(pid)
		if err != nil {
			t.Fatalf("fds of %s: %v", name, err)
		}
		out[name] = n
	}
	return out
}

func allCompleted(jobs []*queue.Job) bool {
	for _, j := range jobs {
		if j == nil || j.Status != queue.StateCompleted {
			return false
		}
	}
	return true
}
