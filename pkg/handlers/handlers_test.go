package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

// progressCall is one call of ActiveJob.Progress.
type progressCall struct {
	percent float64
	step    string
}

// runJob runs the built-in handler of typ, as registered by Register, on
// payload, and returns its result, the progress it reported and its error.
func runJob(t *testing.T, ctx context.Context, typ, payload string) (any, []progressCall, error) {
	t.Helper()
	return runJobWith(t, ctx, typ, payload, nil)
}

// runJobWith is runJob calling onProgress (when not nil) after recording
// each progress call.
func runJobWith(t *testing.T, ctx context.Context, typ, payload string, onProgress func(progressCall)) (any, []progressCall, error) {
	t.Helper()
	mux := queue.NewMux()
	Register(mux)
	h, ok := mux.Lookup(typ)
	if !ok {
		t.Fatalf("no handler for %q", typ)
	}
	var calls []progressCall
	job := queue.NewActiveJob(&queue.Job{ID: "job-1", Type: typ, Payload: json.RawMessage(payload), Attempts: 1},
		func(percent float64, step string) {
			c := progressCall{percent, step}
			calls = append(calls, c)
			if onProgress != nil {
				onProgress(c)
			}
		})
	res, err := h.Handle(ctx, job)
	return res, calls, err
}

// checkProgress checks that calls are "<what> i of n" for i = 1..len(calls)
// at i/n*100 percent.
func checkProgress(t *testing.T, calls []progressCall, what string, n int) {
	t.Helper()
	for i, c := range calls {
		want := progressCall{float64(i+1) / float64(n) * 100, fmt.Sprintf("Processing %s %d of %d", what, i+1, n)}
		if c != want {
			t.Fatalf("progress call %d = %+v, want %+v (all: %+v)", i, c, want, calls)
		}
	}
}

// checkDocumentProgress checks a full run over n documents: one call per
// document, the last at 100%.
func checkDocumentProgress(t *testing.T, calls []progressCall, n int) {
	t.Helper()
	if len(calls) != n {
		t.Fatalf("%d progress calls, want %d: %+v", len(calls), n, calls)
	}
	checkProgress(t, calls, "document", n)
	if last := calls[len(calls)-1]; last.percent != 100 {
		t.Fatalf("last progress %v, want 100", last.percent)
	}
}

// mustJSON returns the JSON of v.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// documentTypes are the built-in types that take documents.
func documentTypes() []string {
	return []string{TypeDocumentParsing, TypeChunking, TypeTaxonomyGeneration, TypeDatasetGeneration}
}

