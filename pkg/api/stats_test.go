package api

import (
	"fmt"
	"slices"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

// jobsAPIStatsKeys are the stats fields of the Jobs API (compatible with
// Compileo's Jobs API); this API's additions follow.
var jobsAPIStatsKeys = []string{"pending_jobs", "running_jobs", "scheduled_jobs", "completed_jobs",
	"failed_jobs", "cancelled_jobs", "retrying_jobs", "total_jobs", "queue_type", "cache_size",
	"cpu_usage_percent", "memory_usage_mb", "active_workers", "queue_health"}

func TestQueueStats(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"demo": nil, "block": nil, "quick": nil, "boom": nil}})

	// A job waits and no worker is alive: unhealthy.
	b.submit(t, `{"type": "demo", "queue": "parked"}`)
	st := b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200)
	wantKeys(t, "stats", st, append(slices.Clone(jobsAPIStatsKeys), "queues", "running_by_type", "workers_concurrency",
		"health_reasons", "workers_cpu_percent", "waiting_jobs", "rate_limits")...)
	health := st["queue_health"].(map[string]any)
	wantKeys(t, "queue_health", health, "status", "resource_utilization", "limit_enforcement")
	reasons := st["health_reasons"].(map[string]any)
	wantKeys(t, "health_reasons", reasons, "status", "resource_utilization", "limit_enforcement")
	if reasons["status"] != "1 job waits to run and no worker is alive to run them" {
		t.Fatalf("health_reasons without workers: %v", reasons)
	}
	if st["pending_jobs"] != 1.0 || st["active_workers"] != 0.0 || st["cpu_usage_percent"] != 0.0 ||
		st["memory_usage_mb"] != 0.0 || health["status"] != "unhealthy" || health["limit_enforcement"] != "inactive" {
		t.Fatalf("stats without workers: %v", st)
	}

	// One job in each state but retrying, and a worker.
	b.startWorker(t)
	b.waitStatus(t, b.submit(t, `{"type": "quick"}`), queue.StateCompleted)
	b.waitStatus(t, b.submit(t, `{"type": "boom", "max_retries": 0}`), queue.StateFailed)
	running := b.submit(t, `{"type": "block"}`)
	b.waitStatus(t, running, queue.StateRunning)
	b.submit(t, `{"type": "demo", "delay_seconds": 3600}`)
	cancelled := b.submit(t, `{"type": "demo", "queue": "parked"}`)
	b.call(t, "POST", "/api/v1/jobs/cancel/"+cancelled, "", 200)

	st = b.call(t, "GET", "/api/v1/jobs/queue/stats", "", 200)
	want := map[string]float64{"pending_jobs": 1, "running_jobs": 1, "scheduled_jobs": 1, "completed_jobs": 1,
		"failed_jobs": 1, "cancelled_jobs": 1, "retrying_jobs": 0, "total_jobs": 6, "cache_size": 3,
		"active_workers": 1, "workers_concurrency": 4}
	for k, v := range want {
		if st[k] != v {
			t.Fatalf("%s = %v, want %v; stats %v", k, st[k], v, st)
		}
	}
	sum := 0.0
	for _, k := range jobsAPIStatsKeys[:7] {
		sum += st[k].(float64)
	}
	health = st["queue_health"].(map[string]any)
	if st["total_jobs"] != sum || st["queue_type"] != "redis" || health["status"] != "healthy" ||
		!slices.Contains([]any{"optimal", "high", "critical"}, health["resource_utilization"]) ||
		st["memory_usage_mb"].(float64) <= 0 {
		t.Fatalf("stats: %v", st)
	}
	if rbt := st["running_by_type"].(map[string]any); rbt["block"] != 1.0 {
		t.Fatalf("running_by_type %v", rbt)
	}
	qs := st["queues"].([]any)
	parked := qs[1].(map[string]any)
	if age, _ := parked["oldest_pending_age_seconds"].(float64); age <= 0 || age > 60 {
		t.Fatalf("queues %v: the parked job's age", qs)
	}
	delete(parked, "oldest_pending_age_seconds")
	if qs := fmt.Sprint(qs); qs != "[map[name:default oldest_pending_age_seconds:0 paused:false pending:0 retrying:0 scheduled:1] map[name:parked paused:false pending:1 retrying:0 scheduled:0]]" {
		t.Fatalf("queues %s", qs)
	}
	b.release <- struct{}{}
}

