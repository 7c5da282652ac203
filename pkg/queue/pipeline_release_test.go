package queue

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

// completeTogether completes runs in one call of the completion scripts,
// as a worker's batch does.
func completeTogether(t *testing.T, c *Client, runs ...*run) {
	t.Helper()
	comps := make([]*completion, len(runs))
	for i, r := range runs {
		comps[i] = &completion{r: r, body: `{"k":"` + r.job.PipelineKey + `"}`}
	}
	errs, err := c.completeAny(ctxT(t), completeRuns(comps))
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("complete %s: %v", runs[i].job.PipelineKey, err)
		}
	}
}

// Every parent of a job completing in one call releases it once, in that
// call, without counting down; the events of the call, the pipeline's end
// among them, go out as one message.
func TestPipelineParentsCompletingTogether(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	hub := startHub(t, c)
	s := mustSubmitPipeline(t, c, diamond())
	sub := hub.SubscribeMany([]string{s.ID, s.Jobs["d"]})
	runOne(t, c, s, "a", map[string]int{"a": 1})
	runs := claimN(t, c, "w", 10, time.Minute)
	if len(runs) != 2 {
		t.Fatalf("claimed %d, want b and c", len(runs))
	}
	// Read together, the children of a share its result (read once).
	in, err := c.inputsOf(ctxT(t), []*Job{runs[0].job, runs[1].job})
	if err != nil || string(in[0]["a"]) != `{"a":1}` || string(in[1]["a"]) != `{"a":1}` {
		t.Fatalf("inputs of b and c: %v %v", in, err)
	}
	// A repeated completion in the same call counts once.
	completeTogether(t, c, runs[0], runs[1], runs[0])
	wantStatuses(t, c, s, map[string]State{"b": StateCompleted, "c": StateCompleted, "d": StatePending})
	k := c.shards.of(s.Jobs["d"]).job(s.Jobs["d"])
	if w := bu.rdb.HGet(ctxT(t), k, "waits").Val(); w != "0" {
		t.Fatalf("d waits %q once released", w)
	}
	checkInvariants(t, c)
	d := runOne(t, c, s, "d", nil)
	in, err = c.inputsOf(ctxT(t), []*Job{d.job})
	if err != nil || string(in[0]["b"]) != `{"k":"b"}` || string(in[0]["c"]) != `{"k":"c"}` {
		t.Fatalf("inputs of d: %s %s %v", in[0]["b"], in[0]["c"], err)
	}
	completeTogether(t, c, d)
	wantPipeline(t, c, s.ID, PipelineCompleted)
	checkInvariants(t, c)
	var got []string
	for len(got) < 4 {
		select {
		case ev := <-sub.C:
			got = append(got, ev.JobID+" "+string(ev.Status))
		case <-time.After(5 * time.Second):
			t.Fatalf("events: %v", got)
		}
	}
	want := []string{s.Jobs["d"] + " pending", s.Jobs["d"] + " running", s.Jobs["d"] + " completed", s.ID + " completed"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events: %v, want %v", got, want)
		}
	}
}

// A release in a pipeline as submitted takes each child's priority from
// the graph (the priority 0 left out); one in a pipeline of an older
// layout reads it from the child: either way, the higher runs first.
func TestPipelineReleaseKeepsPriorities(t *testing.T) {
	t.Parallel()
	for _, older := range []bool{false, true} {
		c, bu := setup(t)
		s := mustSubmitPipeline(t, c, PipelineParams{Jobs: []PipelineJob{
			{Key: "root", EnqueueParams: EnqueueParams{Type: "t"}},
			{Key: "low", DependsOn: []string{"root"}, EnqueueParams: EnqueueParams{Type: "t", Priority: 1}},
			{Key: "high", DependsOn: []string{"root"}, EnqueueParams: EnqueueParams{Type: "t", Priority: 70}},
			{Key: "mid", DependsOn: []string{"root"}, EnqueueParams: EnqueueParams{Type: "t", Priority: 30}},
			{Key: "zero", DependsOn: []string{"root"}, EnqueueParams: EnqueueParams{Type: "t"}},
		}})
		if older { // children of four columns, whatever their priority, and no layout
			storeEdgesInJobs(t, c, bu, s.ID, 4, "")
		}
		runOne(t, c, s, "root", "ok")
		for _, key := range []string{"high", "mid", "low", "zero"} {
			j, err := c.Get(ctxT(t), s.Jobs[key])
			if err != nil || j.Version != 2 || j.Status != StatePending {
				t.Fatalf("older %v: %s released as %+v (%v), want pending at version 2", older, key, j, err)
			}
			runs := claimN(t, c, "w", 1, time.Minute)
			if len(runs) != 1 || runs[0].job.ID != s.Jobs[key] {
				t.Fatalf("older %v: claimed %d jobs, want %s first", older, len(runs), key)
			}
			completeTogether(t, c, runs[0])
		}
		wantPipeline(t, c, s.ID, PipelineCompleted)
		checkInvariants(t, c)
	}
}

