package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

// Payload defaults and limits of the demo handler.
const (
	demoDefaultSteps  = 5
	demoDefaultStepMS = 200
	demoMaxSteps      = 10000
	demoMaxStepMS     = 600000
)

// demoParams is a validated demo payload.
type demoParams struct {
	steps  int
	stepMS int
	failAt int // 0: never
}

// demoResult is the result of a demo job.
type demoResult struct {
	Steps  int `json:"steps"`
	StepMS int `json:"step_ms"`
}

// parseDemoPayload validates {"steps": 1-10000 (5), "step_ms": 0-600000
// (200), "fail_at": 0-steps (0: never)}.
func parseDemoPayload(raw json.RawMessage) (demoParams, error) {
	var in struct {
		Steps  *int `json:"steps"`
		StepMS *int `json:"step_ms"`
		FailAt *int `json:"fail_at"`
	}
	if err := decodePayload(raw, &in); err != nil {
		return demoParams{}, err
	}
	var p demoParams
	var err error
	if p.steps, err = intParam("steps", in.Steps, demoDefaultSteps, 1, demoMaxSteps); err != nil {
		return demoParams{}, err
	}
	if p.stepMS, err = intParam("step_ms", in.StepMS, demoDefaultStepMS, 0, demoMaxStepMS); err != nil {
		return demoParams{}, err
	}
	if p.failAt, err = intParam("fail_at", in.FailAt, 0, 0, p.steps); err != nil {
		return demoParams{}, err
	}
	return p, nil
}

// handleDemo sleeps through the payload's steps, reporting progress after
// each, and fails (retryably) at step fail_at when one is given.
func handleDemo(ctx context.Context, job *queue.ActiveJob) (any, error) {
	p, err := parseDemoPayload(job.Payload)
	if err != nil {
		return nil, err
	}
	step := time.Duration(p.stepMS) * time.Millisecond
	var timer *time.Timer // none for steps of no time: nothing to wait for
	if step > 0 {
		timer = time.NewTimer(step)
		defer timer.Stop()
	}
	for i := 1; i <= p.steps; i++ {
		if timer != nil && i > 1 {
			timer.Reset(step)
		}
		if timer != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("demo: stopped in step %d of %d: %w", i, p.steps, context.Cause(ctx))
		}
		if i == p.failAt {
			return nil, fmt.Errorf("demo: failure injected at step %d", i)
		}
		job.Progress(float64(i)/float64(p.steps)*100, fmt.Sprintf("Processing step %d of %d", i, p.steps))
	}
	return demoResult{Steps: p.steps, StepMS: p.stepMS}, nil
}
