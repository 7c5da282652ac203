package queue

import (
	"errors"
	"testing"
	"time"
)

// The ended pipelines are one index of every status: a page of pipelines
// kept (here, the cancelled ones, forever) must not hold back a completed
// one behind them whose retention ran out.
func TestPipelineRetentionPagesPastKeptPipelines(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	one := func() *PipelineSubmitted {
		return mustSubmitPipeline(t, c, PipelineParams{Jobs: []PipelineJob{{Key: "a", EnqueueParams: EnqueueParams{Type: "t"}}}})
	}
	var kept []string
	for range maintenanceBatch + 20 {
		s := one()
		if err := c.CancelPipeline(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, s.ID)
	}
	waitRedisClock(t, c, 2*time.Millisecond)
	done := one()
	runOne(t, c, done, "a", "ok")
	wantPipeline(t, c, done.ID, PipelineCompleted)
	waitRedisClock(t, c, 5*time.Millisecond)
	n, err := c.Expire(ctx, Retention{Completed: time.Millisecond, Failed: time.Millisecond})
	if err != nil || n != 1 {
		t.Fatalf("expire: %d jobs removed, %v; want the completed pipeline's one", n, err)
	}
	if _, err := c.GetPipeline(ctx, done.ID); !errors.Is(err, ErrPipelineNotFound) {
		t.Fatalf("the completed pipeline: %v, want it gone", err)
	}
	for _, id := range []string{kept[0], kept[len(kept)-1]} {
		wantPipeline(t, c, id, PipelineCancelled)
	}
	checkInvariants(t, c)
}
