package handlers

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/compileo/jobqueue/pkg/queue"
)

// Inputs from a pipeline: a chunking, taxonomy_generation or
// dataset_generation job whose payload leaves "documents" out takes them
// from its parents' results (queue.ActiveJob.Inputs), in the order of
// their keys:
//
//	document_parsing  its documents, each with the text it parsed
//	chunking          its chunks, each a document ("<document_id>#<index>")
//
// and dataset_generation also the taxonomy of a taxonomy_generation
// parent: each example names the category it falls under.

// inputTypes are the types that take their documents from their parents.
var inputTypes = []string{TypeChunking, TypeTaxonomyGeneration, TypeDatasetGeneration}

// parentResult is the shape of the results a job takes inputs from.
type parentResult struct {
	// Documents is a list in document_parsing's result (a number in
	// taxonomy_generation's).
	Documents  json.RawMessage    `json:"documents"`
	Chunks     []chunk            `json:"chunks"`
	Categories []taxonomyCategory `json:"categories"`
}

// parsedDocument is a document of a document_parsing result.
type parsedDocument struct {
	ID   string  `json:"id"`
	Text *string `json:"text"`
}

// sortedInputs decodes a job's inputs in the order of their keys; results
// of another shape are skipped.
func sortedInputs(inputs map[string]json.RawMessage) []parentResult {
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []parentResult
	for _, k := range keys {
		var r parentResult
		if json.Unmarshal(inputs[k], &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// inputDocuments are the documents of a job's parents' results, as a
// payload's "documents" (nil when they hold none).
func inputDocuments(inputs map[string]json.RawMessage) json.RawMessage {
	type doc struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	}
	var docs []doc
	for _, r := range sortedInputs(inputs) {
		var parsed []parsedDocument
		_ = json.Unmarshal(r.Documents, &parsed) // not a list: none
		for _, d := range parsed {
			if d.Text != nil {
				docs = append(docs, doc{d.ID, *d.Text})
			}
		}
		for _, c := range r.Chunks {
			docs = append(docs, doc{c.DocumentID + "#" + strconv.Itoa(c.Index), c.Text})
		}
	}
	if len(docs) == 0 {
		return nil
	}
	b, _ := json.Marshal(docs)
	return b
}

// inputTaxonomy is the categories of a taxonomy_generation parent, nil
// without one.
func inputTaxonomy(inputs map[string]json.RawMessage) []taxonomyCategory {
	for _, r := range sortedInputs(inputs) {
		if len(r.Categories) > 0 {
			return r.Categories
		}
	}
	return nil
}

// withDocuments is payload (a JSON object, or empty) with "documents" set
// to docs when it has none; a payload that is not an object is returned
// as it is, for its parse to refuse.
func withDocuments(payload, docs json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if len(payload) > 0 && string(payload) != "null" {
		if json.Unmarshal(payload, &m) != nil {
			return payload
		}
	}
	if _, ok := m["documents"]; ok || docs == nil {
		return payload
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	m["documents"] = docs
	b, _ := json.Marshal(m)
	return b
}

// payloadOf is the payload a built-in handler parses: the job's own, with
// the documents of its parents' results (inputs, returned too) when it
// leaves them out. An error is the inputs' read, worth a retry.
func payloadOf(ctx context.Context, job *queue.ActiveJob) (json.RawMessage, map[string]json.RawMessage, error) {
	inputs, err := job.Inputs(ctx)
	if err != nil || len(inputs) == 0 {
		return job.Payload, nil, err
	}
	return withDocuments(job.Payload, inputDocuments(inputs)), inputs, nil
}

// inputPlaceholder stands for the documents a job of a pipeline will take
// from its parents, when its payload is checked at submission.
var inputPlaceholder = json.RawMessage(`[{"id": "input", "text": "The documents come from the parents."}]`)

// InputValidators returns the payload check of each built-in handler for
// a job of a pipeline that has parents: the types that take their
// documents from their parents' results accept a payload that leaves
// them out; the others are checked as Validators checks them.
func InputValidators() map[string]func(payload json.RawMessage) error {
	out := Validators()
	for _, typ := range inputTypes {
		check := out[typ]
		out[typ] = func(payload json.RawMessage) error { return check(withDocuments(payload, inputPlaceholder)) }
	}
	return out
}

// categoryOf is the first category of a taxonomy whose term, or one of
// its children's, is a term of sentence s; "" for none.
func categoryOf(cats []taxonomyCategory, s string) string {
	if len(cats) == 0 {
		return ""
	}
	terms := map[string]bool{}
	for _, w := range wordSpans(s) {
		if t, ok := termOf(s[w.start:w.end]); ok {
			terms[t] = true
		}
	}
	for _, c := range cats {
		if terms[c.Term] {
			return c.Term
		}
		for _, ch := range c.Children {
			if terms[ch.Term] {
				return c.Term
			}
		}
	}
	return ""
}

// categorized is an example of a dataset_generation job that has a
// taxonomy_generation parent: the example's fields and the category it
// falls under ("" for none).
type categorized struct {
	example  any
	category string
}

// MarshalJSON writes the example's fields and "category".
func (c categorized) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(c.example)
	if err != nil || len(b) < 2 {
		return b, err
	}
	cat, _ := json.Marshal(c.category)
	return append(append(append(b[:len(b)-1:len(b)-1], `,"category":`...), cat...), '}'), nil
}
