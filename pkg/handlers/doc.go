// Package handlers owns the job handlers that ship with the worker: the
// demo handler and the four document handlers the product's users run.
// Register puts them all on a queue.Mux; Types lists their job types.
// The job engine itself (claiming, retries, progress writes) is package
// queue; this package only turns payloads into results.
//
// # Registering a custom handler
//
// Register the built-ins, then add your own type next to them (a later
// registration of the same type replaces the earlier one):
//
//	mux := queue.NewMux()
//	handlers.Register(mux)
//	mux.HandleFunc("word_count", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
//		var p struct {
//			Text string `json:"text"`
//		}
//		if err := job.Decode(&p); err != nil {
//			return nil, err // a bad payload fails at once (permanent)
//		}
//		if err := ctx.Err(); err != nil {
//			return nil, err // cancelled, timed out or shutting down
//		}
//		job.Progress(100, "Counting words")
//		return map[string]int{"words": len(strings.Fields(p.Text))}, nil
//	})
//
// # Conventions
//
// Every handler validates its whole payload before doing any work. A
// payload is a JSON object; unknown fields are refused (a misspelt option
// must not be silently ignored), and an empty payload reads as {}. A bad
// payload fails the job at once with a queue.Permanent error naming the
// field; other errors are retried. Cancellation (ctx done) stops a handler
// between steps or documents with an error wrapping context.Cause.
//
// # demo
//
// {"steps": 1-10000 (default 5), "step_ms": 0-600000 (200), "fail_at":
// 0-steps (absent or 0: never)}. Sleeps step_ms per step, reporting
// "Processing step i of N" after each; at step fail_at it fails with a
// retryable error. Result: {"steps": N, "step_ms": M}.
//
// # Documents
//
// The four document handlers take {"documents": [...]}: 1 to MaxDocuments
// (1000) documents, each a string or an object {"id": "...", "text":
// "..."} (id optional, unique, at most 256 bytes; default "doc-<n>", n
// counting from 1). A text is at most MaxDocumentBytes (1 MiB), all texts
// together at most MaxTotalBytes (16 MiB). They report "Processing
// document i of n" after each document.
//
// Text is analysed the same way everywhere: a word is a run of letters
// and digits (an apostrophe or a hyphen inside it joins it: "don't",
// "co-occur"); a term is a
// word lowercased, a possessive 's dropped, of at least two characters
// with a letter and not on the small English stopword list; a sentence
// ends at . ! ? or … followed by a space or the end of its paragraph;
// paragraphs are separated by blank lines.
//
// # document_parsing
//
// {"documents": [...]}. Result: {"documents": [{"id", "title",
// "characters", "words", "sentences", "paragraphs", "lines",
// "average_word_length", "unique_terms", "top_terms": [{"term",
// "count"}] (10 at most)}], "totals": {the same summed, plus
// "documents"}}. The title is the first non-empty line when more text
// follows, it is at most 80 characters and does not end with . , ; or :.
//
// # chunking
//
// {"documents": [...], "chunk_size": 1-100000 (200), "overlap":
// 0-(chunk_size-1) (default chunk_size/4, i.e. 50), "unit": "words" or
// "chars" (words)}. Each chunk starts chunk_size-overlap units after the
// previous one; the last one of a document ends at its end. Result:
// {"unit", "chunk_size", "overlap", "count", "chunks": [{"document_id",
// "index", "start", "end", "text"}], "per_document": {id: count}}, start
// and end (exclusive) counted in the unit. In words, a chunk's text keeps
// the punctuation attached to its first and last words ("(now)." whole). A job fails permanently past
// 100000 chunks or 32 MiB of chunk text.
//
// # taxonomy_generation
//
// {"documents": [...], "max_categories": 1-50 (10),
// "terms_per_category": 1-20 (5)}. Categories are the terms scoring
// highest by tf × idf, idf = ln(1 + documents/document frequency);
// their children are the other terms (categories excepted) sharing the
// most sentences with them, scored co-occurrences × idf. Ties go by term.
// Result: {"categories": [{"term", "score", "frequency",
// "document_frequency", "documents": [ids], "children": [{"term",
// "score", "cooccurrences", "documents"}]}], "vocabulary_size",
// "documents"}.
//
// # dataset_generation
//
// {"documents": [...], "format": "qa" or "completion" (qa),
// "max_examples_per_document": 1-1000 (20)}. Each sentence of 4-100 words
// makes at most one example, in order. "qa": a sentence "<subject>
// is|are ..." (subject of 1-6 words with a term, no , ; :) gives
// {"kind": "definition", "question": "What is <subject>?", "answer":
// sentence}; any other sentence with a term gives {"kind": "cloze",
// "question": "Fill in the blank: ...", "answer": its longest term word}.
// "completion": {"prompt": the words before the middle one,
// "completion": the rest}. Every example has "document_id". Result:
// {"format", "count", "examples", "jsonl" (one example per line),
// "per_document": {id: count}, "truncated"}; a job stops making examples
// at 20000 and then says "truncated": true.
package handlers
