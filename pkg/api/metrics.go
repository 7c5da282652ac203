package api

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/compileo/jobqueue/internal/metriclabel"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prometheus metrics of the API, served at GET /metrics (open, like the
// health endpoints). Two kinds:
//   - this instance's own: HTTP requests, open streams and polls, jobs
//     submitted and cancelled through it;
//   - the queue's, read from Redis at each scrape (O(queues + workers +
//     schedules), no scan of jobs), the same from every instance: jobs by
//     state, by queue and by running type, the age of each queue's next
//     job, live workers, each schedule's ticks fired and caught up.
//     Aggregate them with max(), not sum(), across instances.

type metrics struct {
	requests  *prometheus.HistogramVec
	streams   prometheus.Gauge
	polls     prometheus.Gauge
	submitted *prometheus.CounterVec
	cancelled *prometheus.CounterVec
	handler   http.Handler

	// types and queues bound the label values of the job counters: a
	// client names them, and names used once and forgotten must not leave
	// a series each for the process's lifetime. The queue bound is the
	// registry's, so every queue the registry may hold keeps its own.
	types, queues *metriclabel.Bounded
}

// maxQueueLabels bounds the queue label values of the job counters.
const maxQueueLabels = queue.DefaultMaxQueues

// unknownLabel labels a cancelled job whose type and queue could not be
// read back (deleted at once by someone else, or Redis gone meanwhile).
const unknownLabel = "_unknown"

// jobLabels are the type and queue label values of a job's counters.
func (m *metrics) jobLabels(typ, q string) (string, string) {
	return m.types.Value(typ), m.queues.Value(cmp.Or(q, queue.DefaultQueue))
}

func newMetrics(reg *prometheus.Registry, q Queue, events Events, timeout time.Duration) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jobqueue_http_request_duration_seconds",
			Help: "HTTP requests answered, by route, method and status code (streams and long polls last as long as they stay open).",
			// 0.5 ms to ~8 min: status reads and 300 s long polls alike.
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 11),
		}, []string{"route", "method", "code"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobqueue_sse_streams_open", Help: "SSE streams open on this instance.",
		}),
		polls: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jobqueue_long_polls_open", Help: "Long polls waiting on this instance.",
		}),
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_jobs_submitted_total", Help: "Jobs created through this instance, by type and queue (the first 100 types and 1000 queues; later ones count as _other).",
		}, []string{"type", "queue"}),
		cancelled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_jobs_cancelled_total", Help: "Jobs cancelled through this instance, by type and queue (bounded as jobqueue_jobs_submitted_total); the worker whose run a cancel stopped counts it in jobqueue_job_runs_total{outcome=\"cancelled\"}.",
		}, []string{"type", "queue"}),
		types:  metriclabel.NewBounded(metriclabel.DefaultMax),
		queues: metriclabel.NewBounded(maxQueueLabels),
	}
	collectors := []prometheus.Collector{m.requests, m.streams, m.polls, m.submitted, m.cancelled,
		&queueCollector{q: q, timeout: timeout}}
	if d, ok := events.(interface{ Dropped() int64 }); ok {
		collectors = append(collectors, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "jobqueue_events_dropped_total",
			Help: "Job events this instance dropped for streams and long polls too slow to take them (each got the newest state).",
		}, func() float64 { return float64(d.Dropped()) }))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m, nil
}

// observe times every request by its route (never the raw path: job ids
// would make a series per job).
func (m *metrics) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, methodLabel(c.Request.Method), strconv.Itoa(c.Writer.Status())).
		Observe(time.Since(start).Seconds())
}

// knownMethods are the methods the method label names; any other is
// "OTHER". A client chooses the method: labelled as sent, each made-up
// one ("ZZTOP1") would add series without bound.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

// methodLabel is the method label of a request's method.
func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "OTHER"
}

func (m *metrics) serve(c *gin.Context) { m.handler.ServeHTTP(c.Writer, c.Request) }

// countSubmitted counts a job created through this instance.
func (s *server) countSubmitted(p queue.EnqueueParams) {
	s.metrics.submitted.WithLabelValues(s.metrics.jobLabels(p.Type, p.Queue)).Inc()
}

// cancelCounted cancels job id and counts the cancel by the job's type
// and queue, read back once it is cancelled (the cancel does not return
// them; cancels are rare enough for the extra read).
func (s *server) cancelCounted(ctx context.Context, id string) error {
	if err := s.q.Cancel(ctx, id); err != nil {
		return err
	}
	typ, q := unknownLabel, unknownLabel
	if j, err := s.q.Get(ctx, id); err == nil {
		typ, q = s.metrics.jobLabels(j.Type, j.Queue)
	}
	s.metrics.cancelled.WithLabelValues(typ, q).Inc()
	return nil
}

// queueCollector reads the queue's state from Redis at scrape time.
type queueCollector struct {
	q       Queue
	timeout time.Duration
}

