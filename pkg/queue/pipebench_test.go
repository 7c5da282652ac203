package queue

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

// BenchmarkPipelineTransitions moves b.N jobs of pipelines of ten (a
// root, eight jobs below it, one joining them) through their hot
// transitions — submit (three pipelines per call), then in three waves
// claim, read of the parents' results, complete, in batches of 32 — on a
// redis-server of its own, and
// reports what each cost Redis per job, as BenchmarkTransitions does for
// plain jobs (with -v, also each wave's completions alone: the roots, the
// jobs below them, the joins):
//
//	go test ./pkg/queue -run XXX -bench PipelineTransitions -benchtime 8000x -v
func BenchmarkPipelineTransitions(b *testing.B) {
	srv := redistest.New(b, nil)
	c, bu := setupOn(b, srv)
	ctx := context.Background()
	const batch, width = 32, 10
	m := &redisMeter{b: b, rdb: bu}
	p := PipelineParams{Jobs: []PipelineJob{{Key: "root", EnqueueParams: EnqueueParams{Type: "x", Payload: []byte(`{"n":1}`)}}}}
	var mid []string
	for i := range width - 2 {
		k := "mid" + strconv.Itoa(i)
		mid = append(mid, k)
		p.Jobs = append(p.Jobs, PipelineJob{Key: k, DependsOn: []string{"root"}, EnqueueParams: EnqueueParams{Type: "x"}})
	}
	p.Jobs = append(p.Jobs, PipelineJob{Key: "join", DependsOn: mid, EnqueueParams: EnqueueParams{Type: "x"}})
	n := max(b.N/width, 1) * width
	b.ResetTimer()
	m.start()
	// Three pipelines per call (30 jobs), as concurrent submissions are
	// gathered (submitPipeline), beside BenchmarkTransitions' 32 plain
	// jobs per call.
	for left := n / width; left > 0; left -= 3 {
		var ps []*pipeSubmit
		for range min(left, 3) {
			one := p
			s, _, err := c.preparePipeline(ctx, &one)
			if err != nil {
				b.Fatal(err)
			}
			ps = append(ps, s)
		}
		for _, r := range c.luaPipelineSubmit(ctx, ps) {
			if r.err != nil {
				b.Fatal(r.err)
			}
		}
	}
	m.report("submit")
	w := testWorker(c)
	var phase [3]struct {
		cpu   float64
		calls int64
	}
	lap := func(i int) {
		m.edge([]string{"claim", "inputs", "complete"}[i])
		cpu, calls := m.read()
		phase[i].cpu += cpu - m.cpu
		phase[i].calls += calls - m.calls
		m.cpu, m.calls = m.read()
	}
	for wave := 0; wave < 3; wave++ {
		var jobs []*Job
		for {
			js, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"x"}, batch, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if len(js) == 0 {
				break
			}
			jobs = append(jobs, js...)
		}
		lap(0)
		for k := 0; k < len(jobs); k += batch {
			if _, err := c.inputsOf(ctx, jobs[k:min(k+batch, len(jobs))]); err != nil {
				b.Fatal(err)
			}
		}
		lap(1)
		for k := 0; k < len(jobs); k += batch {
			var comps []*completion
			for _, j := range jobs[k:min(k+batch, len(jobs))] {
				r := &run{w: w, job: j, token: j.token, ctx: ctx, cancel: func(error) {}}
				comps = append(comps, &completion{r: r, done: make(chan error, 1)})
			}
			errs, err := c.completeAny(ctx, completeRuns(comps))
			if err != nil {
				b.Fatal(err)
			}
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		cpu, calls := m.read()
		if testing.Verbose() {
			b.Logf("wave %d: %d jobs, complete %.1f µs/job, %.2f calls/job", wave, len(jobs),
				(cpu-m.cpu)*1e6/float64(len(jobs)), float64(calls-m.calls)/float64(len(jobs)))
		}
		lap(2)
	}
	for i, name := range []string{"claim", "inputs", "complete"} {
		b.ReportMetric(phase[i].cpu*1e6/float64(n), name+"-redis-µs/job")
		b.ReportMetric(float64(phase[i].calls)/float64(n), name+"-calls/job")
	}
}
