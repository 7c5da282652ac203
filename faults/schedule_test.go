package faults

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/pkg/queue"
)

// TestScheduleTicksAcrossProcesses: a schedule every second, fired by 3
// apiservers and 2 workers with no leader, makes one job per tick — 10 ±
// 1 in 10 s, none twice; then every process is SIGKILLed for 5 s, and
// when they come back exactly one catch-up job stands for the ticks
// missed, and the ticks go on from there.
func TestScheduleTicksAcrossProcesses(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 3, Workers: 2})
	q := cl.Queue()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The jobs go to a queue no worker takes: they stay to be counted.
	var created map[string]any
	code, _ := clustertest.PostJSON(t, cl.APIs()[1].URL+"/api/v1/schedules",
		`{"name": "tick", "every_seconds": 1, "job": {"type": "demo", "queue": "ticks"}}`, &created)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, created)
	}
	start := time.Now()
	time.Sleep(10 * time.Second) // the window the ticks are counted in
	jobs := tickJobs(t, ctx, q)
	t.Logf("%d jobs in %s with 3 apiservers and 2 workers firing", len(jobs), time.Since(start).Round(time.Millisecond))
	if len(jobs) < 9 || len(jobs) > 11 {
		t.Fatalf("%d jobs in 10 s of an every-second schedule, want 10 ± 1", len(jobs))
	}
	checkConsecutive(t, jobs)

	// Every process dies; the ticks of 5 s pass with none to fire them.
	for _, a := range cl.APIs() {
		a.Proc.Kill()
	}
	for _, w := range cl.Workers() {
		w.Kill()
	}
	before := tickJobs(t, ctx, q)
	time.Sleep(5 * time.Second)
	if now := tickJobs(t, ctx, q); len(now) != len(before) {
		t.Fatalf("jobs made while every process was down: %d then %d", len(before), len(now))
	}
	restarted := time.Now()
	var apis []*clustertest.API
	for range 3 {
		apis = append(apis, cl.StartAPI())
	}
	for range 2 {
		cl.StartWorker()
	}
	for _, a := range apis {
		clustertest.WaitReady(t, a.URL, 20*time.Second)
	}
	// The catch-up, then two ticks to come.
	var after []tickJob
	deadline := time.Now().Add(20 * time.Second)
	for len(after) < len(before)+3 {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart, %d jobs (%d before)", len(after), len(before))
		}
		time.Sleep(100 * time.Millisecond)
		after = tickJobs(t, ctx, q)
	}
	late := 0
	for _, j := range after[len(before):] {
		if j.created.Sub(j.tick) > 1500*time.Millisecond {
			late++
			if j.tick.After(restarted) {
				t.Errorf("a late job for a tick after the restart: %+v", j)
			}
		}
	}
	s, err := q.GetSchedule(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the outage: %d jobs for missed ticks; schedule fired %d, caught up %d", late, s.Fired, s.CaughtUp)
	if late != 1 || s.CaughtUp != 1 {
		t.Fatalf("%d catch-up jobs (schedule says %d), want exactly 1", late, s.CaughtUp)
	}
	if n := len(tickJobs(t, ctx, q)); n < int(s.Fired) || n > int(s.Fired)+1 { // a tick may fire in between
		t.Errorf("the schedule counts %d ticks fired, %d jobs exist", s.Fired, n)
	}
	// Past the catch-up, one tick a second again, none twice.
	checkConsecutive(t, after[len(before)+1:])
}

// tickJob is one job of the schedule: the tick its unique key names, and
// when it was made.
type tickJob struct {
	id            string
	tick, created time.Time
}

// tickJobs lists the schedule's jobs, by tick; it fails the test on a
// tick with two jobs.
func tickJobs(t *testing.T, ctx context.Context, q *queue.Client) []tickJob {
	t.Helper()
	page, err := q.List(ctx, queue.ListParams{Queue: "ticks", Limit: queue.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []tickJob
	for _, j := range page.Jobs {
		parts := strings.Split(j.UniqueKey, ":")
		ms, err := strconv.ParseInt(parts[len(parts)-1], 10, 64)
		if len(parts) != 4 || parts[0] != "schedule" || err != nil {
			t.Fatalf("job %s has unique key %q, not a tick's", j.ID, j.UniqueKey)
		}
		out = append(out, tickJob{id: j.ID, tick: time.UnixMilli(ms), created: j.CreatedAt})
	}
	slices.SortFunc(out, func(a, b tickJob) int { return a.tick.Compare(b.tick) })
	for i := 1; i < len(out); i++ {
		if out[i].tick.Equal(out[i-1].tick) {
			t.Fatalf("two jobs for the tick %s: %s and %s", out[i].tick, out[i-1].id, out[i].id)
		}
	}
	return out
}

// checkConsecutive fails the test unless jobs are of ticks one second
// apart, none missing.
func checkConsecutive(t *testing.T, jobs []tickJob) {
	t.Helper()
	for i := 1; i < len(jobs); i++ {
		if d := jobs[i].tick.Sub(jobs[i-1].tick); d != time.Second {
			t.Fatalf("ticks %s and %s are %s apart, want 1s", jobs[i-1].tick, jobs[i].tick, d)
		}
	}
}