var (
	descUp = prometheus.NewDesc("jobqueue_redis_up",
		"1 when this scrape could read the queue's state from Redis, else 0.", nil, nil)
	descJobs = prometheus.NewDesc("jobqueue_jobs",
		"Jobs in each state (the engine's counters).", []string{"state"}, nil)
	descQueueJobs = prometheus.NewDesc("jobqueue_queue_jobs",
		"Jobs waiting in each queue, by state (pending, scheduled, retrying).", []string{"queue", "state"}, nil)
	descOldest = prometheus.NewDesc("jobqueue_queue_oldest_pending_age_seconds",
		"How long the job next in line in each queue has waited since it became runnable (0: none pending).", []string{"queue"}, nil)
	descPaused = prometheus.NewDesc("jobqueue_queue_paused",
		"1 while a queue is paused (no worker takes its jobs), else 0.", []string{"queue"}, nil)
	descDeadlineExceeded = prometheus.NewDesc("jobqueue_jobs_deadline_exceeded_total",
		"Jobs failed because their deadline passed before they started, fleet-wide.", nil, nil)
	descTimedOut = prometheus.NewDesc("jobqueue_runs_timed_out_total",
		"Runs whose lease ended at their job's timeout and that the reaper failed (lease-protocol runs; Go workers count theirs in jobqueue_job_runs_total), fleet-wide.", nil, nil)
	descRateStarts = prometheus.NewDesc("jobqueue_type_rate_limit_starts",
		"Jobs of a rate-limited type started in its last period, fleet-wide (the limit is jobqueue_type_rate_limit).", []string{"type"}, nil)
	descRateLimit = prometheus.NewDesc("jobqueue_type_rate_limit",
		"A job type's rate limit: starts allowed per period (the period in jobqueue_type_rate_limit_period_seconds).", []string{"type"}, nil)
	descRatePeriod = prometheus.NewDesc("jobqueue_type_rate_limit_period_seconds",
		"A job type's rate limit's period.", []string{"type"}, nil)
	descRateWaiting = prometheus.NewDesc("jobqueue_type_rate_limit_waiting",
		"1 while a type's pending jobs wait on its rate limit (its period's starts used up), else 0.", []string{"type"}, nil)
	descRunningByType = prometheus.NewDesc("jobqueue_running_jobs_by_type",
		"Running jobs, by type, across the fleet.", []string{"type"}, nil)
	descWorkers = prometheus.NewDesc("jobqueue_workers_live",
		"Workers whose heartbeat is current.", nil, nil)
	descConcurrency = prometheus.NewDesc("jobqueue_workers_concurrency",
		"Jobs the live workers may run at once, in all.", nil, nil)
	descScheduleFired = prometheus.NewDesc("jobqueue_schedule_ticks_fired_total",
		"Ticks of each schedule that created their job, by whichever process fired them (one series per schedule: at most API_MAX_SCHEDULES).", []string{"schedule"}, nil)
	descScheduleCaughtUp = prometheus.NewDesc("jobqueue_schedule_ticks_caught_up_total",
		"Of those, the ticks fired late, after later ticks had passed too: each stands for all the ticks missed while no process ran.", []string{"schedule"}, nil)
)

func (qc *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descJobs, descQueueJobs, descOldest, descPaused, descDeadlineExceeded, descTimedOut,
		descRateStarts, descRateLimit, descRatePeriod, descRateWaiting, descRunningByType, descWorkers,
		descConcurrency, descScheduleFired, descScheduleCaughtUp} {
		ch <- d
	}
}

func (qc *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), qc.timeout)
	defer cancel()
	st, err := qc.q.Stats(ctx)
	var ws []queue.WorkerInfo
	if err == nil {
		ws, err = qc.q.Workers(ctx)
	}
	var ticks []queue.ScheduleTicks
	if err == nil {
		ticks, err = qc.q.ScheduleTickCounts(ctx)
	}
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descUp, 1)
	for _, s := range queue.States() {
		gauge(descJobs, float64(st.Counts[s]), string(s))
	}
	for _, q := range st.Queues {
		gauge(descQueueJobs, float64(q.Pending), q.Name, string(queue.StatePending))
		gauge(descQueueJobs, float64(q.Scheduled), q.Name, string(queue.StateScheduled))
		gauge(descQueueJobs, float64(q.Retrying), q.Name, string(queue.StateRetrying))
		gauge(descOldest, q.OldestPendingAge, q.Name)
		gauge(descPaused, boolGauge(q.Paused), q.Name)
	}
	ch <- prometheus.MustNewConstMetric(descDeadlineExceeded, prometheus.CounterValue, float64(st.DeadlineExceeded))
	ch <- prometheus.MustNewConstMetric(descTimedOut, prometheus.CounterValue, float64(st.TimedOut))
	for _, r := range st.RateLimits {
		gauge(descRateLimit, float64(r.Rate), r.Type)
		gauge(descRatePeriod, r.Per.Seconds(), r.Type)
		gauge(descRateStarts, float64(r.Started), r.Type)
		gauge(descRateWaiting, boolGauge(r.Waiting), r.Type)
	}
	for typ, n := range st.RunningByType {
		gauge(descRunningByType, float64(n), typ)
	}
	concurrency := 0
	for _, w := range ws {
		concurrency += w.Concurrency
	}
	gauge(descWorkers, float64(len(ws)))
	gauge(descConcurrency, float64(concurrency))
	for _, t := range ticks {
		ch <- prometheus.MustNewConstMetric(descScheduleFired, prometheus.CounterValue, float64(t.Fired), t.Name)
		ch <- prometheus.MustNewConstMetric(descScheduleCaughtUp, prometheus.CounterValue, float64(t.CaughtUp), t.Name)
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