func TestRegisterAndTypes(t *testing.T) {
	want := []string{"chunking", "dataset_generation", "demo", "document_parsing", "taxonomy_generation"}
	if got := Types(); !slices.Equal(got, want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	mux := queue.NewMux()
	Register(mux)
	if got := mux.Types(); !slices.Equal(got, want) {
		t.Fatalf("mux.Types() after Register = %v, want %v", got, want)
	}
	// Types returns a fresh slice each time.
	Types()[0] = "changed"
	if got := Types(); !slices.Equal(got, want) {
		t.Fatalf("Types() after modifying a result = %v", got)
	}
}

// Every document handler validates the documents the same way.
func TestDocumentHandlersRejectBadDocuments(t *testing.T) {
	tests := []struct {
		name, payload, wantErr string
	}{
		{"not an object", `["a"]`, "want a JSON object, got a list"},
		{"string payload", `"text"`, "want a JSON object, got a string"},
		{"malformed", `{"documents": [`, "invalid payload"},
		{"empty payload", ``, `missing "documents"`},
		{"missing documents", `{}`, `missing "documents"`},
		{"null documents", `{"documents": null}`, `missing "documents"`},
		{"documents not a list", `{"documents": "abc"}`, `"documents" must be a list, got a string`},
		{"empty list", `{"documents": []}`, `"documents" is empty`},
		{"number document", `{"documents": [1]}`, `documents[0]: want a string or an object`},
		{"null document", `{"documents": ["a", null]}`, `documents[1]: want a string or an object`},
		{"missing text", `{"documents": [{"id": "a"}]}`, `documents[0]: missing "text"`},
		{"number text", `{"documents": [{"text": 5}]}`, `"text" must be a string, got a number`},
		{"null text", `{"documents": [{"text": null}]}`, `"text" must be a string, got null`},
		{"list text", `{"documents": [{"text": ["a"]}]}`, `"text" must be a string, got a list`},
		{"number id", `{"documents": [{"id": 1, "text": "a"}]}`, `"id" must be a string, got a number`},
		{"empty id", `{"documents": [{"id": "", "text": "a"}]}`, `"id" must be 1-256 bytes`},
		{"long id", `{"documents": [{"id": "` + strings.Repeat("x", 257) + `", "text": "a"}]}`, `"id" must be 1-256 bytes`},
		{"duplicate id", `{"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}`, `documents[1]: id "a" is also the id of documents[0]`},
		{"default id taken", `{"documents": [{"id": "doc-2", "text": "x"}, "y"]}`, `id "doc-2" is also`},
		{"unknown document field", `{"documents": [{"text": "a", "body": "b"}]}`, `unknown field "body"`},
		{"unknown payload field", `{"documents": ["a"], "documentz": []}`, `unknown field "documentz"`},
		{"trailing data", `{"documents": ["a"]} {}`, "data after the JSON object"},
		{"too many", `{"documents": [` + strings.TrimSuffix(strings.Repeat(`"a",`, MaxDocuments+1), ",") + `]}`, "has 1001 documents, over the limit of 1000"},
		{"too large", `{"documents": ["` + strings.Repeat("a", MaxDocumentBytes+1) + `"]}`, "text is 1048577 bytes, over the limit of 1048576"},
	}
	for _, typ := range documentTypes() {
		for _, tt := range tests {
			t.Run(typ+"/"+tt.name, func(t *testing.T) {
				res, calls, err := runJob(t, t.Context(), typ, tt.payload)
				if !queue.IsPermanent(err) {
					t.Fatalf("err = %v (result %v), want a permanent error", err, res)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %q, want it to contain %q", err, tt.wantErr)
				}
				if len(calls) != 0 {
					t.Fatalf("progress reported for a bad payload: %+v", calls)
				}
			})
		}
	}
}

// A document handler checks ctx before each document and stops with an
// error wrapping the context's cause.
func TestDocumentHandlersStopWhenCancelled(t *testing.T) {
	payload := `{"documents": ["Redis stores jobs. Workers run them.", "Second document here.", "Third document here.", "Fourth one."]}`
	stop := errors.New("stop requested")
	for _, typ := range documentTypes() {
		t.Run(typ+"/before start", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			res, calls, err := runJob(t, ctx, typ, payload)
			if !errors.Is(err, context.Canceled) || queue.IsPermanent(err) {
				t.Fatalf("err = %v (result %v), want context.Canceled, not permanent", err, res)
			}
			if len(calls) != 0 {
				t.Fatalf("progress reported: %+v", calls)
			}
		})
		t.Run(typ+"/after document 2", func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			_, calls, err := runJobWith(t, ctx, typ, payload, func(c progressCall) {
				if c.step == "Processing document 2 of 4" {
					cancel(stop)
				}
			})
			if !errors.Is(err, stop) || queue.IsPermanent(err) {
				t.Fatalf("err = %v, want the cancel cause, not permanent", err)
			}
			if !strings.Contains(err.Error(), "stopped before document 3 of 4") {
				t.Fatalf("err = %q, want it to say where it stopped", err)
			}
			if len(calls) != 2 {
				t.Fatalf("progress calls %+v, want 2", calls)
			}
			checkProgress(t, calls, "document", 4)
		})
	}
}
