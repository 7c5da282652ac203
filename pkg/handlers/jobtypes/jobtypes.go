// Package jobtypes describes the job types that ship with the worker
// (package handlers runs them): what each one's payload holds, what its
// result holds, and an example of both.
//
// It is the one description of them. The handlers' tests run each
// example payload and require exactly the example result; docs/api.md's
// "Job types" section is rendered from it (Markdown), and the OpenAPI
// document's per-type schemas are checked against it; `jobctl types`
// prints it. It needs only the standard library, so the CLI prints it
// without linking the engine.
package jobtypes

// Field is one field of a payload or a result.
type Field struct {
	// Path names the field in the JSON: "chunk_size", "totals.words";
	// "chunks[].text" is the field text of every element of the list
	// chunks.
	Path string `json:"path"`
	// Type is the field's JSON type: "integer", "number", "string",
	// "boolean", "object", "list", or "map" (an object whose keys are
	// data, such as document ids).
	Type string `json:"type"`
	// Doc says what the field holds; for a payload field, its range and
	// default.
	Doc string `json:"doc"`
}

// Type is one job type.
type Type struct {
	Name string `json:"type"`
	// Summary says in one line what a job of the type does.
	Summary string `json:"summary"`
	// About says how the handler works, beyond its fields.
	About   string  `json:"about"`
	Payload []Field `json:"payload"`
	Result  []Field `json:"result"`
	// ExamplePayload is a payload (JSON), and ExampleResult (JSON) the
	// result a job with that payload gives.
	ExamplePayload string `json:"example_payload"`
	ExampleResult  string `json:"example_result"`
}

// All returns the built-in job types, in the order the docs list them.
func All() []Type {
	return []Type{demo, documentParsing, chunking, taxonomyGeneration, datasetGeneration}
}

