package queue

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// diamond is a → b, a → c, {b, c} → d, each of type "t".
func diamond() PipelineParams {
	return PipelineParams{Jobs: []PipelineJob{
		{Key: "a", EnqueueParams: EnqueueParams{Type: "t", Payload: json.RawMessage(`{"n":1}`)}},
		{Key: "b", DependsOn: []string{"a"}, EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "c", DependsOn: []string{"a"}, EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "d", DependsOn: []string{"b", "c"}, EnqueueParams: EnqueueParams{Type: "t"}},
	}}
}

func mustSubmitPipeline(t *testing.T, c *Client, p PipelineParams) *PipelineSubmitted {
	t.Helper()
	s, err := c.SubmitPipeline(ctxT(t), p)
	if err != nil {
		t.Fatalf("submit pipeline: %v", err)
	}
	return s
}

func statusOf(t *testing.T, c *Client, id string) State {
	t.Helper()
	j, err := c.Get(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return j.Status
}

func wantStatuses(t *testing.T, c *Client, s *PipelineSubmitted, want map[string]State) {
	t.Helper()
	for key, st := range want {
		if got := statusOf(t, c, s.Jobs[key]); got != st {
			t.Errorf("job %s: %s, want %s", key, got, st)
		}
	}
}

func wantPipeline(t *testing.T, c *Client, id string, want PipelineStatus) *Pipeline {
	t.Helper()
	p, err := c.GetPipeline(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != want {
		t.Fatalf("pipeline %s, want %s", p.Status, want)
	}
	return p
}

// runOne claims the one runnable job, which must be key's, and completes it with result.
func runOne(t *testing.T, c *Client, s *PipelineSubmitted, key string, result any) *run {
	t.Helper()
	runs := claimN(t, c, "w", 10, time.Minute)
	if len(runs) != 1 || runs[0].job.ID != s.Jobs[key] {
		t.Fatalf("claimed %d jobs, want only %s", len(runs), key)
	}
	if result != nil {
		if err := runs[0].w.complete(runs[0], result); err != nil {
			t.Fatalf("complete %s: %v", key, err)
		}
	}
	return runs[0]
}

func TestPipelineRunsEachJobAfterItsParents(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testPipelineRunsEachJobAfterItsParents(t, c)
}

// testPipelineRunsEachJobAfterItsParents is TestPipelineRunsEachJobAfterItsParents's body, run on a Redis Cluster too (cluster_test.go).
func testPipelineRunsEachJobAfterItsParents(t *testing.T, c *Client) {
	ctx := ctxT(t)
	s := mustSubmitPipeline(t, c, diamond())
	wantStatuses(t, c, s, map[string]State{"a": StatePending, "b": StateWaiting, "c": StateWaiting, "d": StateWaiting})
	checkInvariants(t, c)
	runOne(t, c, s, "a", map[string]int{"a": 1})
	wantStatuses(t, c, s, map[string]State{"a": StateCompleted, "b": StatePending, "c": StatePending, "d": StateWaiting})
	runs := claimN(t, c, "w", 10, time.Minute)
	if len(runs) != 2 {
		t.Fatalf("claimed %d, want b and c", len(runs))
	}
	for _, r := range runs {
		in, err := c.inputsOf(ctx, []*Job{r.job})
		if err != nil || string(in[0]["a"]) != `{"a":1}` {
			t.Fatalf("inputs of %s: %v %v", r.job.PipelineKey, in, err)
		}
	}
	if err := runs[0].w.complete(runs[0], map[string]string{"k": runs[0].job.PipelineKey}); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, c, s.Jobs["d"]); st != StateWaiting {
		t.Fatalf("d is %s after one of its two parents completed", st)
	}
	// The same run completing again changes nothing (never twice).
	if err := runs[0].w.complete(runs[0], map[string]string{"k": "again"}); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, c, s.Jobs["d"]); st != StateWaiting {
		t.Fatalf("d is %s after a repeated completion", st)
	}
	if err := runs[1].w.complete(runs[1], map[string]string{"k": runs[1].job.PipelineKey}); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, c)
	d := runOne(t, c, s, "d", nil)
	in, err := c.inputsOf(ctx, []*Job{d.job})
	if err != nil || string(in[0]["b"]) != `{"k":"b"}` || string(in[0]["c"]) != `{"k":"c"}` {
		t.Fatalf("inputs of d: %s %s %v", in[0]["b"], in[0]["c"], err)
	}
	wantPipeline(t, c, s.ID, PipelineRunning)
	if err := d.w.complete(d, nil); err != nil {
		t.Fatal(err)
	}
	p := wantPipeline(t, c, s.ID, PipelineCompleted)
	if p.CompletedAt.IsZero() || p.Progress() != 100 {
		t.Fatalf("completed pipeline: at %v, progress %v", p.CompletedAt, p.Progress())
	}
	checkInvariants(t, c)
}

