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

// A completion writes neither progress nor step: a completed job reads
// as 100 and "Job completed successfully" wherever it is read (Get, List,
// its kept events), whatever a progress report left in its hash.
func TestCompletedJobReadsAsDoneWhateverItsLastReport(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	ctx := ctxT(t)
	id := mustEnqueue(t, c, EnqueueParams{Type: "t"})
	runs := claimN(t, c, "w", 1, time.Minute)
	if len(runs) != 1 {
		t.Fatal("nothing claimed")
	}
	for _, err := range c.luaProgress(ctx, []progressReport{{id: id, token: runs[0].token, percent: 50, step: "half way"}}, time.Minute) {
		if err != nil {
			t.Fatal(err)
		}
	}
	completeTogether(t, c, runs[0])
	if p := bu.rdb.HGet(ctx, c.shards.of(id).job(id), "progress").Val(); p != "50" {
		t.Fatalf("the report's progress in the hash: %q (the completion wrote it?)", p)
	}
	j, err := c.Get(ctx, id)
	if err != nil || j.Progress != 100 || j.CurrentStep != completedStep {
		t.Fatalf("Get: %+v %v", j, err)
	}
	page, err := c.List(ctx, ListParams{Status: StateCompleted})
	if err != nil || len(page.Jobs) != 1 || page.Jobs[0].Progress != 100 || page.Jobs[0].CurrentStep != completedStep {
		t.Fatalf("List: %+v %v", page, err)
	}
	evs, err := c.Events(ctx, id, 0, HistoryStates)
	if err != nil || len(evs.Events) == 0 {
		t.Fatalf("events: %+v %v", evs, err)
	}
	last := evs.Events[len(evs.Events)-1]
	if last.Status != StateCompleted || last.Progress != 100 || last.CurrentStep != completedStep {
		t.Fatalf("last event %+v", last)
	}
}
