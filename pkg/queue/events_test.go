package queue

import (
	"testing"
	"time"
)

// The hot scripts build their events as JSON text (lua/lib.lua
// add_event): every event must decode to the job's state as stored right
// after the change, including a free-text step that needs escaping.
func TestEventsMatchStoredState(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	hub := startHub(t, c)
	all := hub.Subscribe("")
	defer all.Close()
	// expect reads the next n events and compares each with its job.
	expect := func(what string, n int) {
		t.Helper()
		for range n {
			var ev Event
			select {
			case ev = <-all.C:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: no event", what)
			}
			j, err := c.Get(ctx, ev.JobID)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			want := Event{JobID: j.ID, Status: j.Status, Progress: j.Progress,
				CurrentStep: j.CurrentStep, Version: j.Version,
				UpdatedAtMS: j.UpdatedAt.UnixMilli(), Type: j.Type, Queue: j.Queue}
			if ev != want {
				t.Fatalf("%s: event %+v, stored %+v", what, ev, want)
			}
		}
	}
	if _, err := c.EnqueueBatch(ctx, []EnqueueParams{{Type: "a:b.c-d_e", Queue: "q.1-x_y"},
		{Type: "plain"}}); err != nil {
		t.Fatal(err)
	}
	// A new job publishes no event (no one can be watching it yet).
	runs := claimN(t, c, "w", 2, time.Minute)
	if len(runs) != 1 {
		t.Fatalf("claimed %d jobs from the default queue", len(runs))
	}
	expect("claim", 1)
	jobs, err := c.claim(ctx, "w", []string{"q.1-x_y"}, []string{"a:b.c-d_e", "plain"}, 2, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim q.1-x_y: %v %v", jobs, err)
	}
	expect("claim q.1-x_y", 1)
	r := runs[0]
	for _, step := range []string{"plain step", `quote " and backslash \ and slash /`,
		"tab\tnewline\nnul\x00 del\x7f", "ünïcödé ✓", ""} {
		r.reportProgress(12.5, step)
		r.flushProgress()
		expect("progress "+step, 1)
	}
	r.reportProgress(100.0/3, "third")
	r.flushProgress()
	expect("progress 1/3", 1)
	w := testWorker(c)
	batch := []*completion{{r: r, done: make(chan error, 1)},
		{r: &run{w: w, job: jobs[0], token: jobs[0].token}, done: make(chan error, 1)}}
	w.completeBatch(batch)
	for _, cp := range batch {
		if err := <-cp.done; err != nil {
			t.Fatal(err)
		}
	}
	expect("complete", 2)
}
