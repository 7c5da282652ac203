package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// A job of a pipeline stores none of its edges: its key, parents and
// children come from the graph, read once by the claiming Client; a
// job of one parent keeps no count of the parents it waits for.
func TestPipelineJobsKeepEdgesInTheGraph(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	s := mustSubmitPipeline(t, c, diamond())
	for key, id := range s.Jobs {
		h := bu.rdb.HGetAll(ctxT(t), c.shards.of(id).job(id)).Val()
		for _, f := range []string{"parents", "children", "pipeline_key"} {
			if _, ok := h[f]; ok {
				t.Errorf("job %s stores %s", key, f)
			}
		}
		if _, ok := h["waits"]; ok != (key == "d") {
			t.Errorf("job %s: waits stored %v (%q), want it only for d, of two parents", key, ok, h["waits"])
		}
	}
	if c.graphs.get(s.ID) != nil {
		t.Fatal("the graph is kept before any job of it was claimed")
	}
	a := runOne(t, c, s, "a", map[string]int{"a": 1})
	if a.job.PipelineKey != "a" || len(a.job.parents) != 0 || len(a.job.children) != 2 || !a.job.edges {
		t.Fatalf("a claimed as key %q, parents %v, children %+v", a.job.PipelineKey, a.job.parents, a.job.children)
	}
	if c.graphs.get(s.ID) == nil {
		t.Fatal("the graph is not kept after a claim")
	}
	runs := claimN(t, c, "w", 10, time.Minute)
	if len(runs) != 2 {
		t.Fatalf("claimed %d, want b and c", len(runs))
	}
	for _, r := range runs {
		if r.job.parents["a"] != s.Jobs["a"] || len(r.job.children) != 1 || r.job.children[0].id != s.Jobs["d"] ||
			r.job.children[0].parents != 2 {
			t.Fatalf("%s claimed with parents %v, children %+v", r.job.PipelineKey, r.job.parents, r.job.children)
		}
	}
	completeTogether(t, c, runs...)
	wantStatuses(t, c, s, map[string]State{"d": StatePending})
	checkInvariants(t, c)
}

// A run whose edges were not read at its claim (the read failed) reads
// them when it needs them: its inputs, and its completion, which
// releases its children.
func TestPipelineEdgesReadWhenNeeded(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	s := mustSubmitPipeline(t, c, diamond())
	runs := claimN(t, c, "w", 10, time.Minute)
	if len(runs) != 1 {
		t.Fatalf("claimed %d, want a", len(runs))
	}
	c.graphs = pipeGraphs{}
	runs[0].job.children, runs[0].job.edges = nil, false
	completeTogether(t, c, runs[0])
	wantStatuses(t, c, s, map[string]State{"a": StateCompleted, "b": StatePending, "c": StatePending})
	runs = claimN(t, c, "w", 1, time.Minute)
	runs[0].job.parents, runs[0].job.edges = nil, false
	in, err := c.inputsOf(ctxT(t), []*Job{runs[0].job})
	if err != nil || string(in[0]["a"]) != `{"k":"a"}` {
		t.Fatalf("inputs: %s, %v", in[0]["a"], err)
	}
	checkInvariants(t, c)
}

// The graphs kept are bounded by their nodes, the oldest dropped first;
// one bigger than the bound is not kept.
func TestPipeGraphsBounded(t *testing.T) {
	t.Parallel()
	graph := func(n int) *pipeGraph {
		nodes := make([]pipeNode, n)
		for i := range nodes {
			nodes[i] = pipeNode{Key: "k" + strconv.Itoa(i), ID: "id" + strconv.Itoa(i)}
		}
		return newPipeGraph(nodes)
	}
	p := pipeGraphs{max: 10}
	for i := range 5 {
		p.put("p"+strconv.Itoa(i), graph(3))
	}
	if p.nodes > 10 || len(p.graphs) != 3 || !slices.Equal(p.order, []string{"p2", "p3", "p4"}) {
		t.Fatalf("kept %v (%d nodes)", p.order, p.nodes)
	}
	p.put("big", graph(11))
	if p.get("big") != nil || p.get("p4") == nil {
		t.Fatal("a graph past the bound was kept, or pushed the others out")
	}
	p.put("p4", graph(3)) // again: kept once
	if p.nodes != 9 || len(p.order) != 3 {
		t.Fatalf("kept %v (%d nodes) after putting a kept graph again", p.order, p.nodes)
	}
}

// A Go handler of a job of a pipeline reads its parents' results when it
// asks for them, from a real worker; asking twice reads them once.
func TestPipelineHandlerAsksForItsInputs(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	var mu sync.Mutex
	got := map[string]map[string]json.RawMessage{}
	mux := NewMux()
	mux.HandleFunc("t", func(ctx context.Context, j *ActiveJob) (any, error) {
		in, err := j.Inputs(ctx)
		if err != nil {
			return nil, err
		}
		again, _ := j.Inputs(ctx)
		if fmt.Sprint(again) != fmt.Sprint(in) {
			return nil, Permanent(fmt.Errorf("inputs changed: %v then %v", in, again))
		}
		mu.Lock()
		got[j.PipelineKey] = in
		mu.Unlock()
		return map[string]string{"from": j.PipelineKey}, nil
	})
	s := mustSubmitPipeline(t, c, diamond())
	startWorker(t, c, mux, WorkerConfig{Concurrency: 4})
	waitFor(t, 10*time.Second, "the pipeline completed", func() bool {
		p, err := c.GetPipeline(ctxT(t), s.ID)
		return err == nil && p.Status == PipelineCompleted
	})
	mu.Lock()
	defer mu.Unlock()
	if got["a"] != nil {
		t.Errorf("a, a root, got inputs %v", got["a"])
	}
	for key, want := range map[string][]string{"b": {"a"}, "c": {"a"}, "d": {"b", "c"}} {
		if len(got[key]) != len(want) {
			t.Errorf("%s got inputs %v, want those of %v", key, got[key], want)
		}
		for _, p := range want {
			if string(got[key][p]) != `{"from":"`+p+`"}` {
				t.Errorf("%s's input %s: %s", key, p, got[key][p])
			}
		}
	}
}
