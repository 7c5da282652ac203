package api

import (
	"fmt"
	"strings"

	"github.com/compileo/jobqueue/pkg/queue"
)

// healthReasons says in words why each field of queue_health has its
// value, so that no client has to guess (or show "healthy" beside
// "critical" without saying that one is about jobs and the other about
// the workers' hosts). It sits beside queue_health, which keeps the three
// fields of Compileo's Jobs API.
type healthReasons struct {
	Status              string `json:"status"`
	ResourceUtilization string `json:"resource_utilization"`
	LimitEnforcement    string `json:"limit_enforcement"`
}

// explainHealth words the reasons for h, the health assessHealth gave v.
func explainHealth(v statsView, ws []queue.WorkerInfo, h queueHealth) healthReasons {
	throttled, limited := 0, 0
	for _, w := range ws {
		if w.Throttled {
			throttled++
		}
		if w.LimitsEnforced() {
			limited++
		}
	}
	return healthReasons{
		Status:              statusReason(v, len(ws), throttled, h.Status),
		ResourceUtilization: resourceReason(v.CPUUsagePercent, len(ws), throttled, h.ResourceUtilization),
		LimitEnforcement:    limitReason(len(ws), limited),
	}
}

func statusReason(v statsView, workers, throttled int, status string) string {
	waiting := v.PendingJobs + v.RetryingJobs
	finished := v.CompletedJobs + v.FailedJobs + v.CancelledJobs
	switch status {
	case healthUnhealthy:
		return fmt.Sprintf("%s to run and no worker is alive to run them", count(waiting, "job waits", "jobs wait"))
	case healthDegraded:
		var why []string
		if throttled > 0 {
			why = append(why, ofWorkers(throttled, workers, "is over its CPU or memory limit and takes no new jobs",
				"are over their CPU or memory limits and take no new jobs"))
		}
		if finished >= 10 && v.FailedJobs*10 > finished {
			why = append(why, fmt.Sprintf("%d of %d finished jobs failed (over 10%%)", v.FailedJobs, finished))
		}
		if workers > 0 && v.PendingJobs > 10*int64(v.WorkersConcurrency) {
			why = append(why, fmt.Sprintf("%s, over 10 × the workers' concurrency (%d)",
				count(v.PendingJobs, "job waits", "jobs wait"), v.WorkersConcurrency))
		}
		return strings.Join(why, "; ")
	}
	if workers == 0 {
		return "no job waits to run (and no worker is alive)"
	}
	why := fmt.Sprintf("%s alive, none throttled; %s to run", count(int64(workers), "worker", "workers"),
		count(waiting, "job waits", "jobs wait"))
	if finished > 0 {
		why += fmt.Sprintf("; %d of %d finished jobs failed", v.FailedJobs, finished)
	}
	return why
}

func resourceReason(cpu float64, workers, throttled int, level string) string {
	if workers == 0 {
		return "no worker is alive to report its host's CPU"
	}
	host := fmt.Sprintf("host CPU at %.1f%% (the mean over the workers' hosts, every process counted)", cpu)
	switch {
	case level == utilCritical && throttled > 0:
		return ofWorkers(throttled, workers, "is over its CPU or memory limit", "are over their CPU or memory limits") +
			"; " + host
	case level == utilCritical:
		return host + ", 90% or more"
	case level == utilHigh:
		return host + ", 70% or more"
	}
	return host + ", under 70%"
}

func limitReason(workers, limited int) string {
	switch {
	case workers == 0:
		return "no worker is alive"
	case limited == 0:
		return "no worker has a CPU or memory limit (WORKER_MAX_CPU_PERCENT, WORKER_MAX_MEMORY_MB)"
	}
	return ofWorkers(limited, workers, "has a CPU or memory limit", "have a CPU or memory limit")
}

// ofWorkers says that k of the n workers do something: "the worker is
// ...", "1 of 3 workers is ...", "2 of 3 workers are ...", "all 3
// workers are ...".
func ofWorkers(k, n int, one, many string) string {
	switch {
	case n == 1:
		return "the worker " + one
	case k == n:
		return fmt.Sprintf("all %d workers %s", n, many)
	case k == 1:
		return fmt.Sprintf("1 of %d workers %s", n, one)
	}
	return fmt.Sprintf("%d of %d workers %s", k, n, many)
}

// count says "1 job waits" or "3 jobs wait".
func count(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