func TestPipelineValidation(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	job := func(key string, deps ...string) PipelineJob {
		return PipelineJob{Key: key, DependsOn: deps, EnqueueParams: EnqueueParams{Type: "t"}}
	}
	for name, tc := range map[string]struct {
		jobs []PipelineJob
		item string // the key the error must name
	}{
		"cycle":          {[]PipelineJob{job("a", "c"), job("b", "a"), job("c", "b"), job("d")}, `"a"`},
		"unknown":        {[]PipelineJob{job("a"), job("b", "zz")}, `"b"`},
		"duplicate":      {[]PipelineJob{job("a"), job("a")}, `"a"`},
		"self":           {[]PipelineJob{job("a", "a")}, `"a"`},
		"bad key":        {[]PipelineJob{job("a b")}, `"a b"`},
		"bad type":       {[]PipelineJob{job("a"), {Key: "b", EnqueueParams: EnqueueParams{Type: "no spaces"}}}, `"b"`},
		"repeated deps":  {[]PipelineJob{job("a"), job("b", "a", "a")}, `"b"`},
		"unique per job": {[]PipelineJob{{Key: "u", EnqueueParams: EnqueueParams{Type: "t", UniqueKey: "x"}}}, `"u"`},
	} {
		_, err := c.SubmitPipeline(ctxT(t), PipelineParams{Jobs: tc.jobs})
		var ie *PipelineItemError
		if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.item) {
			t.Errorf("%s: %v, want an invalid item naming %s", name, err, tc.item)
		}
	}
	if _, err := c.SubmitPipeline(ctxT(t), PipelineParams{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no jobs: %v", err)
	}
	many := make([]PipelineJob, MaxPipelineJobs+1)
	for i := range many {
		many[i] = job("k" + string(rune('a'+i%26)) + strings.Repeat("x", i/26))
	}
	if _, err := c.SubmitPipeline(ctxT(t), PipelineParams{Jobs: many}); !errors.Is(err, ErrInvalid) {
		t.Errorf("%d jobs: %v", len(many), err)
	}
	if n := b.rdb.DBSize(ctxT(t)).Val(); n != 0 {
		keys := b.rdb.Keys(ctxT(t), c.keys.key("*")).Val()
		if len(keys) > 1 { // the shards marker only
			t.Fatalf("refused pipelines left keys: %v", keys)
		}
	}
}

func TestPipelineUniqueKey(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	p := diamond()
	p.UniqueKey = "nightly"
	s := mustSubmitPipeline(t, c, p)
	_, err := c.SubmitPipeline(ctxT(t), p)
	var dup *DuplicateError
	if !errors.As(err, &dup) || dup.JobID != s.ID {
		t.Fatalf("second submission: %v, want a duplicate naming %s", err, s.ID)
	}
}

func TestPipelineFailureCancelsWhatIsBelow(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	testPipelineFailureCancelsWhatIsBelow(t, c)
}

// testPipelineFailureCancelsWhatIsBelow is TestPipelineFailureCancelsWhatIsBelow's body, run on a Redis Cluster too (cluster_test.go).
func testPipelineFailureCancelsWhatIsBelow(t *testing.T, c *Client) {
	ctx := ctxT(t)
	// a → b → d, a → c: c fails for good; b and d run on.
	p := PipelineParams{Jobs: []PipelineJob{
		{Key: "a", EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "b", DependsOn: []string{"a"}, EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "c", DependsOn: []string{"a"}, EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "d", DependsOn: []string{"b"}, EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "e", DependsOn: []string{"c", "b"}, EnqueueParams: EnqueueParams{Type: "t"}},
	}}
	s := mustSubmitPipeline(t, c, p)
	runOne(t, c, s, "a", "ok")
	runs := claimN(t, c, "w", 10, time.Minute)
	var b *run
	for _, r := range runs {
		if r.job.PipelineKey == "c" {
			if _, err := r.w.fail(r, Permanent(errors.New("bad input"))); err != nil {
				t.Fatal(err)
			}
		} else {
			b = r
		}
	}
	wantStatuses(t, c, s, map[string]State{"c": StateFailed, "e": StateCancelled, "b": StateRunning, "d": StateWaiting})
	e, _ := c.Get(ctx, s.Jobs["e"])
	if !strings.Contains(e.Error, "job c ("+s.Jobs["c"]+") failed") {
		t.Fatalf("e's error %q does not name c", e.Error)
	}
	wantPipeline(t, c, s.ID, PipelineRunning)
	if err := b.w.complete(b, nil); err != nil {
		t.Fatal(err)
	}
	runOne(t, c, s, "d", "done")
	wantPipeline(t, c, s.ID, PipelineFailed)
	checkInvariants(t, c)

	// Restart: only the failed job and what is below it run again; the
	// completed ones keep their results and times.
	before, _ := c.Get(ctx, s.Jobs["d"])
	if err := c.RestartPipeline(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StateCompleted, "b": StateCompleted, "c": StatePending,
		"d": StateCompleted, "e": StateWaiting})
	after, _ := c.Get(ctx, s.Jobs["d"])
	if after.Version != before.Version || string(after.Result) != `"done"` {
		t.Fatalf("restart touched completed d: %+v", after)
	}
	checkInvariants(t, c)
	runOne(t, c, s, "c", "ok")
	runOne(t, c, s, "e", "ok")
	wantPipeline(t, c, s.ID, PipelineCompleted)
	var se *PipelineStateError
	if err := c.RestartPipeline(ctx, s.ID); !errors.As(err, &se) {
		t.Fatalf("restart of a completed pipeline: %v", err)
	}
	if err := c.CancelPipeline(ctx, s.ID); !errors.As(err, &se) {
		t.Fatalf("cancel of a completed pipeline: %v", err)
	}
	checkInvariants(t, c)
}

