package main

// The asynq side of a run: bench/asynq's asynqbench, built once, run in a
// fresh process per scenario, its JSON lines read back as Results.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// asynqRunner runs bench/asynq's asynqbench, built once, per scenario.
type asynqRunner struct {
	bin  string
	dir  string
	args []string
	logw io.Writer
}

// asynqScenarios are the scenarios asynqbench has.
var asynqScenarios = []string{"enqueue_single", "enqueue_batch", "process", "process_progress",
	"drain_fleet", "pickup_idle", "queue_stats"}

func (a *asynqRunner) has(name string) bool { return slices.Contains(asynqScenarios, name) }

func (a *asynqRunner) close() { _ = os.RemoveAll(a.dir) }

func buildAsynq(ctx context.Context, cfg *config, opts *redis.Options, db int, logw io.Writer) (*asynqRunner, error) {
	dir, err := os.MkdirTemp("", "jobbench-asynq-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "asynqbench")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/asynqbench")
	build.Dir = cfg.AsynqDir
	build.Stdout, build.Stderr = logw, logw
	if err := build.Run(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("build asynq bench in %s (run from the repository root, or -asynq=false): %w", cfg.AsynqDir, err)
	}
	sizes := make([]string, len(cfg.StatsSizes))
	for i, s := range cfg.StatsSizes {
		sizes[i] = strconv.Itoa(s)
	}
	args := []string{"-addr", opts.Addr, "-db", strconv.Itoa(db),
		"-producers", strconv.Itoa(cfg.Producers), "-enqueue-n", strconv.Itoa(cfg.EnqueueN),
		"-batch-n", strconv.Itoa(cfg.BatchN), "-process-n", strconv.Itoa(cfg.ProcessN),
		"-workers", strconv.Itoa(cfg.Workers), "-concurrency", strconv.Itoa(cfg.Concurrency),
		"-pickup-n", strconv.Itoa(cfg.AsynqPickupN), "-stats-sizes", strings.Join(sizes, ","),
		"-stats-samples", strconv.Itoa(cfg.StatsSamples), "-timeout", cfg.Timeout.String(),
		"-fleet-n", strconv.Itoa(cfg.HTTPSubmitN), "-fleet-producers", strconv.Itoa(cfg.HTTPClients),
		"-fleet-concurrency", strconv.Itoa(cfg.FleetConcurrency)}
	if opts.Password != "" {
		args = append(args, "-password", opts.Password)
	}
	return &asynqRunner{bin: bin, dir: dir, args: args, logw: logw}, nil
}

// run runs one scenario in a fresh asynqbench process and reads its JSON lines.
func (a *asynqRunner) run(ctx context.Context, name string) ([]Result, error) {
	cmd := exec.CommandContext(ctx, a.bin, append(slices.Clone(a.args), "-scenario", name)...)
	cmd.Stderr = a.logw
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("asynqbench %s: %w", name, err)
	}
	return parseResults(outb)
}

// parseResults reads JSON lines of Results; other lines are ignored.
func parseResults(b []byte) ([]Result, error) {
	var out []Result
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("asynqbench output %q: %w", line, err)
		}
		r.System = cmp.Or(r.System, "asynq")
		out = append(out, r)
	}
	return out, nil
}
