package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one system's measurement of one scenario. bench/asynq's
// asynqbench prints the same shape, one JSON object per line, so that the
// two sides are read and compared alike.
type Result struct {
	Scenario string `json:"scenario"`
	System   string `json:"system"`
	// N is how many operations (jobs, requests, samples) were measured.
	N int `json:"n"`
	// Value is the headline: a rate (Unit "/s"), bytes, or the p50 of a
	// latency in ms.
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// P50Ms and P99Ms are set for latencies.
	P50Ms float64 `json:"p50_ms,omitempty"`
	P99Ms float64 `json:"p99_ms,omitempty"`
	// Seconds is the wall time the measurement took.
	Seconds float64 `json:"seconds"`
	// Note says how the system was driven when it differs from the other.
	Note string `json:"note,omitempty"`
	// Runs is how many repetitions Value is the median of.
	Runs int `json:"runs,omitempty"`
	// Masters is each master's share, in the cluster scenario, and
	// BenchCPUPercent the CPU jobbench itself (producers, workers) used
	// meanwhile (100 = one core).
	Masters         []MasterStat `json:"masters,omitempty"`
	BenchCPUPercent float64      `json:"bench_cpu_pct,omitempty"`
	// RedisUsPerJob is Redis's CPU per job (µs) during the measured part,
	// RedisCallsPerJob the commands Redis ran per job (scripts and the
	// calls inside them); see redisMeter.
	RedisUsPerJob    float64 `json:"redis_us_per_job,omitempty"`
	RedisCallsPerJob float64 `json:"redis_calls_per_job,omitempty"`
	// CostRatio is, in the pipelines scenario, a pipeline job's Redis CPU
	// over a plain job's in the same run (with -repeat, the median of the
	// runs' ratios: each run's own pair is what the noise moves least).
	CostRatio float64 `json:"cost_ratio,omitempty"`
}

func (r Result) latency() bool { return r.Unit == "ms" }

// Units of Result.Value.
const (
	unitJobsPerS = "jobs/s"
	unitReqPerS  = "req/s"
	unitMs       = "ms"
	unitBytes    = "B/job"
)

// rate builds a throughput result of n operations in d.
func rate(scenario, system, unit string, n int, d time.Duration) Result {
	return Result{Scenario: scenario, System: system, N: n, Unit: unit,
		Value: float64(n) / d.Seconds(), Seconds: d.Seconds()}
}

// latencies builds a latency result from samples taken over d.
func latencies(scenario, system string, samples []time.Duration, d time.Duration) Result {
	slices.Sort(samples)
	r := Result{Scenario: scenario, System: system, N: len(samples), Unit: unitMs, Seconds: d.Seconds()}
	if len(samples) > 0 {
		r.P50Ms = ms(quantile(samples, 0.50))
		r.P99Ms = ms(quantile(samples, 0.99))
		r.Value = r.P50Ms
	}
	return r
}

// quantile of sorted samples, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// median returns the run whose Value is the median of runs (for
// latencies, ordered by p99 then p50 would be arbitrary: the headline
// p50 decides, and the p99 of the same run is kept).
func median(runs []Result) Result {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b Result) int {
		switch {
		case a.Value < b.Value:
			return -1
		case a.Value > b.Value:
			return 1
		}
		return 0
	})
	m := sorted[(len(sorted)-1)/2]
	m.Runs = len(runs)
	return m
}

// Comparison is one scenario's line of the report: our result, asynq's
// when it has the scenario, how many times better we are, and the target.
type Comparison struct {
	Scenario string  `json:"scenario"`
	Ours     Result  `json:"jobqueue"`
	Asynq    *Result `json:"asynq,omitempty"`
	// Ratio is how many times better we are: ours/asynq for rates,
	// asynq/ours for latencies and bytes (p50 for latencies).
	Ratio    float64 `json:"ratio,omitempty"`
	RatioP99 float64 `json:"ratio_p99,omitempty"`
	Target   string  `json:"target,omitempty"`
	// Met is nil when the scenario has no target.
	Met *bool `json:"met,omitempty"`
	// VsOneMaster is, for a cluster result of several masters, its rate
	// over the same workload's on 1 master (with -repeat, the ratio of
	// the two medians).
	VsOneMaster float64 `json:"vs_1_master,omitempty"`
}