// Lookup returns the built-in type called name.
func Lookup(name string) (Type, bool) {
	for _, t := range All() {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// Documents is how every document type reads its "documents", and
// TextAnalysis how they read text.
const (
	Documents = "The document types take `documents`, a list of 1 to 1000 documents. A document " +
		"is a string, or an object `{\"id\": \"...\", \"text\": \"...\"}` whose id is optional " +
		"(unique, 1-256 bytes; by default `doc-<n>`, n counting from 1). A text is at most 1 MiB, " +
		"all texts together at most 16 MiB. A job reports `Processing document i of n` after " +
		"each document."
	TextAnalysis = `A word is a run of letters and digits; an apostrophe or a hyphen inside it joins it ` +
		`("don't", "co-occur"). A term is a word lowercased, a possessive 's dropped, of at least ` +
		`two characters with a letter, and not on a short list of English stopwords. A sentence ` +
		"ends at `.` `!` `?` or `…` followed by a space or the end of its paragraph; paragraphs " +
		`are separated by blank lines.`
	// Conventions are the rules every built-in type's payload follows.
	Conventions = "A payload is a JSON object; an empty payload or `null` reads as `{}`. Unknown " +
		"fields are refused (a misspelt option must not be silently ignored). A bad payload is " +
		"refused at submission with `400 invalid_argument`; should one reach a worker, the job " +
		"fails at once, without retries."
)

// documentsField is the "documents" field of every document type.
var documentsField = []Field{
	{"documents", "list", "1 to 1000 documents (required); a document is a string (its text) or an object:"},
	{"documents[].id", "string", "1-256 bytes, unique; default `doc-<n>` (n from 1)"},
	{"documents[].text", "string", "the text (required), at most 1 MiB"},
}

var demo = Type{
	Name:    "demo",
	Summary: "sleeps through a number of steps, reporting progress: a job to try the queue with",
	About: "Sleeps `step_ms` per step and reports `Processing step i of N` after each. At step " +
		"`fail_at` it fails with an error that is retried (up to the job's `max_retries`).",
	Payload: []Field{
		{"steps", "integer", "1-10000, default 5: how many steps"},
		{"step_ms", "integer", "0-600000, default 200: how long each step sleeps, in milliseconds"},
		{"fail_at", "integer", "0 to steps, default 0 (never): the step at which the job fails"},
	},
	Result: []Field{
		{"steps", "integer", "the steps run"},
		{"step_ms", "integer", "the milliseconds each slept"},
	},
	ExamplePayload: `{"steps": 3, "step_ms": 10}`,
	ExampleResult:  `{"steps": 3, "step_ms": 10}`,
}

var documentParsing = Type{
	Name:    "document_parsing",
	Summary: "text statistics of each document: words, sentences, paragraphs, title and top terms",
	About: "The title is the first non-empty line (without leading `#`s) when more text follows " +
		"it, it is at most 80 characters and it does not end with `.` `,` `;` or `:`.",
	Payload: documentsField,
	Result: []Field{
		{"documents", "list", "one entry per document, in order"},
		{"documents[].id", "string", "the document's id"},
		{"documents[].title", "string", "its title; absent when it has none"},
		{"documents[].text", "string", "its text, handed on to the jobs that take their documents from this one in a pipeline"},
		{"documents[].characters", "integer", "characters (not bytes)"},
		{"documents[].words", "integer", "words"},
		{"documents[].sentences", "integer", "sentences"},
		{"documents[].paragraphs", "integer", "paragraphs"},
		{"documents[].lines", "integer", "lines"},
		{"documents[].average_word_length", "number", "characters per word, to two decimals"},
		{"documents[].unique_terms", "integer", "distinct terms"},
		{"documents[].top_terms", "list", "the 10 most frequent terms at most, most frequent first, ties by term"},
		{"documents[].top_terms[].term", "string", "the term"},
		{"documents[].top_terms[].count", "integer", "its occurrences"},
		{"totals", "object", "the same over all documents"},
		{"totals.documents", "integer", "documents"},
		{"totals.characters", "integer", "characters"},
		{"totals.words", "integer", "words"},
		{"totals.sentences", "integer", "sentences"},
		{"totals.paragraphs", "integer", "paragraphs"},
		{"totals.lines", "integer", "lines"},
		{"totals.average_word_length", "number", "characters per word, to two decimals"},
		{"totals.unique_terms", "integer", "distinct terms over all documents"},
		{"totals.top_terms", "list", "the 10 most frequent terms over all documents"},
		{"totals.top_terms[].term", "string", "the term"},
		{"totals.top_terms[].count", "integer", "its occurrences"},
	},
	ExamplePayload: `{"documents": ["Release notes\nWorkers co-operate. Jobs run once!", {"id": "faq", "text": "Is a job lost? No."}]}`,
	ExampleResult: `{"documents": [
  {"id": "doc-1", "title": "Release notes", "text": "Release notes\nWorkers co-operate. Jobs run once!", "characters": 48, "words": 7, "sentences": 2, "paragraphs": 1, "lines": 2,
   "average_word_length": 5.71, "unique_terms": 6,
   "top_terms": [{"term": "co-operate", "count": 1}, {"term": "jobs", "count": 1}, {"term": "notes", "count": 1},
                 {"term": "release", "count": 1}, {"term": "run", "count": 1}, {"term": "workers", "count": 1}]},
  {"id": "faq", "text": "Is a job lost? No.", "characters": 18, "words": 5, "sentences": 2, "paragraphs": 1, "lines": 1,
   "average_word_length": 2.4, "unique_terms": 2,
   "top_terms": [{"term": "job", "count": 1}, {"term": "lost", "count": 1}]}],
 "totals": {"documents": 2, "characters": 66, "words": 12, "sentences": 4, "paragraphs": 2, "lines": 3,
   "average_word_length": 4.33, "unique_terms": 8,
   "top_terms": [{"term": "co-operate", "count": 1}, {"term": "job", "count": 1}, {"term": "jobs", "count": 1},
                 {"term": "lost", "count": 1}, {"term": "notes", "count": 1}, {"term": "release", "count": 1},
                 {"term": "run", "count": 1}, {"term": "workers", "count": 1}]}}`,
}

var chunking = Type{
	Name:    "chunking",
	Summary: "splits documents into overlapping chunks of words or characters",
	About: "Each chunk starts `chunk_size - overlap` units after the previous one; the last chunk " +
		"of a document ends at its end. In words, a chunk keeps the punctuation attached to its " +
		"first and last words (`(now).` whole). A job fails, without retries, past 100000 chunks " +
		"or 32 MiB of chunk text. In a pipeline, a payload without `documents` takes the " +
		"documents of its parents' results (a `document_parsing` parent's).",
	Payload: append(append([]Field(nil), documentsField...),
		Field{"chunk_size", "integer", "1-100000, default 200: units per chunk"},
		Field{"overlap", "integer", "0 to chunk_size-1, default chunk_size/4: units a chunk shares with the previous one"},
		Field{"unit", "string", "`words` (default) or `chars` (characters, not bytes)"},
	),
	Result: []Field{
		{"unit", "string", "the unit"},
		{"chunk_size", "integer", "the chunk size"},
		{"overlap", "integer", "the overlap"},
		{"count", "integer", "chunks in all"},
		{"chunks", "list", "every chunk, document by document"},
		{"chunks[].document_id", "string", "the id of its document"},
		{"chunks[].index", "integer", "its place in its document, from 0"},
		{"chunks[].start", "integer", "its first unit in the document, from 0"},
		{"chunks[].end", "integer", "the unit after its last one"},
		{"chunks[].text", "string", "its text, as in the document"},
		{"per_document", "map", "chunks per document id"},
	},
	ExamplePayload: `{"documents": [{"id": "intro", "text": "Jobs wait in a queue. A worker runs each job, then reports."}], "chunk_size": 6, "overlap": 2, "unit": "words"}`,
	ExampleResult: `{"unit": "words", "chunk_size": 6, "overlap": 2, "count": 3,
 "chunks": [
  {"document_id": "intro", "index": 0, "start": 0, "end": 6, "text": "Jobs wait in a queue. A"},
  {"document_id": "intro", "index": 1, "start": 4, "end": 10, "text": "queue. A worker runs each job,"},
  {"document_id": "intro", "index": 2, "start": 8, "end": 12, "text": "each job, then reports."}],
 "per_document": {"intro": 3}}`,
}

var taxonomyGeneration = Type{
	Name:    "taxonomy_generation",
	Summary: "a two-level taxonomy of the documents' terms: categories and the terms under them",
	About: "Categories are the terms scoring highest by tf × idf, `idf = ln(1 + documents / " +
		"document frequency)`. A category's children are the other terms (categories excepted) " +
		"sharing the most sentences with it, scored co-occurrences × idf. Ties go by term. In a " +
		"pipeline, a payload without `documents` takes its parents' (a `chunking` parent's " +
		"chunks, each a document `<document_id>#<index>`).",
	Payload: append(append([]Field(nil), documentsField...),
		Field{"max_categories", "integer", "1-50, default 10: categories at most"},
		Field{"terms_per_category", "integer", "1-20, default 5: children per category at most"},
	),
	Result: []Field{
		{"categories", "list", "the categories, highest score first"},
		{"categories[].term", "string", "the category's term"},
		{"categories[].score", "number", "tf × idf"},
		{"categories[].frequency", "integer", "the term's occurrences"},
		{"categories[].document_frequency", "integer", "documents mentioning it"},
		{"categories[].documents", "list", "the ids of those documents"},
		{"categories[].children", "list", "the terms under it, highest score first"},
		{"categories[].children[].term", "string", "the child's term"},
		{"categories[].children[].score", "number", "co-occurrences × the term's idf"},
		{"categories[].children[].cooccurrences", "integer", "sentences holding both terms"},
		{"categories[].children[].documents", "list", "the ids of those sentences' documents"},
		{"vocabulary_size", "integer", "distinct terms in all documents"},
		{"documents", "integer", "documents read"},
	},
	ExamplePayload: `{"documents": ["Workers run jobs from Redis queues.", "Redis keeps queues of jobs.", "Workers report job progress."], "max_categories": 2, "terms_per_category": 2}`,
	ExampleResult: `{"categories": [
  {"term": "jobs", "score": 1.8326, "frequency": 2, "document_frequency": 2, "documents": ["doc-1", "doc-2"],
   "children": [{"term": "redis", "score": 1.8326, "cooccurrences": 2, "documents": ["doc-1", "doc-2"]},
                {"term": "keeps", "score": 1.3863, "cooccurrences": 1, "documents": ["doc-2"]}]},
  {"term": "queues", "score": 1.8326, "frequency": 2, "document_frequency": 2, "documents": ["doc-1", "doc-2"],
   "children": [{"term": "redis", "score": 1.8326, "cooccurrences": 2, "documents": ["doc-1", "doc-2"]},
                {"term": "keeps", "score": 1.3863, "cooccurrences": 1, "documents": ["doc-2"]}]}],
 "vocabulary_size": 9, "documents": 3}`,
}

var datasetGeneration = Type{
	Name:    "dataset_generation",
	Summary: "a training dataset (JSONL) of question-answer or prompt-completion examples from the documents",
	About: "Each sentence of 4-100 words makes at most one example, in order. `qa`: a sentence " +
		"`<subject> is|are ...` (a subject of 1-6 words with a term, no `,` `;` `:`) gives a " +
		"`definition` example, `What is <subject>?` answered by the sentence; any other sentence " +
		"with a term gives a `cloze` example, the sentence with its longest term blanked out, " +
		"answered by that word. `completion`: the words before the middle one are the prompt, " +
		"the rest the completion. A job stops at 20000 examples and then says `\"truncated\": true`. " +
		"In a pipeline, a payload without `documents` takes its parents' (a `chunking` parent's " +
		"chunks), and a `taxonomy_generation` parent gives each example its `category`.",
	Payload: append(append([]Field(nil), documentsField...),
		Field{"format", "string", "`qa` (default) or `completion`"},
		Field{"max_examples_per_document", "integer", "1-1000, default 20: examples per document at most"},
	),
	Result: []Field{
		{"format", "string", "the format"},
		{"count", "integer", "examples in all"},
		{"examples", "list", "the examples, document by document"},
		{"examples[].document_id", "string", "the id of the document it comes from"},
		{"examples[].kind", "string", "qa: `definition` or `cloze`"},
		{"examples[].question", "string", "qa: the question"},
		{"examples[].answer", "string", "qa: its answer"},
		{"examples[].prompt", "string", "completion: the prompt"},
		{"examples[].completion", "string", "completion: its completion"},
		{"examples[].category", "string", "with a taxonomy_generation parent in a pipeline: the category the example falls under (`\"\"` for none)"},
		{"jsonl", "string", "the examples, one JSON object per line: the dataset file"},
		{"per_document", "map", "examples per document id"},
		{"truncated", "boolean", "true when the job stopped at 20000 examples"},
	},
	ExamplePayload: `{"documents": ["A queue is a list of jobs waiting to run. Workers take the oldest job first."], "format": "qa", "max_examples_per_document": 5}`,
	ExampleResult: `{"format": "qa", "count": 2,
 "examples": [
  {"document_id": "doc-1", "kind": "definition", "question": "What is a queue?", "answer": "A queue is a list of jobs waiting to run."},
  {"document_id": "doc-1", "kind": "cloze", "question": "Fill in the blank: _____ take the oldest job first.", "answer": "Workers"}],
 "jsonl": "{\"document_id\":\"doc-1\",\"kind\":\"definition\",\"question\":\"What is a queue?\",\"answer\":\"A queue is a list of jobs waiting to run.\"}\n{\"document_id\":\"doc-1\",\"kind\":\"cloze\",\"question\":\"Fill in the blank: _____ take the oldest job first.\",\"answer\":\"Workers\"}\n",
 "per_document": {"doc-1": 2}, "truncated": false}`,
}
