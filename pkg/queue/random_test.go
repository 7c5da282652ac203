package queue

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestRandomizedTransitions interleaves every operation of the engine at
// random — including stale writes from old runs — and checks after each
// step that every counter equals the size of its index and every job is
// in exactly the index of its status. Set QUEUE_RANDOM_STEPS to run longer.
func TestRandomizedTransitions(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	w := testWorker(c)
	steps := 600
	if s, err := strconv.Atoi(os.Getenv("QUEUE_RANDOM_STEPS")); err == nil {
		steps = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second+time.Duration(steps)*20*time.Millisecond)
	defer cancel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (steps %d)", seed, steps)
	rng := rand.New(rand.NewPCG(seed, 7))
	var ids []string
	var runs []*run // live and stale runs alike
	var pipes []string
	pick := func() string {
		if len(ids) == 0 {
			return "00000000-0000-4000-8000-000000000000"
		}
		return ids[rng.IntN(len(ids))]
	}
	pickRun := func() *run {
		if len(runs) == 0 {
			return nil
		}
		return runs[rng.IntN(len(runs))]
	}
	tolerated := func(err error) bool {
		var te *TransitionError
		var pe *PipelineStateError
		return err == nil || errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrJobNotFound) ||
			errors.As(err, &te) || errors.Is(err, ErrDuplicate) || errors.As(err, &pe) ||
			errors.Is(err, ErrInPipeline) || errors.Is(err, ErrPipelineNotFound)
	}
	ops := map[string]int{}
	for step := 0; step < steps; step++ {
		var op string
		var err error
		switch k := rng.IntN(16); k {
		case 0, 1:
			op = "submit"
			p := EnqueueParams{Type: []string{"a", "b"}[rng.IntN(2)], Queue: []string{"default", "other"}[rng.IntN(2)],
				Priority: rng.IntN(3)}
			mr := rng.IntN(3)
			p.MaxRetries = &mr
			if rng.IntN(4) == 0 {
				p.RunAt = time.Now().Add(time.Duration(rng.IntN(20)) * time.Millisecond)
			}
			if rng.IntN(5) == 0 {
				p.UniqueKey = "u" + strconv.Itoa(rng.IntN(5))
			}
			var e *Enqueued
			if e, err = c.Enqueue(ctx, p); err == nil {
				ids = append(ids, e.ID)
			}
		case 2:
			op = "claim"
			lease := time.Duration(1+rng.IntN(30)) * time.Millisecond
			var jobs []*Job
			jobs, err = c.claim(ctx, "w"+strconv.Itoa(rng.IntN(3)), []string{"default", "other"}, [][]string{{"a"}, {"b"}, {"a", "b"}}[rng.IntN(3)], 1+rng.IntN(3), lease)
			for _, j := range jobs {
				runs = append(runs, &run{w: w, job: j, token: j.token, ctx: ctx, cancel: func(error) {}})
			}
		case 3:
			op = "progress"
			if r := pickRun(); r != nil {
				r.reportProgress(float64(rng.IntN(101)), "step")
				r.flushProgress()
			}
		case 4:
			op = "complete"
			if r := pickRun(); r != nil {
				err = w.complete(r, map[string]int{"step": step})
			}
		case 5:
			op = "fail"
			if r := pickRun(); r != nil {
				cause := errors.New("boom")
				if rng.IntN(3) == 0 {
					cause = Permanent(cause)
				}
				_, err = w.fail(r, cause)
			}
		case 6:
			op = "requeue"
			if r := pickRun(); r != nil {
				w.requeue(r)
			}
		case 7:
			op = "cancel"
			err = c.Cancel(ctx, pick())
		case 8:
			op = "restart"
			err = c.Restart(ctx, pick())
		case 9:
			op = "reap"
			_, err = c.Reap(ctx)
		case 10:
			op = "promote"
			for _, q := range []string{"default", "other"} {
				if _, _, err = c.Promote(ctx, q); err != nil {
					break
				}
			}
		case 11:
			op = "expire"
			_, err = c.Expire(ctx, Retention{Completed: 5 * time.Millisecond, Failed: 10 * time.Millisecond,
				Cancelled: 15 * time.Millisecond})
		case 12:
			op = "delete"
			err = c.Delete(ctx, pick())
		case 13:
			op = "pipeline"
			var s *PipelineSubmitted
			if s, err = c.SubmitPipeline(ctx, randomDAG(rng, 1+rng.IntN(6))); err == nil {
				pipes = append(pipes, s.ID)
				for _, id := range s.Jobs {
					ids = append(ids, id)
				}
			}
		case 14:
			op = "cancel pipeline"
			if len(pipes) > 0 {
				err = c.CancelPipeline(ctx, pipes[rng.IntN(len(pipes))])
			}
		case 15:
			op = "restart pipeline"
			if len(pipes) > 0 {
				err = c.RestartPipeline(ctx, pipes[rng.IntN(len(pipes))])
			}
		}
		ops[op]++
		if !tolerated(err) {
			t.Fatalf("step %d %s: %v", step, op, err)
		}
		if err := c.CheckInvariants(ctx); err != nil {
			t.Fatalf("step %d after %s: %v", step, op, err)
		}
		if rng.IntN(10) == 0 {
			time.Sleep(time.Duration(rng.IntN(5)) * time.Millisecond)
		}
	}
	t.Logf("ops: %v", ops)
}

// randomDAG is a pipeline of n jobs of types a and b in two queues, each
// depending on up to three of the jobs before it.
func randomDAG(rng *rand.Rand, n int) PipelineParams {
	var p PipelineParams
	for i := range n {
		j := PipelineJob{Key: "k" + strconv.Itoa(i), EnqueueParams: EnqueueParams{Type: []string{"a", "b"}[rng.IntN(2)],
			Queue: []string{"default", "other"}[rng.IntN(2)], Priority: rng.IntN(3)}}
		mr := rng.IntN(3)
		j.MaxRetries = &mr
		for d := range i {
			if rng.IntN(3) == 0 && len(j.DependsOn) < 3 {
				j.DependsOn = append(j.DependsOn, "k"+strconv.Itoa(d))
			}
		}
		p.Jobs = append(p.Jobs, j)
	}
	return p
}
