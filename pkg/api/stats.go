package api

import (
	"math"
	"net/http"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// The values of queueHealth's fields.
const (
	healthHealthy   = "healthy"
	healthDegraded  = "degraded"
	healthUnhealthy = "unhealthy"

	utilOptimal  = "optimal"
	utilHigh     = "high"
	utilCritical = "critical"

	enforcementActive   = "active"
	enforcementInactive = "inactive"
)

// statsView is GET /api/v1/jobs/queue/stats: every field of Compileo's
// Jobs API, and a few more (queues, running_by_type, workers_concurrency).
type statsView struct {
	PendingJobs   int64 `json:"pending_jobs"`
	RunningJobs   int64 `json:"running_jobs"`
	ScheduledJobs int64 `json:"scheduled_jobs"`
	CompletedJobs int64 `json:"completed_jobs"`
	FailedJobs    int64 `json:"failed_jobs"`
	CancelledJobs int64 `json:"cancelled_jobs"`
	RetryingJobs  int64 `json:"retrying_jobs"`
	// WaitingJobs are the jobs of pipelines waiting for their parents.
	WaitingJobs int64 `json:"waiting_jobs"`
	// TotalJobs is the sum of the eight counts above.
	TotalJobs int64  `json:"total_jobs"`
	QueueType string `json:"queue_type"`
	// CacheSize counts the finished jobs whose results are retained
	// (completed + failed + cancelled), until the janitor expires them.
	CacheSize int64 `json:"cache_size"`
	// CPUUsagePercent is the mean of the live workers' cpu_percent (host
	// CPU as each worker sees it), 0 with no worker, to one decimal.
	CPUUsagePercent float64 `json:"cpu_usage_percent"`
	// MemoryUsageMB is the sum of the live workers' RSS, to one decimal.
	MemoryUsageMB float64     `json:"memory_usage_mb"`
	ActiveWorkers int         `json:"active_workers"`
	QueueHealth   queueHealth `json:"queue_health"`
	// HealthReasons says why queue_health's fields have their values.
	HealthReasons healthReasons `json:"health_reasons"`
	// WorkersCPUPercent is the sum of the worker processes' own CPU, in
	// percent of one core, to one decimal (cpu_usage_percent is their
	// hosts', every process counted).
	WorkersCPUPercent float64 `json:"workers_cpu_percent"`

	Queues             []queueStatsView `json:"queues"`
	RunningByType      map[string]int64 `json:"running_by_type"`
	WorkersConcurrency int              `json:"workers_concurrency"`
	// RateLimits are the types' rate limits and how they stand: waiting
	// says jobs wait on one.
	RateLimits []rateView `json:"rate_limits"`
}

// queueStatsView is one queue's share of the waiting jobs (the "queues"
// list of the stats).
type queueStatsView struct {
	Name      string `json:"name"`
	Pending   int64  `json:"pending"`
	Scheduled int64  `json:"scheduled"`
	Retrying  int64  `json:"retrying"`
	// OldestPendingAge: see queue.QueueStats.
	OldestPendingAge float64 `json:"oldest_pending_age_seconds"`
	// Paused: no worker takes the queue's jobs.
	Paused bool `json:"paused"`
}

func queueStatsOf(qs []queue.QueueStats) []queueStatsView {
	out := make([]queueStatsView, len(qs))
	for i, q := range qs {
		out[i] = queueStatsView{Name: q.Name, Pending: q.Pending, Scheduled: q.Scheduled,
			Retrying: q.Retrying, OldestPendingAge: q.OldestPendingAge, Paused: q.Paused}
	}
	return out
}

// queueHealth is the Jobs API's queue_health; assessHealth computes it.
type queueHealth struct {
	Status              string `json:"status"`
	ResourceUtilization string `json:"resource_utilization"`
	LimitEnforcement    string `json:"limit_enforcement"`
}

// stats answers GET /api/v1/jobs/queue/stats from the engine's counters
// and the worker registry: O(queues + workers), no scan of jobs. An
// unreachable Redis is a 503, never a stats body.
func (s *server) stats(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	st, err := s.q.Stats(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ws, err := s.q.Workers(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, buildStats(st, ws))
}

func buildStats(st *queue.Stats, ws []queue.WorkerInfo) statsView {
	n := func(s queue.State) int64 { return st.Counts[s] }
	v := statsView{
		PendingJobs: n(queue.StatePending), RunningJobs: n(queue.StateRunning),
		ScheduledJobs: n(queue.StateScheduled), CompletedJobs: n(queue.StateCompleted),
		FailedJobs: n(queue.StateFailed), CancelledJobs: n(queue.StateCancelled),
		RetryingJobs: n(queue.StateRetrying), WaitingJobs: n(queue.StateWaiting), QueueType: "redis",
		ActiveWorkers: len(ws), Queues: queueStatsOf(st.Queues), RunningByType: st.RunningByType,
		RateLimits: rateViewsOf(st.RateLimits),
	}
	for _, s := range queue.States() {
		v.TotalJobs += n(s)
	}
	v.CacheSize = v.CompletedJobs + v.FailedJobs + v.CancelledJobs
	if v.RunningByType == nil {
		v.RunningByType = map[string]int64{}
	}
	var cpu float64
	for _, w := range ws {
		cpu += w.CPUPercent
		v.WorkersCPUPercent += w.ProcessCPUPercent
		v.MemoryUsageMB += w.RSSMB
		v.WorkersConcurrency += w.Concurrency
	}
	if len(ws) > 0 {
		cpu /= float64(len(ws))
	}
	v.CPUUsagePercent = round1(cpu)
	v.MemoryUsageMB = round1(v.MemoryUsageMB)
	v.WorkersCPUPercent = round1(v.WorkersCPUPercent)
	v.QueueHealth = assessHealth(v, ws)
	v.HealthReasons = explainHealth(v, ws, v.QueueHealth)
	return v
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// assessHealth applies the queue_health rules (docs/api.md repeats them):
//
// status:
//   - unhealthy: jobs wait to run (pending or retrying) and no worker is
//     alive to run them. (Redis unreachable is also unhealthy, but then
//     the endpoint answers 503 instead.) Retrying jobs count whether or
//     not their backoff is over: without a worker nothing promotes them.
//   - degraded: a live worker is throttled (over its CPU or memory limit);
//     or failed jobs are over 10% of the finished ones, with at least 10
//     finished; or pending jobs exceed 10× the workers' total concurrency.
//   - healthy: otherwise.
//
// resource_utilization, from cpu_usage_percent (the workers' mean):
// critical at 90% or more or when any worker is throttled; high at 70% or
// more; else optimal.
//
// limit_enforcement: active when any live worker has a CPU or memory
// limit configured, else inactive.
func assessHealth(v statsView, ws []queue.WorkerInfo) queueHealth {
	h := queueHealth{Status: healthHealthy, ResourceUtilization: utilOptimal,
		LimitEnforcement: enforcementInactive}
	throttled := false
	for _, w := range ws {
		throttled = throttled || w.Throttled
		if w.LimitsEnforced() {
			h.LimitEnforcement = enforcementActive
		}
	}
	finished := v.CompletedJobs + v.FailedJobs + v.CancelledJobs
	switch {
	case v.PendingJobs+v.RetryingJobs > 0 && len(ws) == 0:
		h.Status = healthUnhealthy
	case throttled,
		finished >= 10 && v.FailedJobs*10 > finished,
		len(ws) > 0 && v.PendingJobs > 10*int64(v.WorkersConcurrency):
		h.Status = healthDegraded
	}
	switch {
	case v.CPUUsagePercent >= 90 || throttled:
		h.ResourceUtilization = utilCritical
	case v.CPUUsagePercent >= 70:
		h.ResourceUtilization = utilHigh
	}
	return h
}
