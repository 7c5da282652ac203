package queue

import (
	"reflect"
	"testing"
	"time"
)

// claim.lua returns each job as it was before the claim and the client
// applies the claim's writes (claimedJob): the result must be the job as
// stored after the claim, field for field.
func TestClaimedJobMatchesStored(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	retries := 5
	if _, err := c.EnqueueBatch(ctx, []EnqueueParams{
		{Type: "a", Payload: []byte(`{"x":[1,2]}`), Priority: 3, MaxRetries: &retries,
			Timeout: time.Minute, UniqueKey: "u1"},
		{Type: "b"}, {Type: "c"}}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, runs []*run) {
		t.Helper()
		for _, r := range runs {
			stored, err := c.Get(ctx, r.job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.job, stored) {
				t.Fatalf("%s: claimed %+v\nstored %+v", what, r.job, stored)
			}
		}
	}
	runs := claimN(t, c, "w1", 2, time.Minute)
	if len(runs) != 2 {
		t.Fatalf("claimed %d jobs", len(runs))
	}
	check("first claim", runs)
	// A job claimed again after a requeue had a step, progress and an
	// attempt: the claim clears the first two and counts the run.
	r := runs[1]
	r.reportProgress(40, "halfway")
	r.flushProgress()
	r.w.requeue(r)
	again := claimN(t, c, "w2", 3, time.Minute)
	if len(again) != 2 || again[0].job.ID != r.job.ID {
		t.Fatalf("second claim: %d jobs", len(again))
	}
	check("claim after requeue", again)
	checkInvariants(t, c)
}
