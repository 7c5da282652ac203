package queue

import (
	"errors"
	"sort"
	"strings"
	"testing"
	"time"
)

// withCallbacks gives every job of p and p itself a callback URL.
func withCallbacks(p PipelineParams) PipelineParams {
	for i := range p.Jobs {
		p.Jobs[i].CallbackURL = "https://hooks.example.com/job/" + p.Jobs[i].Key
	}
	p.CallbackURL = "https://hooks.example.com/pipeline"
	return p
}

// claimAllDeliveries claims every due delivery and acknowledges each as
// delivered; it returns their ids, sorted, and the pipeline ones.
func claimAllDeliveries(t *testing.T, c *Client) ([]string, []*Job) {
	t.Helper()
	ctx := ctxT(t)
	jobs, err := c.ClaimDeliveries(ctx, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var pipes []*Job
	for _, j := range jobs {
		ids = append(ids, j.Delivery.ID)
		if j.Delivery.Pipeline != nil {
			pipes = append(pipes, j)
		}
		if err := c.AckDelivery(ctx, j, DeliveryAttempt{At: time.Now(), StatusCode: 204}, DeliveryDelivered, time.Time{}); err != nil {
			t.Fatalf("ack %s: %v", j.Delivery.ID, err)
		}
	}
	sort.Strings(ids)
	return ids, pipes
}

// Every end of a job of a pipeline — completed, failed for good, and the
// cancels below the failure — gets its delivery, and the pipeline's end
// one of its own carrying its record; a restart and a second end make a
// new one, under another id.
func TestPipelineCallbacksOnEveryEnd(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	s := mustSubmitPipeline(t, c, withCallbacks(diamond()))
	runOne(t, c, s, "a", "ok")
	runs := claimN(t, c, "w", 10, time.Minute)
	for _, r := range runs {
		var err error
		if r.job.PipelineKey == "b" {
			_, err = r.w.fail(r, Permanent(errors.New("bad input")))
		} else {
			err = r.w.complete(r, "ok")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	wantStatuses(t, c, s, map[string]State{"b": StateFailed, "c": StateCompleted, "d": StateCancelled})
	p := wantPipeline(t, c, s.ID, PipelineFailed)
	if p.CallbackURL != "https://hooks.example.com/pipeline" || p.Delivery == nil || p.Delivery.State != DeliveryPending {
		t.Fatalf("pipeline's callback %q %+v", p.CallbackURL, p.Delivery)
	}
	checkInvariants(t, c)
	ids, pipes := claimAllDeliveries(t, c)
	if len(ids) != 5 || len(pipes) != 1 {
		t.Fatalf("deliveries %v, want the 4 jobs' and the pipeline's", ids)
	}
	pj := pipes[0]
	rec := pj.Delivery.Pipeline
	if pj.ID != s.ID || pj.CallbackURL != p.CallbackURL || pj.Status != StateFailed || pj.CompletedAt.IsZero() ||
		rec.Status != PipelineFailed || len(rec.Jobs) != 4 || rec.Jobs[3].Job == nil || rec.Jobs[3].Job.Status != StateCancelled {
		t.Fatalf("pipeline delivery %+v, record %+v", pj, rec)
	}
	first := pj.Delivery.ID
	for key, id := range s.Jobs {
		j, _ := c.Get(ctx, id)
		if j.Delivery == nil || j.Delivery.State != DeliveryDelivered {
			t.Fatalf("job %s: delivery %+v", key, j.Delivery)
		}
	}
	if p := wantPipeline(t, c, s.ID, PipelineFailed); p.Delivery.State != DeliveryDelivered || p.Delivery.Tries != 1 {
		t.Fatalf("pipeline's delivery after the ack %+v", p.Delivery)
	}

	if err := c.RestartPipeline(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	runOne(t, c, s, "b", "ok")
	runOne(t, c, s, "d", "ok")
	wantPipeline(t, c, s.ID, PipelineCompleted)
	ids, pipes = claimAllDeliveries(t, c)
	if len(ids) != 3 || len(pipes) != 1 || pipes[0].Delivery.ID == first ||
		pipes[0].Delivery.Pipeline.Status != PipelineCompleted {
		t.Fatalf("deliveries after the restart %v (first pipeline delivery %s)", ids, first)
	}
	checkInvariants(t, c)
}

// Cancelling a pipeline delivers every cancelled job's callback and the
// pipeline's; a job without a callback and a pipeline without one get none.
func TestPipelineCancelDelivers(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	p := withCallbacks(diamond())
	p.Jobs[2].CallbackURL = ""
	s := mustSubmitPipeline(t, c, p)
	runOne(t, c, s, "a", "ok")
	claimN(t, c, "w", 1, time.Minute) // b or c running
	if err := c.CancelPipeline(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	ids, pipes := claimAllDeliveries(t, c)
	if len(ids) != 4 || len(pipes) != 1 || pipes[0].Status != StateCancelled {
		t.Fatalf("deliveries %v, want a, b, d and the pipeline's", ids)
	}
	if j, _ := c.Get(ctx, s.Jobs["c"]); j.Delivery != nil {
		t.Fatalf("c without a callback got %+v", j.Delivery)
	}
	plain := mustSubmitPipeline(t, c, diamond())
	if err := c.CancelPipeline(ctx, plain.ID); err != nil {
		t.Fatal(err)
	}
	if ids, _ := claimAllDeliveries(t, c); len(ids) != 0 {
		t.Fatalf("a pipeline without callbacks delivered %v", ids)
	}
	checkInvariants(t, c)

	// A pending delivery of an ended pipeline lost from the hooks set is
	// found by the checks.
	lost := mustSubmitPipeline(t, c, withCallbacks(diamond()))
	if err := c.CancelPipeline(ctx, lost.ID); err != nil {
		t.Fatal(err)
	}
	c.rdb.ZRem(ctx, c.shards.of(lost.ID).hooks(), pipelineHookPrefix+lost.ID)
	if err := c.CheckInvariants(ctx); err == nil || !strings.Contains(err.Error(), "pipeline "+lost.ID+": callback") {
		t.Fatalf("checks after the loss: %v", err)
	}
}

// A pipeline's callback URL is checked as a job's is.
func TestPipelineCallbackURLChecked(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	p := diamond()
	p.CallbackURL = "ftp://hooks.example.com/x"
	if _, err := c.SubmitPipeline(ctxT(t), p); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ftp callback: %v", err)
	}
}

// Retention keeps an ended pipeline, with all its jobs, while a callback
// of it (the pipeline's, or a job's) is still being delivered, and
// removes it once they are delivered.
func TestPipelineRetentionHoldsUntilCallbacksAreDone(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	p := diamond()
	p.CallbackURL = "https://hooks.example.com/pipeline"
	p.Jobs[1].CallbackURL = "https://hooks.example.com/job"
	s := mustSubmitPipeline(t, c, p)
	if err := c.CancelPipeline(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	waitRedisClock(t, c, 5*time.Millisecond)
	keep := Retention{Cancelled: time.Millisecond, CallbackWindow: time.Hour}
	if n, err := c.Expire(ctx, keep); err != nil || n != 0 {
		t.Fatalf("expire: %d %v, want the pipeline kept while its callbacks are pending", n, err)
	}
	jobs, err := c.ClaimDeliveries(ctx, 10, time.Minute)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	for i, j := range jobs {
		if err := c.AckDelivery(ctx, j, DeliveryAttempt{At: time.Now(), StatusCode: 204}, DeliveryDelivered, time.Time{}); err != nil {
			t.Fatal(err)
		}
		n, err := c.Expire(ctx, keep)
		if want := map[bool]int{false: 0, true: 4}[i == len(jobs)-1]; err != nil || n != want {
			t.Fatalf("expire after %d delivered: %d %v, want %d", i+1, n, err, want)
		}
	}
	if _, err := c.GetPipeline(ctx, s.ID); !errors.Is(err, ErrPipelineNotFound) {
		t.Fatalf("the pipeline after its callbacks: %v", err)
	}
	checkInvariants(t, c)
}
