package handlers

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/queue"
)

// fuzzSeeds returns payloads, good and bad, for the fuzz targets.
func fuzzSeeds() []string {
	return []string{
		``,
		`{}`,
		`null`,
		`[]`,
		`"text"`,
		`{"steps": 3, "step_ms": 0, "fail_at": 2}`,
		`{"steps": -1}`,
		`{"steps": 1e400}`,
		`{"documents": ["One. Two!", {"id": "x", "text": "A queue is a list.\n\nThird?"}]}`,
		`{"documents": [{"id": "x"}]}`,
		`{"documents": [{"id": "a", "text": "a"}, {"id": "a", "text": "b"}]}`,
		`{"documents": [1, null, true, []]}`,
		`{"documents": ["a b c d e"], "chunk_size": 2, "overlap": 1, "unit": "chars"}`,
		`{"documents": ["a b c d e"], "chunk_size": 2, "overlap": 2}`,
		`{"documents": ["Redis is fast. Workers run jobs."], "max_categories": 1, "terms_per_category": 1}`,
		`{"documents": ["Redis is fast. Workers run jobs here."], "format": "completion", "max_examples_per_document": 1}`,
		"{\"documents\": [\"\xff\xfe invalid \u00e9 utf-8\"]}",
		`{"documents": ["x"]} trailing`,
		`{"documents": ["x"], "documents": 5}`,
	}
}

// FuzzParseDocuments feeds arbitrary bytes to parseDocuments, as the
// "documents" value and wrapped in a payload, and to every built-in
// handler's payload validation: none may panic, and each must succeed or
// fail with a permanent error.
func FuzzParseDocuments(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := parseDocuments(data)
		checkDocuments(t, docs, err)
		for _, b := range builtins() {
			for _, payload := range fuzzPayloads(data) {
				if err := b.validate(payload); err != nil && !queue.IsPermanent(err) {
					t.Fatalf("%s validation of %q: non-permanent error %v", b.typ, payload, err)
				}
			}
		}
	})
}

// FuzzDocumentHandlers runs the document handlers on arbitrary payloads:
// none may panic; each returns a result that encodes to JSON, or a
// permanent error.
func FuzzDocumentHandlers(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range builtins() {
			if b.typ == TypeDemo { // it sleeps; its validation is fuzzed above
				continue
			}
			for _, payload := range fuzzPayloads(data) {
				job := queue.NewActiveJob(&queue.Job{ID: "fuzz", Type: b.typ, Payload: payload}, nil)
				res, err := b.handle(context.Background(), job)
				if err != nil {
					if !queue.IsPermanent(err) {
						t.Fatalf("%s on %q: non-permanent error %v", b.typ, payload, err)
					}
					continue
				}
				if _, err := json.Marshal(res); err != nil {
					t.Fatalf("%s on %q: result does not encode: %v", b.typ, payload, err)
				}
			}
		}
	})
}

// fuzzPayloads returns data as a payload and as the documents of one.
func fuzzPayloads(data []byte) []json.RawMessage {
	return []json.RawMessage{data, json.RawMessage(`{"documents": ` + string(data) + `}`)}
}

// checkDocuments checks what parseDocuments returned.
func checkDocuments(t *testing.T, docs []document, err error) {
	t.Helper()
	if err != nil {
		if !queue.IsPermanent(err) || !strings.HasPrefix(err.Error(), "invalid payload: ") {
			t.Fatalf("error %v: want a permanent invalid payload error", err)
		}
		return
	}
	if len(docs) == 0 || len(docs) > MaxDocuments {
		t.Fatalf("%d documents accepted", len(docs))
	}
	ids := make(map[string]bool)
	for _, d := range docs {
		if d.ID == "" || len(d.ID) > maxDocumentIDBytes || ids[d.ID] {
			t.Fatalf("bad or duplicate id %q accepted", d.ID)
		}
		ids[d.ID] = true
		if len(d.Text) > MaxDocumentBytes || !utf8.ValidString(d.Text) {
			t.Fatalf("text of %q: %d bytes, valid UTF-8 %v", d.ID, len(d.Text), utf8.ValidString(d.Text))
		}
	}
}
