package queue

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/process"
)

// WorkerInfo is a live worker as its last heartbeat described it.
type WorkerInfo struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	Queues      []string  `json:"queues"`
	Types       []string  `json:"types"`
	Concurrency int       `json:"concurrency"`
	Running     int       `json:"running_jobs"`
	CPUPercent  float64   `json:"cpu_percent"`
	RSSMB       float64   `json:"rss_mb"`
	StartedAt   time.Time `json:"started_at"`
	LastSeen    time.Time `json:"last_seen"`
	// Throttled: the worker is over its CPU or memory limit and takes no new jobs.
	Throttled bool `json:"throttled"`
	// MaxCPUPercent and MaxMemoryMB are its configured limits (0: none).
	MaxCPUPercent float64 `json:"max_cpu_percent"`
	MaxMemoryMB   float64 `json:"max_memory_mb"`
	// ProcessCPUPercent is the worker process's own CPU use, in percent
	// of one core (two busy cores: 200); CPUPercent is its host's, all
	// processes.
	ProcessCPUPercent float64 `json:"process_cpu_percent"`
}

// LimitsEnforced reports whether the worker enforces a resource limit.
func (wi WorkerInfo) LimitsEnforced() bool { return wi.MaxCPUPercent > 0 || wi.MaxMemoryMB > 0 }

// Workers lists the live workers, sorted by id. A worker whose heartbeats
// stopped drops out by itself when its registry entry expires.
func (c *Client) Workers(ctx context.Context) ([]WorkerInfo, error) {
	ids, err := c.rdb.ZRange(ctx, c.keys.workers(), 0, -1).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, c.keys.worker(id))
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, storageErr(err)
		}
	}
	out := make([]WorkerInfo, 0, len(ids))
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue // expired: dead
		}
		out = append(out, workerFromHash(id, h))
	}
	slices.SortFunc(out, func(a, b WorkerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func workerFromHash(id string, h map[string]string) WorkerInfo {
	f := func(k string) float64 { v, _ := strconv.ParseFloat(h[k], 64); return v }
	i := func(k string) int { v, _ := strconv.Atoi(h[k]); return v }
	list := func(k string) []string {
		if h[k] == "" {
			return []string{}
		}
		return strings.Split(h[k], ",")
	}
	return WorkerInfo{ID: id, Host: h["host"], PID: i("pid"), Queues: list("queues"),
		Types: list("types"), Concurrency: i("concurrency"), Running: i("running"),
		CPUPercent: f("cpu_percent"), RSSMB: f("rss_mb"), StartedAt: msTime(h["started_at"]),
		LastSeen: msTime(h["last_seen"]), Throttled: h["throttled"] == "1",
		MaxCPUPercent: f("max_cpu_percent"), MaxMemoryMB: f("max_memory_mb"),
		ProcessCPUPercent: f("process_cpu_percent")}
}

// heartbeatLoop keeps the registry entry and every lease of this worker
// alive, and stops the runs Redis says it no longer holds.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	interval := w.cfg.LeaseTTL / 3
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.beatNow:
		}
		if err := w.heartbeat(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("heartbeat failed", "err", err)
			// Fencing: past a whole lease without a heartbeat, the reaper may
			// have given our jobs to another worker; stop ours.
			if time.Since(time.UnixMilli(w.lastBeat.Load())) > w.cfg.LeaseTTL {
				for _, r := range w.snapshotRuns() {
					r.cancel(errRunLeaseLost)
				}
			}
		}
	}
}

func (w *Worker) triggerHeartbeat() {
	select {
	case w.beatNow <- struct{}{}:
	default:
	}
}

// heartbeat registers the worker and extends its leases, in one round trip.
func (w *Worker) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.LeaseTTL/3)
	defer cancel()
	c := w.c
	runs := w.snapshotRuns()
	host, _ := os.Hostname()
	queues := make([]string, 0, len(w.cfg.Queues))
	for q := range w.cfg.Queues {
		queues = append(queues, q)
	}
	slices.Sort(queues)
	throttled := "0"
	if w.throttled.Load() {
		throttled = "1"
	}
	ttl := w.cfg.LeaseTTL // three missed heartbeats (one every LeaseTTL/3)
	pipe := c.rdb.Pipeline()
	reg := c.scripts.register.EvalSha(ctx, pipe, []string{c.keys.workers(), c.keys.worker(w.cfg.ID)},
		w.cfg.ID, max(ttl, time.Second).Milliseconds(),
		"host", host, "pid", os.Getpid(), "queues", strings.Join(queues, ","),
		"types", strings.Join(w.mux.Types(), ","), "concurrency", w.cfg.Concurrency,
		"running", len(runs), "cpu_percent", round1(w.cpu()), "rss_mb", round1(w.rss()),
		"process_cpu_percent", round1(math.Float64frombits(w.ownCPUPct.Load())),
		"started_at", w.startedAt.UnixMilli(), "throttled", throttled,
		"max_cpu_percent", w.cfg.MaxCPUPercent, "max_memory_mb", w.cfg.MaxMemoryMB)
	// One extend.lua call per shard holding some of the runs.
	groups := c.shards.group(len(runs), func(i int) string { return runs[i].job.ID })
	exts := make([]*redis.Cmd, len(groups))
	for gi, g := range groups {
		k := c.shards[g.shard]
		keys := []string{k.leases()}
		args := []any{w.cfg.LeaseTTL.Milliseconds()}
		for _, i := range g.idx {
			keys = append(keys, k.job(runs[i].job.ID))
			args = append(args, runs[i].job.ID, runs[i].token)
		}
		exts[gi] = c.scripts.extend.EvalSha(ctx, pipe, keys, args...)
	}
	_, err := pipe.Exec(ctx)
	if isNoScript(err) {
		if err = c.scripts.preload(ctx, c.rdb); err == nil {
			return w.heartbeat(ctx)
		}
	}
	if err != nil {
		return storageErr(err)
	}
	if err := reg.Err(); err != nil {
		return storageErr(err)
	}
	w.lastBeat.Store(time.Now().UnixMilli())
	for gi, g := range groups {
		res, err := exts[gi].Slice()
		if err != nil {
			return storageErr(err)
		}
		for k, i := range g.idx {
			r := runs[i]
			if k+1 >= len(res) {
				break
			}
			row, _ := res[k+1].([]any)
			if len(row) == 0 {
				continue
			}
			err := scriptError(row, r.job.ID, StateRunning)
			var lost *LeaseLostError
			switch {
			case err == nil:
			case errors.As(err, &lost) && lost.Status == StateCancelled:
				r.cancel(errCancelledByUser)
			default:
				r.cancel(errRunLeaseLost)
			}
		}
	}
	return nil
}

