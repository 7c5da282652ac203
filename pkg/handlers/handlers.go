package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/compileo/jobqueue/pkg/queue"
)

// Job types of the built-in handlers.
const (
	// TypeDemo sleeps through a number of steps; see the package doc.
	TypeDemo = "demo"
	// TypeDocumentParsing computes text statistics of documents.
	TypeDocumentParsing = "document_parsing"
	// TypeChunking splits documents into overlapping chunks.
	TypeChunking = "chunking"
	// TypeTaxonomyGeneration derives a term taxonomy from documents.
	TypeTaxonomyGeneration = "taxonomy_generation"
	// TypeDatasetGeneration turns documents into a JSONL training dataset.
	TypeDatasetGeneration = "dataset_generation"
)

// builtin is one built-in handler: its type, its payload validation (run
// first by its handler, and by the tests on arbitrary input), and itself.
type builtin struct {
	typ      string
	validate func(payload json.RawMessage) error
	handle   queue.HandlerFunc
}

// builtins lists the built-in handlers.
func builtins() []builtin {
	return []builtin{
		{TypeDemo, validator(parseDemoPayload), handleDemo},
		{TypeDocumentParsing, validator(parseDocumentParsingPayload), handleDocumentParsing},
		{TypeChunking, validator(parseChunkingPayload), handleChunking},
		{TypeTaxonomyGeneration, validator(parseTaxonomyPayload), handleTaxonomy},
		{TypeDatasetGeneration, validator(parseDatasetPayload), handleDataset},
	}
}

func validator[P any](parse func(json.RawMessage) (P, error)) func(json.RawMessage) error {
	return func(payload json.RawMessage) error {
		_, err := parse(payload)
		return err
	}
}

// Register registers every built-in handler on mux, under the names Types
// returns, replacing any handler registered earlier under those names.
func Register(mux *queue.Mux) {
	for _, b := range builtins() {
		mux.Handle(b.typ, b.handle)
	}
}

// Validate checks payload as the built-in handler of typ checks it before
// it runs, so a submission can be refused at once instead of failing on a
// worker later. A type that is not built-in is nil: its own worker
// validates it.
func Validate(typ string, payload json.RawMessage) error {
	for _, b := range builtins() {
		if b.typ == typ {
			return b.validate(payload)
		}
	}
	return nil
}

// Validators returns the payload check of each built-in handler, by job
// type: what an API that accepts these types runs before it queues a job
// (api.TypeSet of this map).
func Validators() map[string]func(payload json.RawMessage) error {
	out := make(map[string]func(payload json.RawMessage) error)
	for _, b := range builtins() {
		out[b.typ] = b.validate
	}
	return out
}

// Types returns the job types of the built-in handlers, sorted.
func Types() []string {
	var out []string
	for _, b := range builtins() {
		out = append(out, b.typ)
	}
	slices.Sort(out)
	return out
}

// forEachDocument calls fn on each document in turn, reporting "Processing
// document i of n" after each. It stops with an error wrapping the
// context's cause when ctx is done before a document.
func forEachDocument(ctx context.Context, job *queue.ActiveJob, docs []document, fn func(i int, d document) error) error {
	n := len(docs)
	for i, d := range docs {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped before document %d of %d: %w", i+1, n, context.Cause(ctx))
		}
		if err := fn(i, d); err != nil {
			return err
		}
		job.Progress(float64(i+1)/float64(n)*100, fmt.Sprintf("Processing document %d of %d", i+1, n))
	}
	return nil
}
