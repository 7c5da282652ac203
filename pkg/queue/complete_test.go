package queue

import (
	"errors"
	"testing"
	"time"
)

// One complete.lua call acknowledges several runs, each on its own: a run
// that lost its job is refused while the others complete.
func TestCompleteBatchDecidesEachRun(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	for range 3 {
		mustEnqueue(t, c, EnqueueParams{Type: "t"})
	}
	jobs, err := c.claim(ctx, "w1", []string{DefaultQueue}, []string{"t"}, 3, time.Minute)
	if err != nil || len(jobs) != 3 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	if err := c.Cancel(ctx, jobs[1].ID); err != nil {
		t.Fatal(err)
	}
	w := testWorker(c)
	w.runCtx = ctx
	batch := make([]*completion, len(jobs))
	for i, j := range jobs {
		batch[i] = &completion{r: &run{w: w, job: j, token: j.token}, body: `{"i":1}`, done: make(chan error, 1)}
	}
	w.completeBatch(batch)
	for i, cp := range batch {
		err := <-cp.done
		if i == 1 {
			var lost *LeaseLostError
			if !errors.As(err, &lost) || lost.Status != StateCancelled {
				t.Fatalf("run of the cancelled job: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		j, _ := c.Get(ctx, jobs[i].ID)
		if j.Status != StateCompleted || string(j.Result) != `{"i":1}` || j.Version != 3 {
			t.Fatalf("job %d after complete: %+v", i, j)
		}
	}
	checkInvariants(t, c)
}
