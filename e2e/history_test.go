package e2e

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
)

type historyAnswer struct {
	StepSeconds int `json:"step_seconds"`
	Points      []struct {
		At        time.Time `json:"at"`
		Submitted int       `json:"submitted"`
		Started   int       `json:"started"`
		Completed int       `json:"completed"`
		Pending   int       `json:"pending"`
		RunMS     struct {
			P50, P95, P99 float64
		} `json:"run_ms"`
	} `json:"points"`
}

// TestHistoryAcrossInstances runs jobs of known durations through two
// apiservers and two workers (real processes) and reads the history back
// from both apiservers: every job counted once, in the minute it ended,
// run percentiles within one histogram bucket (19%) of the runs' own
// (from their records' started_at and completed_at), and
// the depths sampled by one worker a minute, never both.
func TestHistoryAcrossInstances(t *testing.T) {
	// The apiservers run no maintenance here, so that the workers, which
	// start once the parked jobs wait, take every sample.
	cl := clustertest.Start(t, clustertest.Options{APIs: 2, APIEnv: []string{"API_MAINTENANCE=false"},
		WorkerEnv: []string{"LOG_LEVEL=debug"}})
	a, b := cl.APIs()[0].URL, cl.APIs()[1].URL
	// Jobs no worker serves (the workers take the default queue): the
	// depth the workers sample as soon as they start.
	for i := range 6 {
		submit(t, []string{a, b}[i%2], `{"type": "demo", "queue": "parked"}`)
	}
	start := time.Now()
	cl.StartWorker()
	cl.StartWorker()
	q := cl.Queue()
	proctest.WaitFor(t, 20*time.Second, "both workers registered", func() bool {
		ws, err := q.Workers(context.Background())
		return err == nil && len(ws) == 2
	})

	// 20 jobs of 400 ms and 20 of 1200 ms, submitted through both.
	const n = 40
	ids := make([]string, n)
	for i := range ids {
		ms := []int{400, 1200}[i%2]
		ids[i] = submit(t, []string{a, b}[i%2], fmt.Sprintf(`{"type": "demo", "payload": {"steps": 1, "step_ms": %d}}`, ms))
	}
	ends := map[time.Time]int{} // minute → jobs completed in it
	var runs []float64          // each run's ms, as its record has it (the Redis clock)
	for _, id := range ids {
		var j struct {
			Status      string    `json:"status"`
			StartedAt   time.Time `json:"started_at"`
			CompletedAt time.Time `json:"completed_at"`
		}
		proctest.WaitFor(t, 60*time.Second, "job "+id+" completed", func() bool {
			getJSON(t, a+"/api/v1/jobs/"+id, &j)
			return j.Status == "completed"
		})
		ends[j.CompletedAt.Truncate(time.Minute)]++
		runs = append(runs, float64(j.CompletedAt.Sub(j.StartedAt).Milliseconds()))
	}
	slices.Sort(runs)
	rank := func(q float64) float64 { return runs[int(math.Ceil(q*float64(len(runs))))-1] }
	if runs[0] < 400 || runs[n/2] < 1200 {
		t.Fatalf("runs of %v ms: shorter than their handlers", runs)
	}

	for _, base := range []string{a, b} {
		var h historyAnswer
		if code := getJSON(t, base+"/api/v1/jobs/queue/history?minutes=10&queue=default&type=demo", &h); code != 200 {
			t.Fatalf("history: %d", code)
		}
		var submitted, started, completed int
		for _, p := range h.Points {
			submitted += p.Submitted
			started += p.Started
			completed += p.Completed
			if p.Completed != ends[p.At] {
				t.Errorf("%s: minute %v has %d completed, want %d", base, p.At, p.Completed, ends[p.At])
			}
		}
		if submitted != n || started != n || completed != n {
			t.Fatalf("%s: %d submitted, %d started, %d completed: want %d each", base, submitted, started, completed, n)
		}
		if len(ends) == 1 { // one minute holds every run: its percentiles are theirs
			for _, p := range h.Points {
				if p.Completed == n {
					within(t, "p50", p.RunMS.P50, rank(0.50))
					within(t, "p95", p.RunMS.P95, rank(0.95))
					within(t, "p99", p.RunMS.P99, rank(0.99))
				}
			}
		}
	}

	// The parked queue's depth, sampled by exactly one worker a minute.
	var h historyAnswer
	getJSON(t, b+"/api/v1/jobs/queue/history?minutes=10&queue=parked", &h)
	samplers, err := q.HistorySamplers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sampled := 0
	for _, p := range h.Points {
		if who, ok := samplers[p.At]; ok && !p.At.Before(start.Truncate(time.Minute)) {
			sampled++
			if p.Pending != 6 {
				t.Errorf("minute %v sampled by %s: %d pending in parked, want 6", p.At, who, p.Pending)
			}
		}
	}
	logged := 0
	for _, w := range cl.Workers() {
		logged += strings.Count(w.Output(), "sampled the queue depths")
	}
	if sampled == 0 || logged != len(samplers) {
		t.Fatalf("%d minutes sampled since the start (%v), %d samples logged by the workers: want one a minute", sampled, samplers, logged)
	}
}

// within fails unless got is within one histogram bucket (a factor of
// 2^(1/4)) of want, both in ms.
func within(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(math.Log2(got/want))*4 > 1 {
		t.Errorf("run %s = %v ms, want within 19%% of %v ms", what, got, want)
	}
}
