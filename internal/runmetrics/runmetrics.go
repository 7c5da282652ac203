// Package runmetrics counts and times the job runs of a worker process
// for Prometheus, by wrapping the handlers of its Mux: the engine stays
// free of any metrics library.
package runmetrics

import (
	"context"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a run, the "outcome" label of jobqueue_job_runs_total.
const (
	// OutcomeCompleted: the handler returned a result.
	OutcomeCompleted = "completed"
	// OutcomeRetrying: it failed and the job has retries left.
	OutcomeRetrying = "retrying"
	// OutcomeFailed: it failed permanently or on its last attempt.
	OutcomeFailed = "failed"
	// OutcomeInterrupted: its context ended first — a cancel, a timeout,
	// a lost lease or the worker's shutdown.
	OutcomeInterrupted = "interrupted"
)

// Metrics are the run metrics of one process.
type Metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	wait     *prometheus.HistogramVec
	running  *prometheus.GaugeVec
}

// New registers the run metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_job_runs_total",
			Help: "Job runs finished by this process, by job type and outcome (completed, retrying, failed, interrupted).",
		}, []string{"type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobqueue_job_run_duration_seconds",
			Help:    "How long handlers ran, by job type.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10), // 5 ms to ~22 min
		}, []string{"type"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobqueue_job_queue_wait_seconds",
			Help:    "How long jobs waited from becoming runnable (submitted, or their run_at) to their handler starting, by job type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12), // 0.5 ms to ~35 min
		}, []string{"type"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jobqueue_job_runs_active",
			Help: "Handlers running in this process now, by job type.",
		}, []string{"type"}),
	}
	reg.MustRegister(m.runs, m.duration, m.wait, m.running)
	return m
}

// Instrument wraps every handler registered on mux so far.
func (m *Metrics) Instrument(mux *queue.Mux) {
	for _, typ := range mux.Types() {
		h, _ := mux.Lookup(typ)
		mux.Handle(typ, m.wrap(typ, h))
	}
}

func (m *Metrics) wrap(typ string, h queue.Handler) queue.Handler {
	runs := map[string]prometheus.Counter{}
	for _, o := range []string{OutcomeCompleted, OutcomeRetrying, OutcomeFailed, OutcomeInterrupted} {
		runs[o] = m.runs.WithLabelValues(typ, o) // present at 0 from the start
	}
	duration, wait, running := m.duration.WithLabelValues(typ), m.wait.WithLabelValues(typ), m.running.WithLabelValues(typ)
	return queue.HandlerFunc(func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		start := time.Now()
		runnable := job.CreatedAt
		if job.RunAt.After(runnable) {
			runnable = job.RunAt
		}
		if !runnable.IsZero() && job.Attempts <= 1 {
			wait.Observe(max(0, start.Sub(runnable).Seconds()))
		}
		running.Inc()
		defer running.Dec()
		res, err := h.Handle(ctx, job)
		duration.Observe(time.Since(start).Seconds())
		runs[outcome(ctx, job, err)].Inc()
		return res, err
	})
}

// outcome classifies a finished run as the engine will record it.
func outcome(ctx context.Context, job *queue.ActiveJob, err error) string {
	switch {
	case err == nil:
		return OutcomeCompleted
	case ctx.Err() != nil:
		return OutcomeInterrupted
	case !queue.IsPermanent(err) && job.Attempts <= job.MaxRetries:
		return OutcomeRetrying
	}
	return OutcomeFailed
}
