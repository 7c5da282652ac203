package runmetrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	mux := queue.NewMux()
	mux.HandleFunc("t", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		switch string(job.Payload) {
		case "ok":
			return "done", nil
		case "permanent":
			return nil, queue.Permanent(errors.New("bad input"))
		case "cancelled":
			return nil, ctx.Err()
		}
		return nil, errors.New("flaky")
	})
	m.Instrument(mux)
	h, _ := mux.Lookup("t")
	run := func(ctx context.Context, payload string, attempts, maxRetries int) {
		job := &queue.Job{ID: "j", Type: "t", Payload: []byte(payload), Attempts: attempts, MaxRetries: maxRetries,
			CreatedAt: time.Now().Add(-time.Second)}
		_, _ = h.Handle(ctx, queue.NewActiveJob(job, nil))
	}
	ctx := context.Background()
	run(ctx, "ok", 1, 3)
	run(ctx, "flaky", 1, 3)     // retries left
	run(ctx, "flaky", 4, 3)     // the last attempt
	run(ctx, "permanent", 1, 3) // fails at once
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	run(cancelled, "cancelled", 1, 3)

	for outcome, want := range map[string]float64{OutcomeCompleted: 1, OutcomeRetrying: 1, OutcomeFailed: 2, OutcomeInterrupted: 1} {
		if got := testutil.ToFloat64(m.runs.WithLabelValues("t", outcome)); got != want {
			t.Errorf("%s runs: %v, want %v", outcome, got, want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("%d duration series, want one per type", n)
	}
	if got := testutil.ToFloat64(m.running.WithLabelValues("t")); got != 0 {
		t.Errorf("running after all returned: %v", got)
	}
	// Queue wait is measured on first attempts only: 4 of the 5 runs,
	// each about a second after the job was created.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "jobqueue_job_queue_wait_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 4 || h.GetSampleSum() < 4 || h.GetSampleSum() > 60 {
				t.Errorf("queue wait: %d samples, sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
}
