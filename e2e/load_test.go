package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
)

// envInt reads a test size from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestLoadStreamsAndPolls holds LOAD_STREAMS (1,000) SSE streams and as
// many long polls open on ONE apiserver process while jobs flow and
// status reads hammer it, then checks: no request failed, every stream
// saw its job's terminal event in order, every poll woke on its job's
// change, the apiserver's Redis connections stayed O(1) (one pub/sub
// connection for all the waiters, plus its small pool), and its file
// descriptors and goroutines came back to their baseline afterwards.
func TestLoadStreamsAndPolls(t *testing.T) {
	n := envInt(t, "LOAD_STREAMS", 1000)
	cl := clustertest.Start(t, clustertest.Options{APIs: 1,
		// Every waiter comes from this one address: the caps must let
		// them all in (they are the test's load, not an abuse).
		APIEnv: []string{"LOG_LEVEL=warn", "API_SSE_HEARTBEAT=2s",
			"API_MAX_STREAMS=" + strconv.Itoa(2*n+64), "API_MAX_STREAMS_PER_CALLER=" + strconv.Itoa(2*n+64)},
		WorkerEnv: []string{"WORKER_CONCURRENCY=100", "LOG_LEVEL=warn"}})
	api := cl.APIs()[0]
	base := api.URL
	rdb := cl.Redis.Client()
	defer rdb.Close()
	ctx := t.Context()

	// One client for all the connections: no pooling limit, long reads.
	tr := &http.Transport{MaxIdleConnsPerHost: 4 * n, MaxConnsPerHost: 0, IdleConnTimeout: 30 * time.Second}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	// Baselines, with the apiserver idle.
	redisClients := func() int { // the apiserver's connections, by their name
		list, err := rdb.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(list, " name=jobqueue-apiserver ")
	}
	metric := func(name string) float64 {
		resp, err := hc.Get(base + "/metrics")
		if err != nil {
			t.Fatalf("/metrics: %v", err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		t.Fatalf("/metrics has no %s", name)
		return 0
	}
	fds := func() int {
		n, err := clustertest.OpenFDs(api.Proc.PID())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	baseFDs, baseGoroutines := fds(), metric("go_goroutines")
	baseRedis := redisClients()

	// N jobs, nobody to run them yet.
	var jobs []string
	for len(jobs) < n {
		var body strings.Builder
		body.WriteString(`{"jobs": [`)
		for i := 0; i < min(500, n-len(jobs)); i++ {
			if i > 0 {
				body.WriteString(",")
			}
			body.WriteString(`{"type": "demo", "payload": {"steps": 3, "step_ms": 100}}`)
		}
		body.WriteString("]}")
		var out struct {
			Jobs []struct {
				JobID string `json:"job_id"`
			} `json:"jobs"`
			Failed int `json:"failed"`
		}
		if code, _ := postJSON(t, base+"/api/v1/jobs/batch", body.String(), &out); code != 201 || out.Failed != 0 {
			t.Fatalf("batch submit: %d %+v", code, out)
		}
		for _, j := range out.Jobs {
			jobs = append(jobs, j.JobID)
		}
	}

	var failures atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	streamsDone, pollsDone := make(chan time.Duration, n), make(chan string, n)
	for _, id := range jobs {
		wg.Go(func() { // one stream per job, to its terminal event
			evs, err := readStream(ctx, hc, base+"/api/v1/jobs/status/"+id+"/stream")
			if err != nil {
				fail("stream %s: %v", id, err)
				return
			}
			last := int64(-1)
			for _, ev := range evs {
				if ev.id <= last {
					fail("stream %s: event ids out of order: %d after %d", id, ev.id, last)
				}
				last = ev.id
			}
			if len(evs) == 0 || evs[len(evs)-1].status != "completed" {
				fail("stream %s ended without its terminal event: %+v", id, evs)
			}
			streamsDone <- time.Since(start)
		})
		wg.Go(func() { // one long poll per job, waiting for it to leave pending
			resp, err := hc.Get(base + "/api/v1/jobs/status/" + id + "/poll?timeout=120&current_status=pending")
			if err != nil {
				fail("poll %s: %v", id, err)
				return
			}
			defer resp.Body.Close()
			var st status
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
				fail("poll %s: %d %v", id, resp.StatusCode, err)
				return
			}
			pollsDone <- st.Status
		})
	}
	proctest.WaitFor(t, 60*time.Second, "every stream and poll open", func() bool {
		return metric("jobqueue_sse_streams_open") == float64(n) && metric("jobqueue_long_polls_open") == float64(n)
	})
	opened := time.Since(start)
	peakRedis, peakFDs, peakGoroutines := redisClients(), fds(), metric("go_goroutines")

	// Status reads while the jobs run.
	readCtx, stopReads := context.WithCancel(ctx)
	var reads atomic.Int64
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Go(func() {
			for i := r; readCtx.Err() == nil; i++ {
				resp, err := hc.Get(base + "/api/v1/jobs/status/" + jobs[i%len(jobs)])
				if err != nil || resp.StatusCode != 200 {
					if readCtx.Err() == nil {
						fail("status read: %v %v", resp, err)
					}
					if resp != nil {
						resp.Body.Close()
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				reads.Add(1)
			}
		})
	}
	cl.StartWorker()
	cl.StartWorker()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("streams and polls still open after 3 min: %v streams, %v polls",
			metric("jobqueue_sse_streams_open"), metric("jobqueue_long_polls_open"))
	}
	elapsed := time.Since(start)
	stopReads()
	readers.Wait()
	close(streamsDone)
	close(pollsDone)
	woke := map[string]int{}
	for s := range pollsDone {
		woke[s]++
	}
	if len(streamsDone) != n || woke["pending"] != 0 {
		t.Errorf("%d of %d streams completed; polls woke to %v", len(streamsDone), n, woke)
	}

	// Everything returns to its baseline once the clients are gone.
	tr.CloseIdleConnections()
	var endFDs int
	var endGoroutines float64
	back := time.Now().Add(20 * time.Second)
	for {
		tr.CloseIdleConnections()
		endFDs, endGoroutines = fds(), metric("go_goroutines")
		tr.CloseIdleConnections()
		// Its Redis pool may keep the connections it opened under load.
		if endFDs <= baseFDs+(redisClients()-baseRedis)+4 && endGoroutines <= baseGoroutines+10 {
			break
		}
		if time.Now().After(back) {
			t.Fatalf("not back to baseline after 20 s: fds %d -> %d -> %d, goroutines %.0f -> %.0f -> %.0f",
				baseFDs, peakFDs, endFDs, baseGoroutines, peakGoroutines, endGoroutines)
		}
		time.Sleep(100 * time.Millisecond)
	}
	summary := fmt.Sprintf("load: %d streams + %d long polls on one apiserver; all open in %s; all done in %s; "+
		"%d status reads meanwhile; failures %d; apiserver redis connections %d -> %d -> %d; "+
		"apiserver fds %d -> %d -> %d; goroutines %.0f -> %.0f -> %.0f",
		n, n, opened.Round(time.Millisecond), elapsed.Round(time.Millisecond), reads.Load(), failures.Load(),
		baseRedis, peakRedis, redisClients(), baseFDs, peakFDs, endFDs, baseGoroutines, peakGoroutines, endGoroutines)
	t.Log(summary)
	// The apiserver's Redis connections do not grow with its waiters.
	// Its connections are bounded by its pool (go-redis: 10 per CPU) plus
	// the one pub/sub connection of its Hub, whatever the waiters; and on
	// a busy machine, by a few more for a moment: a connection cut by a
	// deadline is gone from the pool at once, but Redis lists it until it
	// reads the close, while its replacement is already open.
	if limit := 10*runtime.GOMAXPROCS(0) + 1 + 3; peakRedis > limit {
		t.Errorf("the apiserver held %d redis connections with %d waiters open, over its pool's %d", peakRedis, 2*n, limit)
	}
}

type loadEvent struct {
	id     int64
	status string
}

// readStream reads an SSE stream to its end.
func readStream(ctx context.Context, hc *http.Client, url string) ([]loadEvent, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var evs []loadEvent
	var cur loadEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "data: "):
			var d struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal([]byte(line[6:]), &d); err != nil {
				return evs, fmt.Errorf("event data %q: %v", line, err)
			}
			cur.status = d.Status
		case line == "" && cur.status != "":
			evs = append(evs, cur)
			cur = loadEvent{}
		}
	}
	return evs, sc.Err()
}
