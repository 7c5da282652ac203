package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/queue"
)

// Payload defaults and limits of the dataset_generation handler.
const (
	datasetDefaultPerDocument = 20
	datasetMaxPerDocument     = 1000
	// datasetMaxExamples caps the examples of one job; beyond it the
	// dataset is cut short and the result says "truncated": true.
	datasetMaxExamples = 20000
	// Sentences of fewer or more words make no example.
	datasetMinWords = 4
	datasetMaxWords = 100
	// datasetMaxSubjectWords bounds the subject of a definition.
	datasetMaxSubjectWords = 6
	// datasetBlank replaces the hidden word of a cloze question.
	datasetBlank = "_____"
)

// Dataset formats.
const (
	formatQA         = "qa"
	formatCompletion = "completion"
)

// datasetParams is a validated dataset_generation payload.
type datasetParams struct {
	docs        []document
	format      string
	perDocument int
}

// qaExample is a question-answer pair. Kind is "definition" (a "What
// is/are <subject>?" question answered by the sentence defining it) or
// "cloze" (a fill-in-the-blank question answered by the hidden word).
type qaExample struct {
	DocumentID string `json:"document_id"`
	Kind       string `json:"kind"`
	Question   string `json:"question"`
	Answer     string `json:"answer"`
}

// completionExample is a sentence cut in two at a word boundary:
// Prompt+Completion is the sentence.
type completionExample struct {
	DocumentID string `json:"document_id"`
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
}

// datasetResult is the result of a dataset_generation job.
type datasetResult struct {
	Format string `json:"format"`
	Count  int    `json:"count"`
	// Examples are qaExample or completionExample values.
	Examples []any `json:"examples"`
	// JSONL holds the examples, one JSON object per line.
	JSONL       string         `json:"jsonl"`
	PerDocument map[string]int `json:"per_document"`
	Truncated   bool           `json:"truncated"`
}

// parseDatasetPayload validates {"documents": [...], "format":
// "qa"|"completion" ("qa"), "max_examples_per_document": 1-1000 (20)}.
func parseDatasetPayload(raw json.RawMessage) (datasetParams, error) {
	var in struct {
		Documents   json.RawMessage `json:"documents"`
		Format      *string         `json:"format"`
		PerDocument *int            `json:"max_examples_per_document"`
	}
	if err := decodePayload(raw, &in); err != nil {
		return datasetParams{}, err
	}
	p := datasetParams{format: formatQA}
	if in.Format != nil {
		p.format = *in.Format
	}
	if p.format != formatQA && p.format != formatCompletion {
		return datasetParams{}, invalidf("format = %q, want %q or %q", p.format, formatQA, formatCompletion)
	}
	var err error
	if p.perDocument, err = intParam("max_examples_per_document", in.PerDocument, datasetDefaultPerDocument, 1, datasetMaxPerDocument); err != nil {
		return datasetParams{}, err
	}
	if p.docs, err = parseDocuments(in.Documents); err != nil {
		return datasetParams{}, err
	}
	return p, nil
}

// handleDataset makes at most max_examples_per_document examples of each
// document, one per sentence of 4-100 words, in sentence order.
func handleDataset(ctx context.Context, job *queue.ActiveJob) (any, error) {
	payload, inputs, err := payloadOf(ctx, job)
	if err != nil {
		return nil, err
	}
	p, err := parseDatasetPayload(payload)
	if err != nil {
		return nil, err
	}
	taxonomy := inputTaxonomy(inputs)
	res := datasetResult{Format: p.format, Examples: []any{}, PerDocument: make(map[string]int, len(p.docs))}
	var jsonl bytes.Buffer
	enc := json.NewEncoder(&jsonl)
	enc.SetEscapeHTML(false)
	err = forEachDocument(ctx, job, p.docs, func(_ int, d document) error {
		n := 0
		for _, s := range sentences(d.Text) {
			if n == p.perDocument || res.Truncated {
				break
			}
			if len(res.Examples) == datasetMaxExamples {
				res.Truncated = true
				break
			}
			var ex any
			var ok bool
			if p.format == formatQA {
				ex, ok = qaFromSentence(d.ID, s)
			} else {
				ex, ok = completionFromSentence(d.ID, s)
			}
			if ok && taxonomy != nil {
				ex = categorized{ex, categoryOf(taxonomy, s)}
			}
			if !ok {
				continue
			}
			if err := enc.Encode(ex); err != nil {
				return fmt.Errorf("dataset_generation: encode example: %w", err)
			}
			res.Examples = append(res.Examples, ex)
			n++
		}
		res.PerDocument[d.ID] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Count = len(res.Examples)
	res.JSONL = jsonl.String()
	return res, nil
}

// usableWords returns the words of sentence s, or false when s has too
// few or too many to make an example.
func usableWords(s string) ([]span, bool) {
	words := wordSpans(s)
	return words, len(words) >= datasetMinWords && len(words) <= datasetMaxWords
}

// qaFromSentence makes a definition question of s when s reads "<subject>
// is|are ...", the subject being 1-6 words with a term and no , ; or :
// — else a cloze question hiding the longest term of s (the first, on a
// tie). False when s is unusable or has no term.
func qaFromSentence(docID, s string) (qaExample, bool) {
	words, ok := usableWords(s)
	if !ok {
		return qaExample{}, false
	}
	if q, ok := definitionQuestion(s); ok {
		return qaExample{DocumentID: docID, Kind: "definition", Question: q, Answer: s}, true
	}
	best, bestLen := -1, 0
	for i, w := range words {
		if _, ok := termOf(s[w.start:w.end]); ok {
			if n := utf8.RuneCountInString(s[w.start:w.end]); n > bestLen {
				best, bestLen = i, n
			}
		}
	}
	if best < 0 {
		return qaExample{}, false
	}
	w := words[best]
	return qaExample{DocumentID: docID, Kind: "cloze",
		Question: "Fill in the blank: " + s[:w.start] + datasetBlank + s[w.end:],
		Answer:   s[w.start:w.end]}, true
}

// definitionQuestion returns "What is|are <subject>?" when s reads
// "<subject> is|are ...". A leading stopword of the subject ("The",
// "A") is lowercased.
func definitionQuestion(s string) (string, bool) {
	cut, verb := -1, ""
	for _, v := range []string{"is", "are"} {
		if i := strings.Index(s, " "+v+" "); i > 0 && (cut < 0 || i < cut) {
			cut, verb = i, v
		}
	}
	if cut < 0 {
		return "", false
	}
	subject := s[:cut]
	words := wordSpans(subject)
	if len(words) == 0 || len(words) > datasetMaxSubjectWords || strings.ContainsAny(subject, ",;:") || len(terms(subject)) == 0 {
		return "", false
	}
	if first := subject[words[0].start:words[0].end]; isStopword(strings.ToLower(first)) {
		subject = subject[:words[0].start] + strings.ToLower(first) + subject[words[0].end:]
	}
	return "What " + verb + " " + subject + "?", true
}

// completionFromSentence cuts s before its middle word (of n words, word
// n/2 counting from 0): the prompt is what comes before, the completion
// the rest, its leading space included. False when s is unusable.
func completionFromSentence(docID, s string) (completionExample, bool) {
	words, ok := usableWords(s)
	if !ok {
		return completionExample{}, false
	}
	prompt := strings.TrimRight(s[:words[len(words)/2].start], " ")
	return completionExample{DocumentID: docID, Prompt: prompt, Completion: s[len(prompt):]}, true
}