func TestPipelineCancelStopsEveryJob(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	s := mustSubmitPipeline(t, c, diamond())
	runOne(t, c, s, "a", "ok")
	runs := claimN(t, c, "w", 1, time.Minute) // b or c running, the other pending
	if err := c.CancelPipeline(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StateCompleted, "b": StateCancelled, "c": StateCancelled, "d": StateCancelled})
	if err := runs[0].w.complete(runs[0], "late"); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("completion after the cancel: %v, want ErrLeaseLost", err)
	}
	wantPipeline(t, c, s.ID, PipelineCancelled)
	var se *PipelineStateError
	if err := c.CancelPipeline(ctx, s.ID); !errors.As(err, &se) {
		t.Fatalf("second cancel: %v", err)
	}
	checkInvariants(t, c)
	if err := c.RestartPipeline(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StateCompleted, "b": StatePending, "c": StatePending, "d": StateWaiting})
	wantPipeline(t, c, s.ID, PipelineRunning)
	checkInvariants(t, c)
}

func TestPipelineJobCancelAndRestart(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	s := mustSubmitPipeline(t, c, diamond())
	if err := c.Cancel(ctx, s.Jobs["b"]); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StatePending, "b": StateCancelled, "c": StateWaiting, "d": StateCancelled})
	if err := c.Delete(ctx, s.Jobs["b"]); !errors.Is(err, ErrInPipeline) {
		t.Fatalf("delete of a job of a pipeline: %v", err)
	}
	if err := c.Restart(ctx, s.Jobs["b"]); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StatePending, "b": StateWaiting, "c": StateWaiting, "d": StateWaiting})
	var te *TransitionError
	if err := c.Restart(ctx, s.Jobs["b"]); !errors.As(err, &te) {
		t.Fatalf("restart of a waiting job: %v", err)
	}
	checkInvariants(t, c)
	// Its counters back to none failed or cancelled, the pipeline is not
	// as submitted: the release reads b, whose version goes on.
	before, err := c.Get(ctx, s.Jobs["b"])
	if err != nil {
		t.Fatal(err)
	}
	runOne(t, c, s, "a", "ok")
	wantStatuses(t, c, s, map[string]State{"b": StatePending, "c": StatePending, "d": StateWaiting})
	if after, err := c.Get(ctx, s.Jobs["b"]); err != nil || after.Version != before.Version+1 {
		t.Fatalf("b released at version %d (%v), want %d", after.Version, err, before.Version+1)
	}
	checkInvariants(t, c)
}

// A job of a pipeline reaped out of attempts fails with what is below it.
func TestPipelineReapedOutOfAttemptsFailsWhatIsBelow(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	p := diamond()
	zero := 0
	p.Jobs[0].MaxRetries = &zero
	s := mustSubmitPipeline(t, c, p)
	runOne(t, c, s, "a", nil) // claimed with a short lease below instead
	// The run above holds a minute's lease: let a second claim-less expiry happen by hand.
	id := s.Jobs["a"]
	k := c.shards.of(id)
	c.rdb.ZAdd(ctx, k.leases(), redis.Z{Score: 1, Member: id})
	// reap.lua alone never fails it (what is below would wait forever):
	// the reaper's pipeline path does, with what is below.
	r, err := c.luaReap(ctx, k, []string{id}, []string{DefaultQueue}, []string{"t"})
	if err != nil || r.Failed != 0 || r.Recovered != 0 {
		t.Fatalf("reap.lua alone: %+v %v", r, err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StateRunning, "b": StateWaiting})
	r, err = c.Reap(ctx)
	if err != nil || r.Failed != 1 {
		t.Fatalf("reap: %+v %v", r, err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StateFailed, "b": StateCancelled, "c": StateCancelled, "d": StateCancelled})
	wantPipeline(t, c, s.ID, PipelineFailed)
	checkInvariants(t, c)
}