func TestHealthRules(t *testing.T) {
	t.Parallel()
	worker := func(cpu float64, conc int, throttled, limits bool) queue.WorkerInfo {
		w := queue.WorkerInfo{CPUPercent: cpu, Concurrency: conc, Throttled: throttled}
		if limits {
			w.MaxMemoryMB = 512
		}
		return w
	}
	counts := func(pending, retrying, completed, failed int64) *queue.Stats {
		return &queue.Stats{Counts: map[queue.State]int64{queue.StatePending: pending,
			queue.StateRetrying: retrying, queue.StateCompleted: completed, queue.StateFailed: failed}}
	}
	for _, c := range []struct {
		name    string
		st      *queue.Stats
		ws      []queue.WorkerInfo
		want    queueHealth
		cpu, mb float64
	}{
		{"idle, no workers", counts(0, 0, 0, 0), nil, queueHealth{"healthy", "optimal", "inactive"}, 0, 0},
		{"pending, no workers", counts(1, 0, 0, 0), nil, queueHealth{"unhealthy", "optimal", "inactive"}, 0, 0},
		{"retrying, no workers", counts(0, 1, 0, 0), nil, queueHealth{"unhealthy", "optimal", "inactive"}, 0, 0},
		{"one worker", counts(5, 0, 0, 0), []queue.WorkerInfo{worker(10, 4, false, false)}, queueHealth{"healthy", "optimal", "inactive"}, 10, 0},
		{"throttled", counts(0, 0, 0, 0), []queue.WorkerInfo{worker(10, 4, true, true)}, queueHealth{"degraded", "critical", "active"}, 10, 0},
		{"failing 2 of 10", counts(0, 0, 8, 2), []queue.WorkerInfo{worker(10, 4, false, false)}, queueHealth{"degraded", "optimal", "inactive"}, 10, 0},
		{"failing 1 of 10", counts(0, 0, 9, 1), []queue.WorkerInfo{worker(10, 4, false, false)}, queueHealth{"healthy", "optimal", "inactive"}, 10, 0},
		{"failing 5 of 5", counts(0, 0, 0, 5), []queue.WorkerInfo{worker(10, 4, false, false)}, queueHealth{"healthy", "optimal", "inactive"}, 10, 0},
		{"backlog 41 > 10×4", counts(41, 0, 0, 0), []queue.WorkerInfo{worker(10, 4, false, false)}, queueHealth{"degraded", "optimal", "inactive"}, 10, 0},
		{"backlog 40", counts(40, 0, 0, 0), []queue.WorkerInfo{worker(10, 4, false, false)}, queueHealth{"healthy", "optimal", "inactive"}, 10, 0},
		{"cpu mean 70", counts(0, 0, 0, 0), []queue.WorkerInfo{worker(60, 1, false, false), worker(80, 1, false, true)}, queueHealth{"healthy", "high", "active"}, 70, 0},
		{"cpu mean 90", counts(0, 0, 0, 0), []queue.WorkerInfo{worker(95, 1, false, false), worker(85, 1, false, false)}, queueHealth{"healthy", "critical", "inactive"}, 90, 0},
	} {
		v := buildStats(c.st, c.ws)
		if v.QueueHealth != c.want || v.CPUUsagePercent != c.cpu {
			t.Errorf("%s: health %+v cpu %v, want %+v cpu %v", c.name, v.QueueHealth, v.CPUUsagePercent, c.want, c.cpu)
		}
	}
	// Aggregation: mean CPU and summed memory, to one decimal.
	v := buildStats(counts(0, 0, 0, 0), []queue.WorkerInfo{{CPUPercent: 10.04, RSSMB: 100.25}, {CPUPercent: 20.1, RSSMB: 0.1}})
	if v.CPUUsagePercent != 15.1 || v.MemoryUsageMB != 100.4 || v.ActiveWorkers != 2 {
		t.Fatalf("aggregates %+v", v)
	}
}

// TestHealthSaysWhy: each value of queue_health comes with its reason in
// words, so "healthy" beside "critical" reads as what it is (the jobs are
// fine, the workers' hosts are busy) rather than as a contradiction.
func TestHealthSaysWhy(t *testing.T) {
	t.Parallel()
	counts := func(pending, completed, failed int64) *queue.Stats {
		return &queue.Stats{Counts: map[queue.State]int64{queue.StatePending: pending,
			queue.StateCompleted: completed, queue.StateFailed: failed}}
	}
	w := func(cpu, own float64, throttled bool, maxMB float64) queue.WorkerInfo {
		return queue.WorkerInfo{CPUPercent: cpu, ProcessCPUPercent: own, Concurrency: 2, Throttled: throttled, MaxMemoryMB: maxMB}
	}
	for _, c := range []struct {
		name string
		st   *queue.Stats
		ws   []queue.WorkerInfo
		want healthReasons
	}{
		{"idle, no workers", counts(0, 0, 0), nil, healthReasons{
			"no job waits to run (and no worker is alive)",
			"no worker is alive to report its host's CPU",
			"no worker is alive"}},
		{"waiting, no workers", counts(3, 0, 0), nil, healthReasons{
			"3 jobs wait to run and no worker is alive to run them",
			"no worker is alive to report its host's CPU",
			"no worker is alive"}},
		{"healthy jobs on a busy host", counts(1, 9, 1), []queue.WorkerInfo{w(99, 3.5, false, 0)}, healthReasons{
			"1 worker alive, none throttled; 1 job waits to run; 1 of 10 finished jobs failed",
			"host CPU at 99.0% (the mean over the workers' hosts, every process counted), 90% or more",
			"no worker has a CPU or memory limit (WORKER_MAX_CPU_PERCENT, WORKER_MAX_MEMORY_MB)"}},
		{"degraded three ways", counts(50, 8, 3), []queue.WorkerInfo{w(50, 1, true, 512), w(30, 1, false, 0)}, healthReasons{
			"1 of 2 workers is over its CPU or memory limit and takes no new jobs; 3 of 11 finished jobs failed (over 10%); 50 jobs wait, over 10 × the workers' concurrency (4)",
			"1 of 2 workers is over its CPU or memory limit; host CPU at 40.0% (the mean over the workers' hosts, every process counted)",
			"1 of 2 workers has a CPU or memory limit"}},
		{"high", counts(0, 0, 0), []queue.WorkerInfo{w(75, 0, false, 512), w(75, 0, false, 512)}, healthReasons{
			"2 workers alive, none throttled; 0 jobs wait to run",
			"host CPU at 75.0% (the mean over the workers' hosts, every process counted), 70% or more",
			"all 2 workers have a CPU or memory limit"}},
	} {
		if got := buildStats(c.st, c.ws).HealthReasons; got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
	if v := buildStats(counts(0, 0, 0), []queue.WorkerInfo{w(10, 1.25, false, 0), w(10, 2.5, false, 0)}); v.WorkersCPUPercent != 3.8 {
		t.Errorf("workers_cpu_percent %v, want 3.8 (the sum of the processes' own)", v.WorkersCPUPercent)
	}
}
