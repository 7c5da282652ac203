package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisMeter measures what a workload costs Redis: its CPU time (INFO cpu,
// used_cpu_sys + used_cpu_user) and the commands it ran (INFO
// commandstats, which counts the redis.call()s inside scripts as well as
// the scripts). Redis CPU per job is the figure the machine's noise moves
// least: other processes slow the wall clock, not Redis's own work.
type redisMeter struct {
	rdb   redis.UniversalClient
	cpu   float64
	calls map[string]cmdStat
}

// cmdStat is one command's line of INFO commandstats: its calls and the
// µs they took (for a script, its whole run, the calls inside it too).
type cmdStat struct{ calls, usec int64 }

// phaseCmd, when set (-phase-cmd), is run by sh as each measured workload
// starts (PHASE=start) and ends (PHASE=end), before the readings: a
// profiler of Redis (callgrind_control --dump) then splits its counts by
// workload.
var phaseCmd string

// runPhaseCmd runs phaseCmd, if any, for phase; its failure is logged by
// its own output only: a profile is a side show of the measure.
func runPhaseCmd(ctx context.Context, phase string) {
	if phaseCmd == "" {
		return
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", phaseCmd)
	cmd.Env = append(os.Environ(), "PHASE="+phase)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	_ = cmd.Run()
}

// startMeter takes the first reading.
func startMeter(ctx context.Context, rdb redis.UniversalClient) (*redisMeter, error) {
	runPhaseCmd(ctx, "start")
	m := &redisMeter{rdb: rdb}
	var err error
	if m.cpu, err = infoSum(ctx, rdb, "cpu", "used_cpu_sys", "used_cpu_user"); err != nil {
		return nil, err
	}
	if m.calls, err = commandCalls(ctx, rdb); err != nil {
		return nil, err
	}
	return m, nil
}

// callsLog, when set (-calls), receives each measured workload's commands
// per job by name.
var callsLog io.Writer

// redisCost is a workload's cost to Redis per job.
type redisCost struct {
	// UsPerJob is Redis CPU per job in µs; CallsPerJob the commands per
	// job (scripts and the calls inside them); Calls the commands by name.
	UsPerJob    float64
	CallsPerJob float64
	Calls       map[string]int64
}

// stop takes the second reading and divides the difference by n jobs.
func (m *redisMeter) stop(ctx context.Context, n int) (redisCost, error) {
	runPhaseCmd(ctx, "end")
	cpu, err := infoSum(ctx, m.rdb, "cpu", "used_cpu_sys", "used_cpu_user")
	if err != nil {
		return redisCost{}, err
	}
	calls, err := commandCalls(ctx, m.rdb)
	if err != nil {
		return redisCost{}, err
	}
	c := redisCost{Calls: map[string]int64{}}
	usec := map[string]int64{}
	var total int64
	for name, v := range calls {
		if d := v.calls - m.calls[name].calls; d > 0 && name != "info" {
			c.Calls[name] = d
			usec[name] = v.usec - m.calls[name].usec
			total += d
		}
	}
	if callsLog != nil && n > 0 {
		logCalls(c.Calls, usec, (cpu-m.cpu)*1e6/float64(n), n)
	}
	if n > 0 {
		c.UsPerJob = math.Round(10*(cpu-m.cpu)*1e6/float64(n)) / 10
		c.CallsPerJob = math.Round(100*float64(total)/float64(n)) / 100
	}
	return c, nil
}

// logCalls writes a workload's commands per job to callsLog, the most
// frequent first, each with the µs per job it took in Redis (a script's
// include the calls inside it, which commandstats times on their own too).
func logCalls(calls, usec map[string]int64, usPerJob float64, n int) {
	names := slices.Sorted(maps.Keys(calls))
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(calls[b], calls[a]) })
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %.2f (%.1f µs)", name, float64(calls[name])/float64(n), float64(usec[name])/float64(n))
	}
	fmt.Fprintf(callsLog, "jobbench: Redis commands per job (%.1f µs/job): %s\n", usPerJob, strings.Join(parts, ", "))
}

// apply records the cost on a result.
func (c redisCost) apply(r *Result) {
	r.RedisUsPerJob = c.UsPerJob
	r.RedisCallsPerJob = c.CallsPerJob
}

// commandCalls reads INFO commandstats: calls and µs per command (summed
// over a cluster's masters).
func commandCalls(ctx context.Context, rdb redis.UniversalClient) (map[string]cmdStat, error) {
	out := map[string]cmdStat{}
	read := func(c redis.Cmdable) error {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(info, "\r\n") {
			name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
			if !ok || len(name) == len(line) {
				continue
			}
			n, err := strconv.ParseInt(rest[:strings.IndexByte(rest+",", ',')], 10, 64)
			if err != nil {
				continue
			}
			st := out[name]
			st.calls += n
			if _, u, ok := strings.Cut(rest, ",usec="); ok {
				us, _ := strconv.ParseInt(u[:strings.IndexByte(u+",", ',')], 10, 64)
				st.usec += us
			}
			out[name] = st
		}
		return nil
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex // ForEachMaster calls on every master at once
		return out, cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			return read(node)
		})
	}
	return out, read(rdb)
}