func round1(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', 1, 64) }

func (w *Worker) cpu() float64 { return math.Float64frombits(w.cpuPct.Load()) }
func (w *Worker) rss() float64 { return math.Float64frombits(w.rssMB.Load()) }

// samplerLoop measures host CPU and this process's memory, and throttles
// claiming while either is over its limit.
func (w *Worker) samplerLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.sample()
		}
	}
}

// sample runs in Start, then only in samplerLoop: never two at once.
func (w *Worker) sample() {
	if w.self == nil {
		w.self, _ = process.NewProcess(int32(os.Getpid()))
	}
	if pcts, err := cpu.Percent(0, false); err == nil && len(pcts) > 0 {
		w.cpuPct.Store(math.Float64bits(pcts[0]))
	}
	if w.self != nil {
		if pct, err := w.self.Percent(0); err == nil { // since the last sample
			w.ownCPUPct.Store(math.Float64bits(pct))
		}
		if mi, err := w.self.MemoryInfo(); err == nil {
			w.rssMB.Store(math.Float64bits(float64(mi.RSS) / (1 << 20)))
		}
	}
	over := (w.cfg.MaxCPUPercent > 0 && w.cpu() > w.cfg.MaxCPUPercent) ||
		(w.cfg.MaxMemoryMB > 0 && w.rss() > w.cfg.MaxMemoryMB)
	if w.throttled.Swap(over) != over {
		w.log.Warn("resource limits", "throttled", over, "cpu_percent", w.cpu(), "rss_mb", w.rss())
	}
}

// maintenanceLoop promotes due jobs of the worker's queues, reaps expired
// leases, expires old finished jobs and forgets empty queues. Every worker
// runs it; the scripts make concurrent runs safe. Each timer is jittered
// so a fleet started together does not run them in lockstep.
func (w *Worker) maintenanceLoop(ctx context.Context) {
	jitter := func(d time.Duration) time.Duration { return d/2 + time.Duration(rand.Int64N(int64(d)+1)) }
	promoteAt := time.Now()
	reapAt := time.Now().Add(jitter(w.cfg.ReapInterval))
	janitorAt := time.Now().Add(jitter(w.cfg.JanitorInterval))
	for {
		now := time.Now()
		if !now.Before(promoteAt) {
			next := now.Add(jitter(w.cfg.PromoteInterval))
			for q := range w.cfg.Queues {
				n, due, err := w.c.Promote(ctx, q)
				if err != nil {
					w.log.Warn("promote failed", "queue", q, "err", err)
					continue
				}
				if n > 0 {
					w.log.Debug("promoted due jobs", "queue", q, "count", n)
				}
				if !due.IsZero() && due.Before(next) {
					next = due
				}
			}
			promoteAt = next
		}
		if !now.Before(reapAt) {
			if res, err := w.c.Reap(ctx); err != nil {
				w.log.Warn("reap failed", "err", err)
			} else if res.Recovered+res.Failed > 0 {
				w.log.Info("reaped expired leases", "recovered", res.Recovered, "failed", res.Failed)
			}
			reapAt = now.Add(jitter(w.cfg.ReapInterval))
		}
		if !now.Before(janitorAt) {
			if n, err := w.c.Expire(ctx, *w.cfg.Retention); err != nil {
				w.log.Warn("janitor failed", "err", err)
			} else if n > 0 {
				w.log.Info("removed expired jobs", "count", n)
			}
			if n, err := w.c.ForgetEmptyQueues(ctx); err != nil {
				w.log.Warn("forgetting empty queues failed", "err", err)
			} else if n > 0 {
				w.log.Debug("forgot empty queues", "count", n)
			}
			janitorAt = now.Add(jitter(w.cfg.JanitorInterval))
		}
		next := promoteAt
		if reapAt.Before(next) {
			next = reapAt
		}
		if janitorAt.Before(next) {
			next = janitorAt
		}
		sleepCtx(ctx, max(time.Until(next), 5*time.Millisecond))
		if ctx.Err() != nil {
			return
		}
	}
}