// A pipeline's jobs of two lanes, one at every default (the short
// argument list) and one with parameters of its own, read back as
// submitted.
func TestPipelineJobsKeepTheirParameters(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	none := 0
	s := mustSubmitPipeline(t, c, PipelineParams{Jobs: []PipelineJob{
		{Key: "plain", EnqueueParams: EnqueueParams{Type: "t", Payload: []byte(`{"a":1}`)}},
		{Key: "own", DependsOn: []string{"plain"}, EnqueueParams: EnqueueParams{Type: "u", Queue: "q2",
			Priority: 9, MaxRetries: &none, Timeout: 30 * time.Second, CallbackURL: "http://127.0.0.1:1/h"}},
	}})
	plain, err := c.Get(ctxT(t), s.Jobs["plain"])
	if err != nil || plain.Type != "t" || plain.Queue != DefaultQueue || string(plain.Payload) != `{"a":1}` ||
		plain.Priority != 0 || plain.MaxRetries != DefaultMaxRetries || plain.Timeout != 0 || plain.Status != StatePending {
		t.Fatalf("plain job reads back as %+v, %v", plain, err)
	}
	own, err := c.Get(ctxT(t), s.Jobs["own"])
	if err != nil || own.Type != "u" || own.Queue != "q2" || own.Priority != 9 || own.MaxRetries != 0 ||
		own.Timeout != 30*time.Second || own.CallbackURL == "" || own.Status != StateWaiting {
		t.Fatalf("job with its own parameters reads back as %+v, %v", own, err)
	}
	checkInvariants(t, c)
}

// A job cancelled while its parents run stays cancelled when they all
// complete together.
func TestPipelineCancelledChildStaysCancelled(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	s, runs := diamondRunningBC(t, c)
	if err := c.Cancel(ctxT(t), s.Jobs["d"]); err != nil {
		t.Fatal(err)
	}
	completeTogether(t, c, runs...)
	wantStatuses(t, c, s, map[string]State{"b": StateCompleted, "c": StateCompleted, "d": StateCancelled})
	wantPipeline(t, c, s.ID, PipelineCancelled)
	checkInvariants(t, c)
}

// Children stored without their number of parents (three columns) are
// counted down, one completion at a time.
func TestPipelineChildrenOfThreeColumnsCountDown(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	s := mustSubmitPipeline(t, c, diamond())
	storeEdgesInJobs(t, c, bu, s.ID, 3, "")
	runOne(t, c, s, "a", map[string]int{"a": 1})
	runs := claimN(t, c, "w", 10, time.Minute)
	if len(runs) != 2 || runs[0].job.children[0].parents != 0 {
		t.Fatalf("claimed %d, children %+v", len(runs), runs[0].job.children)
	}
	completeTogether(t, c, runs[0])
	wantChecked(t, c, s, "d", StateWaiting)
	completeTogether(t, c, runs[1])
	wantChecked(t, c, s, "d", StatePending)
}

// A pipeline whose jobs would take the queue registry past its bound is
// refused whole, the registry left as it was; one of known queues (and at
// most the bound's new ones) is created.
func TestPipelineQueueRegistryIsBounded(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	c := setupBounded(t, 3)
	mustEnqueue(t, c, EnqueueParams{Type: "x", Queue: "q1"})
	jobs := func(queues ...string) PipelineParams {
		var p PipelineParams
		for i, q := range queues {
			j := PipelineJob{Key: "j" + string(rune('a'+i)), EnqueueParams: EnqueueParams{Type: "x", Queue: q}}
			if i > 0 {
				j.DependsOn = []string{"ja"}
			}
			p.Jobs = append(p.Jobs, j)
		}
		return p
	}
	if _, err := c.SubmitPipeline(ctx, jobs("q1", "q2", "q3", "q4")); !errors.Is(err, ErrQueueLimit) {
		t.Fatalf("past the bound: %v", err)
	}
	if got := queueNamesOf(t, c); !slices.Equal(got, []string{"q1"}) {
		t.Fatalf("queues %v after a refused pipeline", got)
	}
	mustSubmitPipeline(t, c, jobs("q1", "q2", "q1", "q3"))
	if got := queueNamesOf(t, c); !slices.Equal(got, []string{"q1", "q2", "q3"}) {
		t.Fatalf("queues %v", got)
	}
	checkInvariants(t, c)
}

