package handlers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

// runWithInputs runs a built-in handler on payload, with its parents'
// results (inputs), and returns its result as JSON.
func runWithInputs(t *testing.T, typ, payload string, inputs map[string]json.RawMessage) json.RawMessage {
	t.Helper()
	mux := queue.NewMux()
	Register(mux)
	h, _ := mux.Lookup(typ)
	job := queue.NewActiveJob(&queue.Job{ID: "job-1", Type: typ, Payload: json.RawMessage(payload), Attempts: 1}, nil).WithInputs(inputs)
	res, err := h.Handle(t.Context(), job)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return json.RawMessage(mustJSON(t, res))
}

// The product's four stages, each taking its input from the one before.
func TestBuiltinsTakeTheirParentsResults(t *testing.T) {
	parsed := runWithInputs(t, TypeDocumentParsing, `{"documents": [{"id": "guide", "text": "A queue is a list of jobs waiting to run. Workers take jobs from the queue. Redis keeps the queue of jobs."}]}`, nil)
	chunks := runWithInputs(t, TypeChunking, `{"chunk_size": 9, "overlap": 0}`, map[string]json.RawMessage{"parse": parsed})
	var cr chunkingResult
	if err := json.Unmarshal(chunks, &cr); err != nil || cr.Count < 2 || cr.Chunks[0].DocumentID != "guide" {
		t.Fatalf("chunks %s", chunks)
	}
	tax := runWithInputs(t, TypeTaxonomyGeneration, `{}`, map[string]json.RawMessage{"chunk": chunks})
	var tr taxonomyResult
	if err := json.Unmarshal(tax, &tr); err != nil || tr.Documents != cr.Count || len(tr.Categories) == 0 {
		t.Fatalf("taxonomy %s", tax)
	}
	ds := runWithInputs(t, TypeDatasetGeneration, `{"format": "qa"}`, map[string]json.RawMessage{"chunk": chunks, "taxonomy": tax})
	if !strings.Contains(string(ds), `"category":"`) || !strings.Contains(string(ds), `"document_id":"guide#0"`) {
		t.Fatalf("dataset %s", ds)
	}
	// The payload's own documents win over the inputs.
	own := runWithInputs(t, TypeChunking, `{"documents": ["one two three"]}`, map[string]json.RawMessage{"parse": parsed})
	if !strings.Contains(string(own), `"doc-1"`) || strings.Contains(string(own), "guide") {
		t.Fatalf("own documents %s", own)
	}
}

func TestInputValidatorsLetTheInputOut(t *testing.T) {
	for _, typ := range []string{TypeChunking, TypeTaxonomyGeneration, TypeDatasetGeneration} {
		if err := Validate(typ, json.RawMessage(`{}`)); err == nil {
			t.Errorf("%s: a job without parents needs documents", typ)
		}
		if err := InputValidators()[typ](json.RawMessage(`{}`)); err != nil {
			t.Errorf("%s in a pipeline: %v", typ, err)
		}
		if err := InputValidators()[typ](json.RawMessage(`{"nope": 1}`)); err == nil {
			t.Errorf("%s in a pipeline: an unknown field passed", typ)
		}
	}
	if err := InputValidators()[TypeDocumentParsing](json.RawMessage(`{}`)); err == nil {
		t.Error("document_parsing takes no input: its documents are required")
	}
}
