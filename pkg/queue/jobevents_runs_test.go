package queue

import (
	"fmt"
	"testing"
	"time"
)

// A job run, ended, restarted and run again — failed, cancelled while
// running with no report, reaped, completed — keeps every state event a
// subscriber saw from its first claim on, in order: the claims' and the
// completion's events too, which are kept in the record rather than
// pushed (lua/lib.lua CLAIM_EVENT).
func TestHistoryKeepsEveryRunsEvents(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	hub := startHub(t, c)
	id := mustEnqueue(t, c, EnqueueParams{Type: "runs"})
	sub := hub.Subscribe(id)
	defer sub.Close()
	var seen []string
	// next waits for the event of the step just taken.
	next := func(what string) {
		t.Helper()
		select {
		case ev := <-sub.C:
			seen = append(seen, fmt.Sprintf("%d %s %g %q %d", ev.Version, ev.Status, ev.Progress, ev.CurrentStep, ev.UpdatedAtMS))
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no event", what)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	l := leaseByType(t, c, "runs")
	next("claim 1")
	_, err := c.FailLease(ctx, id, l.Token, "boom", false)
	must(err)
	next("fail")
	must(c.Restart(ctx, id))
	next("restart")
	leaseByType(t, c, "runs")
	next("claim 2")
	must(c.Cancel(ctx, id))
	next("cancel while running")
	must(c.Restart(ctx, id))
	next("restart")
	if jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"runs"}, 1, 20*time.Millisecond); err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	next("claim 3")
	waitFor(t, 5*time.Second, "the run reaped", func() bool {
		r, err := c.Reap(ctx)
		return err == nil && r != (ReapResult{})
	})
	next("reap")
	l = leaseByType(t, c, "runs")
	next("claim 4")
	p := 50.0
	must(c.HeartbeatLease(ctx, id, l.Token, time.Minute, &p, "half", time.Minute))
	next("progress")
	must(c.CompleteLease(ctx, id, l.Token, ""))
	next("complete")

	h, err := c.Events(ctx, id, 0, HistoryStates)
	must(err)
	var kept []string
	for _, ev := range h.Events {
		kept = append(kept, fmt.Sprintf("%d %s %g %q %d", ev.Version, ev.Status, ev.Progress, ev.CurrentStep, ev.UpdatedAtMS))
	}
	if fmt.Sprint(kept) != fmt.Sprint(seen) {
		t.Fatalf("kept\n %q\nseen\n %q", kept, seen)
	}
	if h.LastState == nil || h.LastState.Version != h.Job.Version || h.LastState.Status != StateCompleted {
		t.Fatalf("last state %+v of job version %d", h.LastState, h.Job.Version)
	}
	// After an id between two kept in the record: the rest only.
	after, err := c.Events(ctx, id, h.Events[len(h.Events)-3].Version, HistoryStates)
	must(err)
	if len(after.Events) != 2 || after.Events[0].Progress != 50 || after.Events[1].Status != StateCompleted {
		t.Fatalf("after %d: %+v", h.Events[len(h.Events)-3].Version, after.Events)
	}
	checkInvariants(t, c)
}