// Pipelines submitted in one call are each created whole or refused
// alone: a unique key held by an earlier one of the call, or queues past
// the registry's bound, refuse that pipeline and no other; the queues a
// refused pipeline brought are taken back, those of a created one kept.
func TestPipelinesSubmittedTogether(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	c := setupBounded(t, 3)
	inQueues := func(unique string, queues ...string) PipelineParams {
		p := diamond()
		p.UniqueKey = unique
		for i := range p.Jobs { // the jobs past the queues given take the last
			p.Jobs[i].Queue = queues[min(i, len(queues)-1)]
		}
		return p
	}
	params := []PipelineParams{
		inQueues("", "q1", "q2"),
		inQueues("once", "q1"),
		inQueues("once", "q1"),         // the key the one before took
		inQueues("", "q3", "q4", "q5"), // two queues past the bound
		inQueues("", "q2", "q3"),
	}
	var ps []*pipeSubmit
	for i := range params {
		p, _, err := c.preparePipeline(ctx, &params[i])
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	out := c.luaPipelineSubmit(ctx, ps)
	var dup *DuplicateError
	for i, want := range []string{"", "", "duplicate", "limit", ""} {
		got := out[i]
		switch {
		case want == "" && (got.err != nil || got.created == ""):
			t.Fatalf("pipeline %d: %v, want created", i, got.err)
		case want == "duplicate" && (!errors.As(got.err, &dup) || dup.JobID != ps[1].id || dup.UniqueKey != "once"):
			t.Fatalf("pipeline %d: %v, want the key held by %s", i, got.err, ps[1].id)
		case want == "limit" && !errors.Is(got.err, ErrQueueLimit):
			t.Fatalf("pipeline %d: %v, want ErrQueueLimit", i, got.err)
		}
	}
	for i, created := range []bool{true, true, false, false, true} {
		_, err := c.GetPipeline(ctx, ps[i].id)
		if created != (err == nil) {
			t.Fatalf("pipeline %d: read %v, created %v", i, err, created)
		}
	}
	if got := queueNamesOf(t, c); !slices.Equal(got, []string{"q1", "q2", "q3"}) {
		t.Fatalf("queues %v", got)
	}
	checkInvariants(t, c)
	// The three pipelines run to the end, their roots pending at once.
	w := testWorker(c)
	for range 3 * 4 {
		js, err := c.claim(ctx, "w", []string{"q1", "q2", "q3"}, []string{"t"}, 1, time.Minute)
		if err != nil || len(js) != 1 {
			t.Fatalf("a job of the created pipelines is not runnable: %v", err)
		}
		completeTogether(t, c, &run{w: w, job: js[0], token: js[0].token, ctx: ctx, cancel: func(error) {}})
	}
	for _, i := range []int{0, 1, 4} {
		wantPipeline(t, c, ps[i].id, PipelineCompleted)
	}
	checkInvariants(t, c)
}

// Pipelines of several owners submitted in one call record each owner's
// jobs in its owned set (the quota's count), and no one else's.
func TestPipelinesSubmittedTogetherRecordTheirOwners(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	ctx := ctxT(t)
	var ps []*pipeSubmit
	for _, owner := range []string{"ann", "bob", "ann", ""} {
		p := diamond()
		p.Owner = owner
		s, _, err := c.preparePipeline(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, s)
	}
	for i, out := range c.luaPipelineSubmit(ctx, ps) {
		if out.err != nil {
			t.Fatalf("pipeline %d: %v", i, out.err)
		}
	}
	for owner, of := range map[string][]int{"ann": {0, 2}, "bob": {1}} {
		var want []string
		for _, i := range of {
			for _, j := range ps[i].jobs {
				want = append(want, j.id)
			}
		}
		got := bu.rdb.ZRange(ctx, c.keys.owned(owner), 0, -1).Val()
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("owner %s: owned %v, want %v", owner, got, want)
		}
	}
}

