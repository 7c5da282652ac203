package client_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/compileo/jobqueue/pkg/client"
)

func TestPipelineCalls(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := ctxT(t)
	p, err := b.c.SubmitPipeline(ctx, []client.PipelineJob{
		{Key: "parse", Submission: client.Submission{Type: "document_parsing",
			Payload: map[string]any{"documents": []string{"Redis keeps the queue. Workers take jobs from it."}}}},
		{Key: "chunk", DependsOn: []string{"parse"}, Submission: client.Submission{Type: "chunking",
			Payload: map[string]int{"chunk_size": 4}}},
	}, "client-pipeline")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != client.PipelineRunning || len(p.Jobs) != 2 || p.CreatedAt.IsZero() {
		t.Fatalf("submitted %+v", p)
	}
	if _, err := b.c.SubmitPipeline(ctx, []client.PipelineJob{{Key: "a", Submission: client.Submission{Type: "demo"}}},
		"client-pipeline"); !errors.Is(err, client.ErrDuplicate) {
		t.Fatalf("a second pipeline with the key: %v", err)
	}
	st, err := b.c.Wait(ctx, p.Jobs["chunk"], nil)
	if err != nil || st.Status != client.StateCompleted {
		t.Fatalf("chunk: %+v %v", st, err)
	}
	got, err := b.c.GetPipeline(ctx, p.PipelineID)
	if err != nil || got.Status != client.PipelineCompleted || got.Progress != 100 || len(got.Jobs) != 2 ||
		got.Jobs[1].DependsOn[0] != "parse" || !got.Status.Ended() {
		t.Fatalf("pipeline %+v %v", got, err)
	}
	job, err := b.c.Get(ctx, p.Jobs["chunk"])
	if err != nil || job.PipelineID != p.PipelineID {
		t.Fatalf("job %+v %v", job, err)
	}
	if err := b.c.CancelPipeline(ctx, p.PipelineID); !errors.Is(err, client.ErrInvalidTransition) {
		t.Fatalf("cancel of a completed pipeline: %v", err)
	}
	if err := b.c.RestartPipeline(ctx, p.PipelineID); !errors.Is(err, client.ErrInvalidTransition) {
		t.Fatalf("restart of a completed pipeline: %v", err)
	}
}

// StreamPipeline passes on every job's events and ends with the
// pipeline's own terminal event, also when resumed after it.
func TestStreamPipeline(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := ctxT(t)
	demo := client.Submission{Type: "demo", Payload: map[string]int{"steps": 2, "step_ms": 20}}
	p, err := b.c.SubmitPipeline(ctx, []client.PipelineJob{{Key: "a", Submission: demo},
		{Key: "b", DependsOn: []string{"a"}, Submission: demo}}, "")
	if err != nil {
		t.Fatal(err)
	}
	var evs []client.PipelineEvent
	for ev, err := range b.c.StreamPipeline(ctx, p.PipelineID, nil) {
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	last := evs[len(evs)-1]
	if !last.OfPipeline() || last.PipelineID != p.PipelineID || last.Status != string(client.PipelineCompleted) {
		t.Fatalf("last event %+v", last)
	}
	done := map[string]bool{}
	for i, ev := range evs {
		if i > 0 && ev.ID <= evs[i-1].ID {
			t.Fatalf("event ids not growing: %+v after %+v", ev, evs[i-1])
		}
		if ev.JobID != "" && ev.Status == string(client.StateCompleted) {
			done[ev.JobID] = true
		}
	}
	if !done[p.Jobs["a"]] || !done[p.Jobs["b"]] {
		t.Fatalf("completions seen %v of %v", done, p.Jobs)
	}
	// Resumed after the end: what changed in the end's very millisecond
	// may come again, with later ids, and the end closes it again.
	var again []client.PipelineEvent
	for ev, err := range b.c.StreamPipeline(ctx, p.PipelineID, &client.StreamOptions{LastEventID: last.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, ev)
	}
	if len(again) == 0 || again[0].ID <= last.ID || !again[len(again)-1].OfPipeline() {
		t.Fatalf("resumed after the end: %+v", again)
	}
}

// A pipeline's callback URL and its jobs' go in the body the API reads.
func TestSubmitPipelineWithCallbacks(t *testing.T) {
	t.Parallel()
	got := make(chan map[string]any, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		got <- body
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"pipeline_id": "p", "status": "running", "jobs": {"a": "x"}}`))
	}))
	defer ts.Close()
	c := newClient(t, client.Config{BaseURL: ts.URL})
	_, err := c.SubmitPipelineWith(ctxT(t), []client.PipelineJob{{Key: "a",
		Submission: client.Submission{Type: "demo", CallbackURL: "https://example.com/job"}}},
		client.PipelineOptions{UniqueKey: "k", CallbackURL: "https://example.com/pipeline"})
	if err != nil {
		t.Fatal(err)
	}
	body := <-got
	job := body["jobs"].([]any)[0].(map[string]any)
	if body["callback_url"] != "https://example.com/pipeline" || body["unique_key"] != "k" ||
		job["callback_url"] != "https://example.com/job" || job["key"] != "a" {
		t.Fatalf("body %v", body)
	}
}