func TestPipelineRetention(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	s := mustSubmitPipeline(t, c, PipelineParams{UniqueKey: "once", Jobs: []PipelineJob{
		{Key: "a", EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "b", DependsOn: []string{"a"}, EnqueueParams: EnqueueParams{Type: "t"}}}})
	runs := claimN(t, c, "w", 1, time.Minute)
	if err := runs[0].w.complete(runs[0], nil); err != nil {
		t.Fatal(err)
	}
	plain := mustEnqueue(t, c, EnqueueParams{Type: "t"})
	// a completed long ago (as the janitor sees it) while b still runs: kept.
	waitRedisClock(t, c, 5*time.Millisecond)
	keep := Retention{Completed: time.Millisecond, Failed: time.Millisecond, Cancelled: time.Millisecond}
	if _, err := c.Expire(ctx, keep); err != nil {
		t.Fatal(err)
	}
	wantPipeline(t, c, s.ID, PipelineRunning)
	if err := c.Cancel(ctx, s.Jobs["b"]); err != nil {
		t.Fatal(err)
	}
	if err := c.Cancel(ctx, plain); err != nil {
		t.Fatal(err)
	}
	waitRedisClock(t, c, 5*time.Millisecond)
	n, err := c.Expire(ctx, keep)
	if err != nil || n != 3 {
		t.Fatalf("expire: %d %v, want 3 jobs removed", n, err)
	}
	if _, err := c.GetPipeline(ctx, s.ID); !errors.Is(err, ErrPipelineNotFound) {
		t.Fatalf("expired pipeline: %v", err)
	}
	if keys := b.rdb.Keys(ctx, c.shards.of(s.ID).key("*")).Val(); len(strings.Join(keys, "")) > 0 {
		for _, k := range keys {
			if strings.Contains(k, "unique") || strings.Contains(k, "job:") || strings.Contains(k, "pipeline") {
				t.Errorf("left behind: %s", k)
			}
		}
	}
	checkInvariants(t, c)
}

func TestPipelineBulkActions(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	s := mustSubmitPipeline(t, c, diamond())
	plain := mustEnqueue(t, c, EnqueueParams{Type: "t"})
	if _, err := c.CancelMatching(ctx, BulkParams{All: true}); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StateCancelled, "b": StateCancelled, "c": StateCancelled, "d": StateCancelled})
	wantPipeline(t, c, s.ID, PipelineCancelled)
	checkInvariants(t, c)
	res, err := c.DeleteMatching(ctx, BulkParams{All: true})
	if err != nil || res.Changed != 1 || res.Skipped[SkippedInPipeline] != 4 {
		t.Fatalf("bulk delete: %+v %v", res, err)
	}
	if _, err := c.Get(ctx, plain); !errors.Is(err, ErrJobNotFound) {
		t.Fatalf("plain job: %v", err)
	}
	if _, err := c.RestartMatching(ctx, BulkParams{All: true}); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, c, s, map[string]State{"a": StatePending, "b": StateWaiting, "c": StateWaiting, "d": StateWaiting})
	wantPipeline(t, c, s.ID, PipelineRunning)
	checkInvariants(t, c)
}

// A pipeline's jobs count in the history as plain jobs do: submitted,
// completed, failed and cancelled.
func TestPipelineJobsCountInTheHistory(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	p := diamond()
	for i := range p.Jobs {
		p.Jobs[i].Type = "hist"
	}
	s := mustSubmitPipeline(t, c, p)
	runOne(t, c, s, "a", "ok")
	runs := claimN(t, c, "w", 10, time.Minute)
	if _, err := runs[0].w.fail(runs[0], Permanent(errors.New("no"))); err != nil {
		t.Fatal(err)
	}
	if err := runs[1].w.complete(runs[1], nil); err != nil {
		t.Fatal(err)
	}
	h, err := c.History(ctx, HistoryQuery{Step: time.Minute, Points: 2, Type: "hist"})
	if err != nil {
		t.Fatal(err)
	}
	var sum HistoryPoint
	for _, pt := range h {
		sum.Submitted += pt.Submitted
		sum.Completed += pt.Completed
		sum.Failed += pt.Failed
		sum.Cancelled += pt.Cancelled
	}
	if sum.Submitted != 4 || sum.Completed != 2 || sum.Failed != 1 || sum.Cancelled != 1 {
		t.Fatalf("history %+v", sum)
	}
}