// storeEdgesInJobs writes the edges of pipeline pid's jobs into their
// hashes as pipelines stored them before layout 3: its key, parents, children of
// the given number of columns (3 to 5: without their number of parents,
// without their priority, all), a waiting job's count of its parents,
// whatever their number; and sets the pipeline's layout ("": none).
func storeEdgesInJobs(t *testing.T, c *Client, bu *bundle, pid string, columns int, layout string) {
	t.Helper()
	ctx := ctxT(t)
	_, g, err := c.readPipeline(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.nodes {
		k := c.shards.of(n.ID).job(n.ID)
		_, parents, children := g.edges(n.ID)
		bu.rdb.HSet(ctx, k, "pipeline_key", n.Key)
		if len(parents) > 0 {
			b, _ := json.Marshal(parents)
			bu.rdb.HSet(ctx, k, "parents", b)
			if bu.rdb.HGet(ctx, k, "status").Val() == string(StateWaiting) {
				bu.rdb.HSetNX(ctx, k, "waits", len(parents))
			}
		}
		if len(children) > 0 {
			rows := make([][]string, len(children))
			for i, ch := range children {
				rows[i] = []string{ch.id, ch.queue, ch.typ, strconv.Itoa(ch.parents), ch.priority}[:columns]
			}
			b, _ := json.Marshal(rows)
			bu.rdb.HSet(ctx, k, "children", b)
		}
	}
	pk := c.shards.of(pid).pipeline(pid)
	if layout == "" {
		bu.rdb.HDel(ctx, pk, "layout")
	} else {
		bu.rdb.HSet(ctx, pk, "layout", layout)
	}
}

// A child named by several runs of one call is sent whole once, at its
// first place: when that run no longer holds its job, the child still
// counts the parents the call did complete, once each.
func TestPipelineChildNamedFirstByALostRun(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	s, runs := diamondRunningBC(t, c)
	lost := &run{w: runs[0].w, job: runs[0].job, token: "not-the-run", ctx: runs[0].ctx, cancel: runs[0].cancel}
	comps := []*completion{{r: lost, body: `{}`}, {r: runs[1], body: `{}`}}
	errs, err := c.completeAny(ctxT(t), completeRuns(comps))
	if err != nil || !errors.Is(errs[0], ErrLeaseLost) || errs[1] != nil {
		t.Fatalf("completions: %v, %v", errs, err)
	}
	wantChecked(t, c, s, "d", StateWaiting)
	completeTogether(t, c, runs[0])
	wantChecked(t, c, s, "d", StatePending)
}

// A child of a type and queue no submission made pending is claimable
// once released, and its event names them (a release names its lane
// types set and its event from its lane alone).
func TestPipelineChildOfItsOwnLane(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	hub := startHub(t, c)
	s := mustSubmitPipeline(t, c, PipelineParams{Jobs: []PipelineJob{
		{Key: "a", EnqueueParams: EnqueueParams{Type: "t"}},
		{Key: "b", DependsOn: []string{"a"}, EnqueueParams: EnqueueParams{Type: "own", Queue: "q-own"}},
	}})
	sub := hub.SubscribeMany([]string{s.Jobs["b"]})
	runOne(t, c, s, "a", "ok")
	select {
	case ev := <-sub.C:
		if ev.Status != StatePending || ev.Type != "own" || ev.Queue != "q-own" || ev.Version != 2 || ev.Progress != 0 {
			t.Fatalf("release event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no release event")
	}
	jobs, err := c.claim(ctxT(t), "w", []string{"q-own"}, []string{"own"}, 10, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].ID != s.Jobs["b"] {
		t.Fatalf("claimed %v, %v; want b", jobs, err)
	}
	checkInvariants(t, c)
}

// wantChecked wants job key of pipeline s in state st, and every
// invariant to hold.
func wantChecked(t *testing.T, c *Client, s *PipelineSubmitted, key string, st State) {
	t.Helper()
	wantStatuses(t, c, s, map[string]State{key: st})
	checkInvariants(t, c)
}

// diamondRunningBC submits a diamond, runs a, and claims b and c.
func diamondRunningBC(t *testing.T, c *Client) (*PipelineSubmitted, []*run) {
	t.Helper()
	s := mustSubmitPipeline(t, c, diamond())
	runOne(t, c, s, "a", map[string]int{"a": 1})
	runs := claimN(t, c, "w", 10, time.Minute)
	if len(runs) != 2 {
		t.Fatalf("claimed %d, want b and c", len(runs))
	}
	return s, runs
}
