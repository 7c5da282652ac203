package runmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/metriclabel"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/internal/testmain"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

// histogram is the one series of the histogram family name with labels.
func histogram(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue series
				}
			}
			return m.GetHistogram()
		}
	}
	t.Fatalf("no %s series %v", name, labels)
	return nil
}

// Handlers called directly: each return becomes the outcome the engine
// records, and the wait is measured from when the job became runnable.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg)
	mux := queue.NewMux()
	mux.HandleFunc("t", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		switch string(job.Payload) {
		case "ok":
			return "done", nil
		case "permanent":
			return nil, queue.Permanent(errors.New("bad input"))
		}
		return nil, errors.New("flaky")
	})
	m.Instrument(mux, "q1")
	h, _ := mux.Lookup("t")
	claimed := time.Now()
	run := func(payload string, attempts, maxRetries, restarts int, runAt time.Time) {
		job := &queue.Job{ID: "j", Type: "t", Queue: "q1", Payload: []byte(payload), Attempts: attempts,
			MaxRetries: maxRetries, Restarts: restarts, CreatedAt: claimed.Add(-time.Hour), RunAt: runAt, StartedAt: claimed}
		_, _ = h.Handle(context.Background(), queue.NewActiveJob(job, nil))
	}
	run("ok", 1, 3, 0, time.Time{})                    // waited an hour since submitted
	run("ok", 1, 3, 0, claimed.Add(-2*time.Second))    // scheduled: 2 s since due
	run("flaky", 1, 3, 0, time.Time{})                 // retries left
	run("flaky", 4, 3, 0, claimed.Add(-3*time.Second)) // the last attempt; its retry was due 3 s ago
	run("permanent", 1, 3, 1, time.Time{})             // fails at once; restarted: no wait known
	for o, want := range map[string]float64{OutcomeCompleted: 2, OutcomeRetrying: 1, OutcomeFailed: 2, OutcomeCancelled: 0, OutcomeInterrupted: 0} {
		if got := testutil.ToFloat64(m.runs.WithLabelValues("t", "q1", o)); got != want {
			t.Errorf("%s runs: %v, want %v", o, got, want)
		}
	}
	wait := histogram(t, reg, "jobqueue_job_queue_wait_seconds", map[string]string{"type": "t", "queue": "q1"})
	if n, sum := wait.GetSampleCount(), wait.GetSampleSum(); n != 4 || sum < 7205-0.1 || sum > 7205+0.1 {
		t.Errorf("queue wait: %d samples summing %v s, want 4 summing 7205 s", n, sum)
	}
	if n := histogram(t, reg, "jobqueue_job_run_duration_seconds", map[string]string{"type": "t", "queue": "q1"}).GetSampleCount(); n != 5 {
		t.Errorf("%d run durations, want 5", n)
	}
	if got := testutil.ToFloat64(m.running.WithLabelValues("t", "q1")); got != 0 {
		t.Errorf("running after all returned: %v", got)
	}
}

// Types and queues past the bound share one "_other" series.
func TestLabelsAreBounded(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := New(reg)
	mux := queue.NewMux()
	for i := range metriclabel.DefaultMax + 5 {
		mux.HandleFunc(fmt.Sprintf("t%03d", i), func(context.Context, *queue.ActiveJob) (any, error) { return nil, nil })
	}
	m.Instrument(mux)
	last := fmt.Sprintf("t%03d", metriclabel.DefaultMax+4)
	h, _ := mux.Lookup(last)
	for i := range metriclabel.DefaultMax + 5 {
		job := &queue.Job{ID: "j", Type: last, Queue: fmt.Sprintf("q%d", i), Attempts: 1, CreatedAt: time.Now()}
		_, _ = h.Handle(context.Background(), queue.NewActiveJob(job, nil))
	}
	if n := testutil.CollectAndCount(m.runs); n != metriclabel.DefaultMax+1 {
		t.Errorf("%d run series, want %d (one per kept queue, one _other)", n, metriclabel.DefaultMax+1)
	}
	if got := testutil.ToFloat64(m.runs.WithLabelValues(metriclabel.Other, metriclabel.Other, OutcomeCompleted)); got != 5 {
		t.Errorf("_other runs: %v, want 5", got)
	}
}

// On a real worker, a cancel and a timeout are told apart: the cancel is
// not a failure. The counters of the worker's queues exist before any run.
func TestOutcomesOnAWorker(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Shared(t).Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := queue.NewClient(ctx, rdb, &queue.Config{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := New(reg)
	started := make(chan string, 4)
	mux := queue.NewMux()
	mux.HandleFunc("block", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		started <- job.ID
		<-ctx.Done()
		return nil, ctx.Err()
	})
	m.Instrument(mux, "work")
	if got := testutil.ToFloat64(m.runs.WithLabelValues("block", "work", OutcomeCancelled)); got != 0 || testutil.CollectAndCount(m.runs) != len(outcomes) {
		t.Fatalf("before any run: %d series", testutil.CollectAndCount(m.runs))
	}
	w, err := queue.NewWorker(c, mux, queue.WorkerConfig{Queues: map[string]int{"work": 1},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	zero := 0
	cancelled, err := c.Enqueue(ctx, queue.EnqueueParams{Type: "block", Queue: "work"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := c.Cancel(ctx, cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, queue.EnqueueParams{Type: "block", Queue: "work", MaxRetries: &zero, Timeout: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	<-started
	counted := func() bool {
		return testutil.ToFloat64(m.runs.WithLabelValues("block", "work", OutcomeCancelled)) == 1 &&
			testutil.ToFloat64(m.runs.WithLabelValues("block", "work", OutcomeFailed)) == 1
	}
	for deadline := time.Now().Add(10 * time.Second); !counted(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runs: cancelled %v, failed %v; want 1 each",
				testutil.ToFloat64(m.runs.WithLabelValues("block", "work", OutcomeCancelled)),
				testutil.ToFloat64(m.runs.WithLabelValues("block", "work", OutcomeFailed)))
		}
	}
	if n := histogram(t, reg, "jobqueue_job_queue_wait_seconds", map[string]string{"type": "block", "queue": "work"}).GetSampleCount(); n != 2 {
		t.Errorf("%d waits measured, want 2", n)
	}
}
