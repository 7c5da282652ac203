// Package runmetrics counts and times the job runs of a worker process
// for Prometheus, by wrapping the handlers of its Mux: the engine stays
// free of any metrics library. Every series is labelled by job type and
// queue, each bounded (metriclabel.DefaultMax values, then "_other").
package runmetrics

import (
	"context"
	"sync"
	"time"

	"github.com/compileo/jobqueue/internal/metriclabel"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a run, the "outcome" label of jobqueue_job_runs_total: what
// the engine records for it, as the handler's return and the reason its
// context ended (queue.RunStopped) tell.
const (
	// OutcomeCompleted: the handler returned a result.
	OutcomeCompleted = "completed"
	// OutcomeRetrying: it failed or timed out, and the job has retries
	// left: it runs again after a backoff.
	OutcomeRetrying = "retrying"
	// OutcomeFailed: it failed permanently, or on its last attempt.
	OutcomeFailed = "failed"
	// OutcomeCancelled: a cancel stopped it (the apiserver that made the
	// cancel counts it too, in jobqueue_jobs_cancelled_total).
	OutcomeCancelled = "cancelled"
	// OutcomeInterrupted: it lost its lease (another worker recovered the
	// job) or the worker shut down (the job was put back): it runs again.
	OutcomeInterrupted = "interrupted"
)

// outcomes are every outcome, in the order of the constants.
var outcomes = []string{OutcomeCompleted, OutcomeRetrying, OutcomeFailed, OutcomeCancelled, OutcomeInterrupted}

// Metrics are the run metrics of one process.
type Metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	wait     *prometheus.HistogramVec
	running  *prometheus.GaugeVec
	// types and queues bound the label values.
	types, queues *metriclabel.Bounded
}

// New registers the run metrics on reg.
func New(reg prometheus.Registerer) *Metrics {
	labels := []string{"type", "queue"}
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_job_runs_total",
			Help: "Job runs finished by this process, by job type, queue and outcome (completed, retrying, failed, cancelled, interrupted).",
		}, append(labels, "outcome")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobqueue_job_run_duration_seconds",
			Help:    "How long handlers ran, from start to return, by job type and queue.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10), // 5 ms to ~22 min
		}, labels),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobqueue_job_queue_wait_seconds",
			Help:    "How long jobs waited from becoming runnable (submitted, scheduled time, or retry due) to their run starting, by job type and queue.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 12), // 0.5 ms to ~35 min
		}, labels),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jobqueue_job_runs_active",
			Help: "Handlers running in this process now, by job type and queue.",
		}, labels),
		types:  metriclabel.NewBounded(metriclabel.DefaultMax),
		queues: metriclabel.NewBounded(metriclabel.DefaultMax),
	}
	reg.MustRegister(m.runs, m.duration, m.wait, m.running)
	return m
}

// Instrument wraps every handler registered on mux so far. The run
// counters of each type on each of queues (the queues the process takes
// from) are exported at 0 from the start, so that a rate over the first
// run after a restart is not lost.
func (m *Metrics) Instrument(mux *queue.Mux, queues ...string) {
	for _, typ := range mux.Types() {
		h, _ := mux.Lookup(typ)
		t := m.types.Value(typ)
		for _, q := range queues {
			q = m.queues.Value(q)
			for _, o := range outcomes {
				m.runs.WithLabelValues(t, q, o)
			}
		}
		mux.Handle(typ, m.wrap(t, h))
	}
}

// wrap times and counts the runs of h, whose type's label is typ.
func (m *Metrics) wrap(typ string, h queue.Handler) queue.Handler {
	var byQueue sync.Map // queue name → *series, for the names kept as labels
	return queue.HandlerFunc(func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		start := time.Now()
		s := m.seriesOf(&byQueue, typ, job.Queue)
		if ready, ok := readySince(job.Job); ok {
			began := job.StartedAt // the claim's time, on the Redis clock like ready
			if began.IsZero() {
				began = start
			}
			s.wait.Observe(max(0, began.Sub(ready).Seconds()))
		}
		s.running.Inc()
		defer s.running.Dec()
		res, err := h.Handle(ctx, job)
		s.duration.Observe(time.Since(start).Seconds())
		m.runsOf(s, typ, outcome(ctx, job, err)).Inc()
		return res, err
	})
}

// series are the metrics of one job type in one queue. Looked up once
// per type and queue, not per run: a lookup by label values hashes them
// and takes the vector's lock, four times a job.
type series struct {
	queue          string
	wait, duration prometheus.Observer
	running        prometheus.Gauge
	runs           sync.Map // outcome → prometheus.Counter, made at its first run
}

// seriesOf is the series of queue in byQueue, made at the queue's first
// run. A queue past the labels' bound shares the "_other" series and is
// looked up each time, as before the bound: its name is not kept.
func (m *Metrics) seriesOf(byQueue *sync.Map, typ, queue string) *series {
	if s, ok := byQueue.Load(queue); ok {
		return s.(*series)
	}
	q := m.queues.Value(queue)
	s := &series{queue: q, wait: m.wait.WithLabelValues(typ, q), duration: m.duration.WithLabelValues(typ, q),
		running: m.running.WithLabelValues(typ, q)}
	if q != queue {
		return s
	}
	got, _ := byQueue.LoadOrStore(queue, s)
	return got.(*series)
}

func (m *Metrics) runsOf(s *series, typ, outcome string) prometheus.Counter {
	if c, ok := s.runs.Load(outcome); ok {
		return c.(prometheus.Counter)
	}
	got, _ := s.runs.LoadOrStore(outcome, m.runs.WithLabelValues(typ, s.queue, outcome))
	return got.(prometheus.Counter)
}

// readySince is when the job last became runnable, as far as the record
// its run claimed tells: on a retry, the time the retry was due; on a
// first attempt, when it was submitted or scheduled to run. A restarted
// job's first run has no such time (its record keeps none of the
// restart's), so it is not measured. A job put back at a worker's
// shutdown, or recovered from a dead one, counts its lost run as waiting.
func readySince(j *queue.Job) (time.Time, bool) {
	switch {
	case j.Attempts > 1:
		return j.RunAt, !j.RunAt.IsZero()
	case j.Restarts > 0:
		return time.Time{}, false
	}
	t := j.CreatedAt
	if j.RunAt.After(t) {
		t = j.RunAt
	}
	return t, !t.IsZero()
}

// outcome classifies a finished run as the engine will record it.
func outcome(ctx context.Context, job *queue.ActiveJob, err error) string {
	switch reason := queue.RunStopped(ctx); {
	case reason == queue.StopCancelled:
		return OutcomeCancelled // whatever it returned, the job stays cancelled
	case reason == queue.StopLeaseLost:
		return OutcomeInterrupted // its result is discarded
	case err == nil:
		return OutcomeCompleted
	case reason == queue.StopShutdown:
		return OutcomeInterrupted
	case !queue.IsPermanent(err) && job.Attempts <= job.MaxRetries:
		return OutcomeRetrying // a timeout too: the engine fails the run
	}
	return OutcomeFailed
}
