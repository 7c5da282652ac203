package handlers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

const datasetText = "A job queue is a list of pending work. Workers process every queued job quickly. " +
	"Short one. It is what it is. Workers are processes that run handlers. It is fast and simple."

func TestDatasetQA(t *testing.T) {
	payload := mustJSON(t, map[string]any{"documents": []any{
		map[string]string{"id": "q", "text": datasetText},
		"Tiny.",
	}})
	res, calls, err := runJob(t, t.Context(), TypeDatasetGeneration, payload)
	if err != nil {
		t.Fatal(err)
	}
	checkDocumentProgress(t, calls, 2)
	got := res.(datasetResult)
	want := []qaExample{
		{"q", "definition", "What is a job queue?", "A job queue is a list of pending work."},
		{"q", "cloze", "Fill in the blank: _____ process every queued job quickly.", "Workers"},
		{"q", "definition", "What are Workers?", "Workers are processes that run handlers."},
		{"q", "cloze", "Fill in the blank: It is fast and _____.", "simple"},
	}
	if got.Format != "qa" || got.Count != 4 || got.Truncated || mustJSON(t, got.Examples) != mustJSON(t, want) {
		t.Fatalf("got %s\nwant examples %s", mustJSON(t, got), mustJSON(t, want))
	}
	if got, want := mustJSON(t, got.PerDocument), `{"doc-2":0,"q":4}`; got != want {
		t.Fatalf("per_document %s, want %s", got, want)
	}
	checkJSONL(t, got.JSONL, want)
}

func TestDatasetCompletion(t *testing.T) {
	payload := mustJSON(t, map[string]any{"documents": []string{datasetText}, "format": "completion", "max_examples_per_document": 2})
	res, calls, err := runJob(t, t.Context(), TypeDatasetGeneration, payload)
	if err != nil {
		t.Fatal(err)
	}
	checkDocumentProgress(t, calls, 1)
	got := res.(datasetResult)
	want := []completionExample{
		{"doc-1", "A job queue is", " a list of pending work."},
		{"doc-1", "Workers process every", " queued job quickly."},
	}
	if got.Format != "completion" || got.Count != 2 || mustJSON(t, got.Examples) != mustJSON(t, want) {
		t.Fatalf("got %s\nwant examples %s", mustJSON(t, got), mustJSON(t, want))
	}
	checkJSONL(t, got.JSONL, want)
}

// checkJSONL checks that jsonl holds one JSON object per line: want's.
func checkJSONL[E any](t *testing.T, jsonl string, want []E) {
	t.Helper()
	if !strings.HasSuffix(jsonl, "\n") {
		t.Fatalf("JSONL does not end with a newline: %q", jsonl)
	}
	lines := strings.Split(strings.TrimSuffix(jsonl, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d JSONL lines, want %d: %q", len(lines), len(want), jsonl)
	}
	for i, line := range lines {
		var e E
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("JSONL line %d %q: %v", i, line, err)
		}
		if mustJSON(t, e) != mustJSON(t, want[i]) || line != mustJSON(t, want[i]) {
			t.Fatalf("JSONL line %d = %s, want %s", i, line, mustJSON(t, want[i]))
		}
	}
}

func TestDefinitionQuestion(t *testing.T) {
	tests := []struct{ sentence, want string }{
		{"Redis is an in-memory store.", "What is Redis?"},
		{"The worker is a process.", "What is the worker?"},
		{"Queues are lists of jobs.", "What are Queues?"},
		{"A lease is a deadline, and it is renewed.", "What is a lease?"},
		{"It is fast.", ""},                                    // no term in the subject
		{"In 2020, Redis is fast.", ""},                        // a comma in the subject
		{"One two three four five six seven is too long.", ""}, // subject over 6 words
		{"Nothing defined here.", ""},
		{"This island is nice.", "What is this island?"},
	}
	for _, tt := range tests {
		got, ok := definitionQuestion(tt.sentence)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("definitionQuestion(%q) = %q, %v; want %q", tt.sentence, got, ok, tt.want)
		}
	}
}

func TestDatasetLimits(t *testing.T) {
	// 1000 documents of 25 sentences each would make 25000 examples: the
	// job stops at 20000 and says so.
	doc := strings.Repeat("Workers process every queued job quickly. ", 25)
	docs := make([]string, MaxDocuments)
	for i := range docs {
		docs[i] = doc
	}
	res, calls, err := runJob(t, t.Context(), TypeDatasetGeneration, mustJSON(t, map[string]any{"documents": docs, "max_examples_per_document": 25}))
	if err != nil {
		t.Fatal(err)
	}
	checkDocumentProgress(t, calls, MaxDocuments)
	got := res.(datasetResult)
	if got.Count != datasetMaxExamples || !got.Truncated || got.PerDocument["doc-800"] != 25 || got.PerDocument["doc-801"] != 0 {
		t.Fatalf("count %d truncated %v per doc 800: %d 801: %d; want 20000, true, 25, 0",
			got.Count, got.Truncated, got.PerDocument["doc-800"], got.PerDocument["doc-801"])
	}
}

func TestDatasetBadPayloads(t *testing.T) {
	tests := []struct{ name, payload, wantErr string }{
		{"unknown format", `{"documents": ["a"], "format": "chat"}`, `format = "chat", want "qa" or "completion"`},
		{"format number", `{"documents": ["a"], "format": 1}`, "cannot unmarshal number"},
		{"max zero", `{"documents": ["a"], "max_examples_per_document": 0}`, "max_examples_per_document = 0, want 1-1000"},
		{"max too many", `{"documents": ["a"], "max_examples_per_document": 1001}`, "max_examples_per_document = 1001, want 1-1000"},
		{"documents missing", `{"format": "qa"}`, `missing "documents"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runJob(t, t.Context(), TypeDatasetGeneration, tt.payload)
			if !queue.IsPermanent(err) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a permanent error containing %q", err, tt.wantErr)
			}
		})
	}
}
