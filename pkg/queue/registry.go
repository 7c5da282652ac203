package queue

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// WorkerInfo is a live worker as its last heartbeat described it.
type WorkerInfo struct {
	ID string
	// Protocol is how the worker takes jobs: ProtocolNative (a Go Worker
	// on Redis) or ProtocolHTTP (the API's lease protocol).
	Protocol    string
	Host        string
	PID         int
	Queues      []string
	Types       []string
	Concurrency int
	Running     int
	CPUPercent  float64
	RSSMB       float64
	StartedAt   time.Time
	LastSeen    time.Time
	// Throttled: the worker is over its CPU or memory limit and takes no new jobs.
	Throttled bool
	// MaxCPUPercent and MaxMemoryMB are its configured limits (0: none).
	MaxCPUPercent float64
	MaxMemoryMB   float64
	// ProcessCPUPercent is the worker process's own CPU use, in percent
	// of one core (two busy cores: 200); CPUPercent is its host's, all
	// processes.
	ProcessCPUPercent float64
}

// The protocols a worker takes jobs by (WorkerInfo.Protocol).
const (
	ProtocolNative = "native"
	ProtocolHTTP   = "http"
)

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
	return WorkerInfo{ID: id, Protocol: cmp.Or(h["protocol"], ProtocolNative), Host: h["host"], PID: i("pid"), Queues: list("queues"),
		Types: list("types"), Concurrency: i("concurrency"), Running: i("running"),
		CPUPercent: f("cpu_percent"), RSSMB: f("rss_mb"), StartedAt: msTime(h["started_at"]),
		LastSeen: msTime(h["last_seen"]), Throttled: h["throttled"] == "1",
		MaxCPUPercent: f("max_cpu_percent"), MaxMemoryMB: f("max_memory_mb"),
		ProcessCPUPercent: f("process_cpu_percent")}
}

// leaveRegistry removes worker id's registry entry and its private wake
// lists, as it stops: it drops out at once instead of when its entry
// expires.
func (c *Client) leaveRegistry(ctx context.Context, id string) {
	pipe := c.rdb.Pipeline()
	pipe.Del(ctx, c.keys.worker(id))
	for _, k := range c.shards {
		pipe.Del(ctx, k.workerWake(id))
	}
	pipe.ZRem(ctx, c.keys.workers(), id)
	_, _ = pipe.Exec(ctx)
}
