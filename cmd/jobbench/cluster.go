package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// clusterMasters are the cluster sizes the cluster scenario compares; the
// first is the baseline of the ratio.
var clusterMasters = []int{1, 3}

// clusterScenario names a cluster workload's result on a cluster of the
// given size: cluster_process_3masters.
func clusterScenario(workload string, masters int) string {
	if masters == 1 {
		return "cluster_" + workload + "_1master"
	}
	return "cluster_" + workload + "_" + strconv.Itoa(masters) + "masters"
}

// baselineScenario is the 1-master scenario a cluster result is compared
// with ("" if name is not a cluster result of more masters).
func baselineScenario(name string) string {
	if !strings.HasPrefix(name, "cluster_") || !strings.HasSuffix(name, "masters") {
		return ""
	}
	i := strings.LastIndexByte(name, '_')
	return name[:i] + "_1master"
}

// cluster: the same workloads, through our engine with ClusterShards
// shards, on a local Redis Cluster of 1 master and on one of 3 (started
// side by side in a temporary directory, measured one after the other,
// each stopped after its turn): enqueue_batch's producers and batches,
// then process's pre-submitted no-op jobs drained by Workers ×
// Concurrency, and the same with ClusterWideConcurrency. Each result
// carries the keys each master holds after the workload and the Redis
// CPU each master spent during it.
func (b *bench) cluster(ctx context.Context) ([]Result, error) {
	dir, err := os.MkdirTemp("", "jobbench-cluster-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	clusters := make([]*redistest.Cluster, len(clusterMasters))
	errs := make([]error, len(clusterMasters))
	var wg sync.WaitGroup
	for i, m := range clusterMasters { // ~2 s each, mostly waiting: side by side
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], errs[i] = redistest.StartCluster(filepath.Join(dir, "masters"+strconv.Itoa(m)), m)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clusters {
			if c != nil {
				c.Stop()
			}
		}
	}()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("start a cluster of %d masters: %w", clusterMasters[i], err)
		}
	}
	perCluster := make([][]Result, len(clusterMasters))
	for i, m := range clusterMasters {
		rs, err := b.onCluster(ctx, clusters[i], m)
		clusters[i].Stop() // the next cluster runs alone
		if err != nil {
			return nil, fmt.Errorf("%d masters: %w", m, err)
		}
		perCluster[i] = rs
	}
	var out []Result // workload by workload: 1 master, then 3
	for w := range perCluster[0] {
		for _, rs := range perCluster {
			out = append(out, rs[w])
		}
	}
	return out, nil
}

// onCluster runs the cluster workloads on c.
func (b *bench) onCluster(ctx context.Context, c *redistest.Cluster, masters int) ([]Result, error) {
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), PoolSize: 64})
	defer rdb.Close()
	client, err := queue.NewClient(ctx, rdb, &queue.Config{Shards: b.cfg.ClusterShards})
	if err != nil {
		return nil, err
	}
	cb := &bench{cfg: b.cfg, rdb: rdb, client: client, quiet: b.quiet}
	shards := fmt.Sprintf("%d shards on %d master(s)", b.cfg.ClusterShards, masters)

	measure := func(name string, timed func() (Result, error)) (Result, error) {
		return measureCluster(ctx, c, clusterScenario(name, masters), timed)
	}

	var out []Result
	if err := cb.flush(ctx); err != nil {
		return nil, err
	}
	r, err := measure("enqueue_batch", func() (Result, error) {
		start := time.Now()
		err := cb.fill(ctx, typeNoop, b.cfg.BatchN, b.cfg.Batch)
		r := rate("", ours, unitJobsPerS, b.cfg.BatchN, time.Since(start))
		r.Note = fmt.Sprintf("EnqueueBatch of %d; %s", b.cfg.Batch, shards)
		return r, err
	})
	if err != nil {
		return nil, err
	}
	out = append(out, r)

	for _, v := range []struct {
		name        string
		concurrency int
	}{{"process", b.cfg.Concurrency}, {"process_wide", b.cfg.ClusterWideConcurrency}} {
		if err := cb.flush(ctx); err != nil {
			return nil, err
		}
		// A submission batch goes to one shard: batches small enough
		// that every shard gets several, in small runs too.
		size := min(b.cfg.Batch, max(1, b.cfg.ProcessN/(4*b.cfg.ClusterShards)))
		if err := cb.fill(ctx, typeNoop, b.cfg.ProcessN, size); err != nil {
			return nil, err
		}
		r, err := measure(v.name, func() (Result, error) {
			r, err := cb.drain(ctx, b.cfg.ProcessN, b.cfg.Workers, v.concurrency, func(context.Context, *queue.ActiveJob) {})
			r.Note += "; " + shards
			return r, err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, cb.flush(ctx)
}

// measureCluster runs the timed part of a workload between two readings
// of every master's CPU, then counts the keys each master holds, and
// reports it as scenario.
func measureCluster(ctx context.Context, c *redistest.Cluster, scenario string, timed func() (Result, error)) (Result, error) {
	cpu0, err := cpuPerNode(ctx, c)
	if err != nil {
		return Result{}, err
	}
	self0 := selfCPU()
	r, err := timed()
	self := selfCPU() - self0
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", scenario, err)
	}
	cpu1, err := cpuPerNode(ctx, c)
	if err != nil {
		return Result{}, err
	}
	keys, err := c.KeysPerNode(ctx)
	if err != nil {
		return Result{}, err
	}
	r.Scenario = scenario
	r.BenchCPUPercent = math.Round(100 * self / r.Seconds)
	for _, addr := range c.Addrs() {
		cpu := cpu1[addr] - cpu0[addr]
		r.Masters = append(r.Masters, MasterStat{Addr: addr, Keys: keys[addr],
			CPUSeconds: math.Round(1000*cpu) / 1000, CPUPercent: round2(100 * cpu / r.Seconds)})
	}
	return r, nil
}

// MasterStat is one master's share of a cluster workload.
type MasterStat struct {
	Addr string `json:"addr"`
	// Keys the master holds after the workload.
	Keys int64 `json:"keys"`
	// CPUSeconds is the master's used_cpu_sys + used_cpu_user during the
	// timed part; CPUPercent the same over its wall time (100 = one core).
	CPUSeconds float64 `json:"cpu_s"`
	CPUPercent float64 `json:"cpu_pct"`
}

// selfCPU is the CPU time (user + sys, seconds) this process has used:
// the producers, the workers and their Redis clients.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// cpuPerNode reads INFO cpu (used_cpu_sys + used_cpu_user, seconds) of
// every node of c, by address.
func cpuPerNode(ctx context.Context, c *redistest.Cluster) (map[string]float64, error) {
	out := map[string]float64{}
	for _, addr := range c.Addrs() {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		cpu, err := infoSum(ctx, rdb, "cpu", "used_cpu_sys", "used_cpu_user")
		_ = rdb.Close()
		if err != nil {
			return nil, err
		}
		out[addr] = cpu
	}
	return out, nil
}
