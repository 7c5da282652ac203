package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/compileo/jobqueue/pkg/queue"
)

// pipelineWidth is the jobs of each pipeline of the pipelines scenario: a
// root, eight jobs that depend on it, and one that joins them.
const pipelineWidth = 10

// pipelines: PipelinesN pipelines of pipelineWidth no-op jobs each
// (root → 8 → join) submitted, then drained as process drains plain jobs;
// then as many plain jobs, submitted and drained alike. The rate is the
// pipelines' jobs per second; the note compares their Redis CPU per job
// (submit + run) with the plain jobs' (goal: at most 1.5 times).
func (b *bench) pipelines(ctx context.Context) ([]Result, error) {
	n := b.cfg.PipelinesN * pipelineWidth
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	piped, err := b.submitThenRun(ctx, n, func() error { return b.fillPipelines(ctx, b.cfg.PipelinesN) },
		func() (Result, error) {
			return b.drain(ctx, n, b.cfg.Workers, b.cfg.Concurrency, b.pipelineStage)
		})
	if err != nil {
		return nil, err
	}
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	plain, err := b.submitThenRun(ctx, n, func() error { return b.fillWith(ctx, typeNoop, n, 500, b.pipelinePayload()) },
		func() (Result, error) {
			return b.drain(ctx, n, b.cfg.Workers, b.cfg.Concurrency, func(context.Context, *queue.ActiveJob) {})
		})
	if err != nil {
		return nil, err
	}
	piped.Scenario = "pipelines"
	ratio := 0.0
	if plain.RedisUsPerJob > 0 {
		ratio = round2(piped.RedisUsPerJob / plain.RedisUsPerJob)
	}
	piped.CostRatio = ratio
	what := "no-op jobs"
	if b.cfg.PipelinesInputs {
		what = "jobs reading their inputs"
	}
	piped.Note = fmt.Sprintf("%d pipelines of %d %s (root → 8 → join), %s; Redis µs/job %s vs %s for plain jobs (%.2fx), calls/job %s vs %s",
		b.cfg.PipelinesN, pipelineWidth, what, piped.Note, num(piped.RedisUsPerJob), num(plain.RedisUsPerJob), ratio,
		num(piped.RedisCallsPerJob), num(plain.RedisCallsPerJob))
	return []Result{piped}, nil
}

// pipelineStage is the handler of the jobs of pipelines: nothing, or with
// PipelinesInputs a read of the job's inputs (what was read is dropped:
// the scenario measures what the read costs Redis).
func (b *bench) pipelineStage(ctx context.Context, j *queue.ActiveJob) {
	if b.cfg.PipelinesInputs {
		_, _ = j.Inputs(ctx)
	}
}

// pipelinePayload is the payload of each job of the pipelines scenario:
// PipelinesPayload bytes of JSON, or none.
func (b *bench) pipelinePayload() json.RawMessage {
	if b.cfg.PipelinesPayload <= 0 {
		return nil
	}
	pad := max(b.cfg.PipelinesPayload-8, 0)
	return json.RawMessage(`{"d":"` + strings.Repeat("x", pad) + `"}`)
}

// fillPipelines submits n pipelines with the configured producers.
func (b *bench) fillPipelines(ctx context.Context, n int) error {
	var next atomic.Int64
	return parallel(b.cfg.Producers, func(int) error {
		for next.Add(1) <= int64(n) {
			job := queue.EnqueueParams{Type: typeNoop, Payload: b.pipelinePayload()}
			p := queue.PipelineParams{Jobs: []queue.PipelineJob{{Key: "root", EnqueueParams: job}}}
			var mid []string
			for i := range pipelineWidth - 2 {
				k := "mid" + strconv.Itoa(i)
				mid = append(mid, k)
				p.Jobs = append(p.Jobs, queue.PipelineJob{Key: k, DependsOn: []string{"root"}, EnqueueParams: job})
			}
			p.Jobs = append(p.Jobs, queue.PipelineJob{Key: "join", DependsOn: mid, EnqueueParams: job})
			if _, err := b.client.SubmitPipeline(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
}
