// Package e2e runs the service as real processes — a real redis-server,
// two apiservers, two workers — and drives the seed's flows across
// instances over HTTP, the way its clients do.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.Cleanup()
	os.Exit(code)
}

// cluster is the service's topology on loopback.
type cluster struct {
	redis   *redistest.Server
	api     []string // base URLs
	workers []*proctest.Proc
	apis    []*proctest.Proc
}

func startCluster(t *testing.T, apis, workers int) *cluster {
	t.Helper()
	cl := &cluster{redis: redistest.New(t, &redistest.Options{AOF: true})}
	workerBin := proctest.Build(t, "github.com/compileo/jobqueue/cmd/worker")
	apiBin := proctest.Build(t, "github.com/compileo/jobqueue/cmd/apiserver")
	for i := 0; i < workers; i++ {
		cl.workers = append(cl.workers, proctest.Start(t, fmt.Sprintf("worker%d", i+1), workerBin,
			[]string{"REDIS_URL=" + cl.redis.URL(), fmt.Sprintf("WORKER_ID=worker%d", i+1),
				"WORKER_LEASE_TTL=2s", "WORKER_CONCURRENCY=4"}))
	}
	for i := 0; i < apis; i++ {
		port, err := redistest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		cl.apis = append(cl.apis, proctest.Start(t, fmt.Sprintf("apiserver%d", i+1), apiBin,
			[]string{"REDIS_URL=" + cl.redis.URL(), "HTTP_ADDR=127.0.0.1:" + strconv.Itoa(port)}))
		cl.api = append(cl.api, base)
	}
	for _, base := range cl.api {
		proctest.WaitFor(t, 20*time.Second, base+"/readyz", func() bool {
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
	}
	proctest.WaitFor(t, 20*time.Second, "both workers registered", func() bool {
		var st map[string]any
		return getJSON(t, cl.api[0]+"/api/v1/jobs/queue/stats", &st) == 200 && st["active_workers"] == float64(workers)
	})
	return cl
}

func getJSON(t *testing.T, url string, into any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("GET %s: %d %s: %v", url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func postJSON(t *testing.T, url, body string, into any) (int, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			t.Fatalf("POST %s: %d %s: %v", url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, resp.Header
}

func submit(t *testing.T, base, body string) string {
	t.Helper()
	var out struct {
		JobID  string `json:"job_id"`
		Status string `json:"status"`
	}
	code, hdr := postJSON(t, base+"/api/v1/jobs", body, &out)
	if code != 201 || out.JobID == "" || hdr.Get("Location") != "/api/v1/jobs/"+out.JobID {
		t.Fatalf("submit: %d %+v location %q", code, out, hdr.Get("Location"))
	}
	return out.JobID
}

type status struct {
	JobID       string  `json:"job_id"`
	Status      string  `json:"status"`
	Progress    float64 `json:"progress"`
	CurrentStep string  `json:"current_step"`
}

func getStatus(t *testing.T, base, id string) status {
	var s status
	if code := getJSON(t, base+"/api/v1/jobs/status/"+id, &s); code != 200 {
		t.Fatalf("status %s: %d", id, code)
	}
	return s
}

type sseEvent struct {
	ID   string
	Data map[string]any
}

// stream reads a job's SSE stream to its end.
func stream(t *testing.T, ctx context.Context, url, lastEventID string) []sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	var evs []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.ID = line[4:]
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(line[6:]), &cur.Data); err != nil {
				t.Fatalf("event data is not JSON: %q", line)
			}
		case line == "" && cur.Data != nil:
			evs = append(evs, cur)
			cur = sseEvent{}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("stream %s: %v", url, err) // e.g. an event the OpenAPI document refuses
	}
	return evs
}

// TestSeedFlowsAcrossInstances submits on one apiserver and streams,
// polls, cancels and restarts through the other, as the seed's clients do.
func TestSeedFlowsAcrossInstances(t *testing.T) {
	cl := startCluster(t, 2, 2)
	a, b := cl.api[0], cl.api[1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Submit on A, stream on B until completion.
	id := submit(t, a, `{"type": "demo", "payload": {"steps": 5, "step_ms": 100}}`)
	evs := stream(t, ctx, b+"/api/v1/jobs/status/"+id+"/stream", "")
	if len(evs) < 2 {
		t.Fatalf("events %+v", evs)
	}
	last := evs[len(evs)-1]
	if last.Data["status"] != "completed" || last.Data["progress"] != 100.0 {
		t.Fatalf("last event %+v", last)
	}
	prevID := -1
	for _, ev := range evs {
		keys := make([]string, 0, len(ev.Data))
		for k := range ev.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if strings.Join(keys, ",") != "current_step,job_id,progress,status,timestamp" {
			t.Fatalf("event fields %v", keys)
		}
		n, err := strconv.Atoi(ev.ID)
		if err != nil || n <= prevID {
			t.Fatalf("event ids not increasing: %q after %d", ev.ID, prevID)
		}
		prevID = n
	}
	// Reconnecting with the last id gives nothing new: no duplicates.
	if again := stream(t, ctx, b+"/api/v1/jobs/status/"+id+"/stream", last.ID); len(again) != 0 {
		t.Fatalf("resumed stream repeated %d events", len(again))
	}

	// A long job: poll on B wakes when it starts running; cancel through
	// B stops it on whichever worker runs it.
	long := submit(t, a, `{"type": "demo", "payload": {"steps": 200, "step_ms": 50}}`)
	var polled status
	t0 := time.Now()
	getJSON(t, b+"/api/v1/jobs/status/"+long+"/poll?timeout=30&current_status=pending", &polled)
	if polled.Status != "running" || time.Since(t0) > 10*time.Second {
		t.Fatalf("poll: %+v after %s", polled, time.Since(t0))
	}
	var msg map[string]string
	if code, _ := postJSON(t, b+"/api/v1/jobs/cancel/"+long, "", &msg); code != 200 ||
		msg["message"] != "Job "+long+" cancelled successfully" {
		t.Fatalf("cancel: %d %v", code, msg)
	}
	time.Sleep(300 * time.Millisecond)
	if s := getStatus(t, a, long); s.Status != "cancelled" {
		t.Fatalf("after cancel: %+v", s)
	}
	// Restart through A; it runs again (on either worker) and completes.
	if code, _ := postJSON(t, a+"/api/v1/jobs/restart/"+long, "", &msg); code != 200 ||
		msg["message"] != "Job "+long+" restarted successfully" {
		t.Fatalf("restart: %d %v", code, msg)
	}
	if code, _ := postJSON(t, a+"/api/v1/jobs/restart/"+long, "", nil); code != 409 {
		t.Fatalf("restart of a pending/running job: %d, want 409", code)
	}
	if code, _ := postJSON(t, b+"/api/v1/jobs/cancel/"+id, "", nil); code != 409 {
		t.Fatalf("cancel of a completed job: %d, want 409", code)
	}
	if code, _ := postJSON(t, b+"/api/v1/jobs/cancel/123e4567-e89b-12d3-a456-426614174000", "", nil); code != 404 {
		t.Fatalf("cancel of an unknown job: %d, want 404", code)
	}

	var st map[string]any
	getJSON(t, b+"/api/v1/jobs/queue/stats", &st)
	total := 0.0
	for _, k := range []string{"pending_jobs", "running_jobs", "scheduled_jobs", "completed_jobs",
		"failed_jobs", "cancelled_jobs", "retrying_jobs"} {
		total += st[k].(float64)
	}
	if st["active_workers"] != 2.0 || st["queue_type"] != "redis" || st["total_jobs"] != total || total != 2 {
		t.Fatalf("stats %v", st)
	}
}
