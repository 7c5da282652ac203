package main

import (
	"context"
	"math"
	"strconv"
	"strings"
)

// meter reads Redis's CPU time (INFO cpu) and the commands it ran (INFO
// commandstats, the calls inside scripts included) at the start of a
// workload; perJob divides what changed by the workload's tasks. The same
// measure as jobbench's redisMeter, so both sides are read alike.
type meter struct {
	cpu   float64
	calls int64
	b     *bench
}

func (b *bench) meter(ctx context.Context) *meter {
	cpu, calls := b.redisUsage(ctx)
	return &meter{cpu: cpu, calls: calls, b: b}
}

// perJob is Redis CPU (µs) and commands per task since the meter started.
func (m *meter) perJob(ctx context.Context, n int) (us, calls float64) {
	cpu, c := m.b.redisUsage(ctx)
	if n <= 0 {
		return 0, 0
	}
	return math.Round(10*(cpu-m.cpu)*1e6/float64(n)) / 10, math.Round(100*float64(c-m.calls)/float64(n)) / 100
}

// redisUsage is used_cpu_sys + used_cpu_user (seconds) and the calls of
// every command but INFO.
func (b *bench) redisUsage(ctx context.Context) (cpu float64, calls int64) {
	info, _ := b.rdb.Info(ctx, "cpu", "commandstats").Result()
	for _, line := range strings.Split(info, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && (k == "used_cpu_sys" || k == "used_cpu_user") {
			f, _ := strconv.ParseFloat(v, 64)
			cpu += f
		}
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || len(name) == len(line) || name == "info" {
			continue
		}
		n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest+",", ',')], 10, 64)
		calls += n
	}
	return cpu, calls
}
