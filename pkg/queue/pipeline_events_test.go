package queue

import (
	"testing"
	"time"
)

// A pipeline job's events are kept as any job's: its run and its
// completion, ended by the pipeline's own script, are in its history.
func TestPipelineJobEventsKept(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	p, err := c.SubmitPipeline(ctx, PipelineParams{Jobs: []PipelineJob{
		{Key: "a", EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "b", DependsOn: []string{"a"}, EnqueueParams: EnqueueParams{Type: "t"}}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Lease(ctx, LeaseParams{WorkerID: "w", Types: []string{"t"}, Max: 1, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 1 || res.Jobs[0].Job.ID != p.Jobs["a"] {
		t.Fatalf("lease: %+v %v", res, err)
	}
	if err := c.CompleteLease(ctx, p.Jobs["a"], res.Jobs[0].Token, `{"ok":1}`); err != nil {
		t.Fatal(err)
	}
	ev, err := c.Events(ctx, p.Jobs["a"], 0, HistoryStates)
	if err != nil {
		t.Fatal(err)
	}
	var states []State
	for _, e := range ev.Events {
		states = append(states, e.Status)
	}
	if len(states) != 2 || states[0] != StateRunning || states[1] != StateCompleted {
		t.Fatalf("the parent's history: %v", states)
	}
	checkInvariants(t, c)
}
