package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

// A tiny run of every scenario of ours (asynq's side needs a module build
// and is left out): each prints its JSON line and its table row; the
// cluster scenario starts its two clusters (redis-cli, ~2 s). No timing is
// asserted.
func TestQuickRun(t *testing.T) {
	srv, err := redistest.Start(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cfg, err := parseConfig([]string{"-quick", "-asynq=false", "-redis-url", srv.URL() + "/0",
		"-enqueue-n", "200", "-batch-n", "500", "-process-n", "300", "-pickup-n", "5",
		"-streams", "10", "-progress-events", "1", "-poll-n", "5", "-status-duration", "100ms",
		"-stats-sizes", "100,1000", "-stats-samples", "5", "-http-submit-n", "200"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, logs bytes.Buffer
	if err := run(ctx, cfg, &out, &logs); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(out.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var c Comparison
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if c.Ours.N <= 0 || c.Ours.Value <= 0 {
			t.Errorf("%s measured nothing: %+v", c.Scenario, c.Ours)
		}
		seen[c.Scenario] = true
		if strings.HasPrefix(c.Scenario, "cluster_") {
			masters := 1
			if strings.HasSuffix(c.Scenario, "_3masters") {
				masters = 3
				if c.VsOneMaster <= 0 {
					t.Errorf("%s: no ratio to 1 master", c.Scenario)
				}
			}
			if len(c.Ours.Masters) != masters {
				t.Errorf("%s: %d masters reported, want %d", c.Scenario, len(c.Ours.Masters), masters)
			}
			for _, m := range c.Ours.Masters {
				if m.Keys <= 0 { // 6 shards, 2 on each master, all used
					t.Errorf("%s: master %s holds no keys", c.Scenario, m.Addr)
				}
			}
		}
	}
	for _, s := range []string{"enqueue_single", "enqueue_batch", "process", "pickup_idle", "sse_progress",
		"longpoll_wake", "http_status", "queue_stats_100", "queue_stats_1k", "bytes_per_pending",
		"cluster_enqueue_batch_1master", "cluster_enqueue_batch_3masters", "cluster_process_1master",
		"cluster_process_3masters", "cluster_process_wide_1master", "cluster_process_wide_3masters"} {
		if !seen[s] {
			t.Errorf("no JSON line for %s:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), "scenario") {
		t.Errorf("no table:\n%s", out.String())
	}
}

func TestParseConfigRefusesNonsense(t *testing.T) {
	for _, args := range [][]string{{"-scenarios", "nope"}, {"-stats-sizes", "1000,10"}, {"-producers", "0"},
		{"-cluster-shards", "0"}} {
		if _, err := parseConfig(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestBaselineScenario(t *testing.T) {
	for name, want := range map[string]string{
		"cluster_process_wide_3masters":  "cluster_process_wide_1master",
		"cluster_enqueue_batch_3masters": "cluster_enqueue_batch_1master",
		"cluster_process_1master":        "",
		"process":                        "",
	} {
		if got := baselineScenario(name); got != want {
			t.Errorf("baselineScenario(%q) = %q, want %q", name, got, want)
		}
		if want != "" && clusterScenario(strings.TrimSuffix(strings.TrimPrefix(want, "cluster_"), "_1master"), 3) != name {
			t.Errorf("clusterScenario does not name %q", name)
		}
	}
}

// The pipelines scenario's ratio over repeated runs is the median of the
// runs' own ratios, whichever run has the median rate; its target reads it.
func TestPipelinesCostRatioIsTheMedianOfTheRuns(t *testing.T) {
	run := func(rate, ratio float64) []Result {
		return []Result{{Scenario: "pipelines", System: ours, Unit: unitJobsPerS, Value: rate, CostRatio: ratio}}
	}
	cs := compareRuns([][]Result{run(100, 2.1), run(300, 1.4), run(200, 1.45)}, nil)
	if len(cs) != 1 || cs[0].Ours.Value != 200 || cs[0].Ours.CostRatio != 1.45 {
		t.Fatalf("compared %+v", cs)
	}
	if cs[0].Met == nil || !*cs[0].Met || !strings.Contains(cs[0].Ours.Note, "median of 3 runs' ratios 1.45x") {
		t.Fatalf("target %v, note %q", cs[0].Met, cs[0].Ours.Note)
	}
	cs = compareRuns([][]Result{run(100, 1.6)}, nil)
	if cs[0].Met == nil || *cs[0].Met || cs[0].Ours.CostRatio != 1.6 {
		t.Fatalf("one run of 1.6x: %+v", cs[0])
	}
}
