// Package e2e runs the service as real processes — a real redis-server,
// two apiservers, two workers — and drives the Jobs API's flows across
// instances over HTTP, the way its clients do.
package e2e

import (
	"context"
	"github.com/compileo/jobqueue/internal/testmain"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

// The helpers are clustertest's; these names keep the flows short.
var (
	getJSON  = clustertest.GetJSON
	postJSON = clustertest.PostJSON
	submit   = clustertest.Submit
	stream   = clustertest.ReadStream
)

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

// TestJobsAPIFlowsAcrossInstances submits on one apiserver and streams,
// polls, cancels and restarts through the other, as the Jobs API's
// clients do.
func TestJobsAPIFlowsAcrossInstances(t *testing.T) {
	jobsAPIFlows(t, clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2}))
}

// jobsAPIFlows is TestJobsAPIFlowsAcrossInstances's body, run on a Redis
// Cluster and on Sentinel too (redis_test.go).
func jobsAPIFlows(t *testing.T, cl *clustertest.Cluster) {
	a, b := cl.APIs()[0].URL, cl.APIs()[1].URL
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