// compare pairs ours with asynq's result and checks the target.
func compare(ours Result, asynq *Result, t target) Comparison {
	c := Comparison{Scenario: ours.Scenario, Ours: ours, Asynq: asynq, Target: t.text}
	if asynq != nil && asynq.Value > 0 && ours.Value > 0 {
		switch {
		case ours.latency():
			c.Ratio = round2(asynq.P50Ms / ours.P50Ms)
			if ours.P99Ms > 0 {
				c.RatioP99 = round2(asynq.P99Ms / ours.P99Ms)
			}
		case ours.Unit == unitBytes:
			c.Ratio = round2(asynq.Value / ours.Value)
		default:
			c.Ratio = round2(ours.Value / asynq.Value)
		}
	}
	if t.check != nil {
		met := t.check(c)
		c.Met = &met
	}
	return c
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// target is a scenario's goal (docs/benchmarks.md lists them).
type target struct {
	text  string
	check func(Comparison) bool
}

func ratioAtLeast(x float64) target {
	return target{text: fmt.Sprintf("≥ %g× asynq", x), check: func(c Comparison) bool { return c.Ratio >= x }}
}

func latencyAtMost(p50, p99 float64) target {
	return target{text: fmt.Sprintf("p50 ≤ %g ms, p99 ≤ %g ms", p50, p99),
		check: func(c Comparison) bool { return c.Ours.P50Ms <= p50 && c.Ours.P99Ms <= p99 }}
}

// ratioAndRedisCPU: at least x times asynq's rate, at most us µs of Redis
// CPU per job.
func ratioAndRedisCPU(x, us float64) target {
	return target{text: fmt.Sprintf("≥ %g× asynq, ≤ %g µs Redis/job", x, us),
		check: func(c Comparison) bool { return c.Ratio >= x && c.Ours.RedisUsPerJob <= us }}
}

// rateAndP99: at least rate per second with requests' p99 at most p99 ms.
func rateAndP99(rate, p99 float64) target {
	return target{text: fmt.Sprintf("≥ %g jobs/s, p99 ≤ %g ms", rate, p99),
		check: func(c Comparison) bool { return c.Ours.Value >= rate && c.Ours.P99Ms <= p99 }}
}

// costRatioAtMost: a job costs Redis at most x times a plain job's CPU.
func costRatioAtMost(x float64) target {
	return target{text: fmt.Sprintf("≤ %g× a plain job's Redis CPU", x),
		check: func(c Comparison) bool { return c.Ours.CostRatio > 0 && c.Ours.CostRatio <= x }}
}

func p99AtMost(p99 float64) target {
	return target{text: fmt.Sprintf("p99 ≤ %g ms", p99), check: func(c Comparison) bool { return c.Ours.P99Ms <= p99 }}
}

func bytesAtMost(b float64) target {
	return target{text: fmt.Sprintf("≤ %g B/job", b), check: func(c Comparison) bool { return c.Ours.Value <= b }}
}

// format renders one side's result for the table.
func format(r *Result) string {
	switch {
	case r == nil:
		return "—"
	case r.latency():
		return fmt.Sprintf("p50 %s  p99 %s ms", num(r.P50Ms), num(r.P99Ms))
	case r.P99Ms > 0:
		return fmt.Sprintf("%s %s (p50 %s  p99 %s ms)", num(r.Value), r.Unit, num(r.P50Ms), num(r.P99Ms))
	default:
		return num(r.Value) + " " + r.Unit
	}
}

// formatRedis renders a result's Redis cost per job, when it was measured.
func formatRedis(r *Result) string {
	if r == nil || r.RedisUsPerJob == 0 {
		return ""
	}
	return fmt.Sprintf("%s µs, %s calls", num(r.RedisUsPerJob), num(r.RedisCallsPerJob))
}

// num prints a number with about three significant digits.
func num(x float64) string {
	switch {
	case x >= 1000:
		return fmt.Sprintf("%.0f", x)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	case x >= 1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3f", x)
}

func formatRatio(c Comparison) string {
	switch {
	case c.VsOneMaster != 0:
		return num(c.VsOneMaster) + "× vs 1 master"
	case c.Ratio == 0:
		return ""
	case c.RatioP99 != 0:
		return fmt.Sprintf("%s× / %s×", num(c.Ratio), num(c.RatioP99))
	}
	return num(c.Ratio) + "×"
}

func formatMet(c Comparison) string {
	switch {
	case c.Met == nil:
		return ""
	case *c.Met:
		return "met"
	}
	return "NOT met"
}

// writeTable prints the comparisons as an aligned text table.
func writeTable(w io.Writer, cs []Comparison) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tjobqueue\tasynq v0.26.0\tours vs asynq\tRedis/job: ours\tasynq\ttarget\t")
	fmt.Fprintln(tw, "--------\t--------\t-------------\t-------------\t---------------\t-----\t------\t")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s %s\t\n", c.Scenario, format(&c.Ours), format(c.Asynq),
			formatRatio(c), formatRedis(&c.Ours), formatRedis(c.Asynq), c.Target, formatMet(c))
	}
	_ = tw.Flush()
	writeMasters(w, cs)
}

// writeMasters prints, under the table, each cluster result's keys and
// Redis CPU per master.
func writeMasters(w io.Writer, cs []Comparison) {
	first := true
	for _, c := range cs {
		if len(c.Ours.Masters) == 0 {
			continue
		}
		if first {
			fmt.Fprintln(w, "\nper master (keys after the workload; Redis CPU during it, 100% = one core; jobbench = this process's CPU):")
			first = false
		}
		fmt.Fprintf(w, "%s: %s\n", c.Scenario, formatMasters(c.Ours))
	}
}

// formatMasters renders a cluster result's masters, after the Redis CPU
// all of them spent per job.
func formatMasters(r Result) string {
	var cpu float64
	parts := make([]string, len(r.Masters))
	for i, m := range r.Masters {
		parts[i] = fmt.Sprintf("%d keys, %s s CPU (%.0f%%)", m.Keys, num(m.CPUSeconds), m.CPUPercent)
		cpu += m.CPUSeconds
	}
	return fmt.Sprintf("%s µs Redis CPU/job, jobbench at %.0f%%; ", num(1e6*cpu/float64(max(r.N, 1))), r.BenchCPUPercent) +
		strings.Join(parts, " | ")
}

// writeMarkdown prints the comparisons as a Markdown table (for docs/benchmarks.md).
func writeMarkdown(w io.Writer, cs []Comparison) {
	fmt.Fprintln(w, "| scenario | jobqueue | asynq v0.26.0 | ours vs asynq | Redis/job: ours | asynq | target |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, c := range cs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", c.Scenario, format(&c.Ours), format(c.Asynq),
			formatRatio(c), formatRedis(&c.Ours), formatRedis(c.Asynq), strings.TrimSpace(c.Target+" "+formatMet(c)))
	}
	for _, c := range cs {
		if len(c.Ours.Masters) > 0 {
			fmt.Fprintf(w, "\n%s per master: %s\n", c.Scenario, formatMasters(c.Ours))
		}
	}
}

// writeJSON prints one JSON line.
func writeJSON(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintln(w, string(b))
}
