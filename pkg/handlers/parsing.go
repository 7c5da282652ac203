package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/queue"
)

// parsingTopTerms is how many terms document_parsing lists per document
// and for all of them.
const parsingTopTerms = 10

// documentStats is what document_parsing reports of one document.
type documentStats struct {
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// Text is the document's text, handed on to the jobs that take their
	// documents from this one in a pipeline.
	Text              string      `json:"text"`
	Characters        int         `json:"characters"`
	Words             int         `json:"words"`
	Sentences         int         `json:"sentences"`
	Paragraphs        int         `json:"paragraphs"`
	Lines             int         `json:"lines"`
	AverageWordLength float64     `json:"average_word_length"`
	UniqueTerms       int         `json:"unique_terms"`
	TopTerms          []termCount `json:"top_terms"`
}

// parsingTotals sums documentStats over the documents.
type parsingTotals struct {
	Documents         int         `json:"documents"`
	Characters        int         `json:"characters"`
	Words             int         `json:"words"`
	Sentences         int         `json:"sentences"`
	Paragraphs        int         `json:"paragraphs"`
	Lines             int         `json:"lines"`
	AverageWordLength float64     `json:"average_word_length"`
	UniqueTerms       int         `json:"unique_terms"`
	TopTerms          []termCount `json:"top_terms"`
}

// parsingResult is the result of a document_parsing job.
type parsingResult struct {
	Documents []documentStats `json:"documents"`
	Totals    parsingTotals   `json:"totals"`
}

// parseDocumentParsingPayload validates {"documents": [...]}.
func parseDocumentParsingPayload(raw json.RawMessage) ([]document, error) {
	var in struct {
		Documents json.RawMessage `json:"documents"`
	}
	if err := decodePayload(raw, &in); err != nil {
		return nil, err
	}
	return parseDocuments(in.Documents)
}

// handleDocumentParsing computes the statistics of each document and
// of all of them.
func handleDocumentParsing(ctx context.Context, job *queue.ActiveJob) (any, error) {
	docs, err := parseDocumentParsingPayload(job.Payload)
	if err != nil {
		return nil, err
	}
	res := parsingResult{Documents: make([]documentStats, 0, len(docs))}
	all := make(map[string]int)
	wordRunes := 0
	err = forEachDocument(ctx, job, docs, func(_ int, d document) error {
		st, counts, runes := analyzeDocument(d)
		res.Documents = append(res.Documents, st)
		for t, c := range counts {
			all[t] += c
		}
		wordRunes += runes
		t := &res.Totals
		t.Characters += st.Characters
		t.Words += st.Words
		t.Sentences += st.Sentences
		t.Paragraphs += st.Paragraphs
		t.Lines += st.Lines
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Totals.Documents = len(docs)
	res.Totals.AverageWordLength = averageLength(wordRunes, res.Totals.Words)
	res.Totals.UniqueTerms = len(all)
	res.Totals.TopTerms = topTerms(all, parsingTopTerms)
	return res, nil
}

// analyzeDocument returns the statistics of d, its term counts, and the
// characters of its words.
func analyzeDocument(d document) (documentStats, map[string]int, int) {
	words := wordSpans(d.Text)
	counts := make(map[string]int)
	wordRunes := 0
	for _, w := range words {
		word := d.Text[w.start:w.end]
		wordRunes += utf8.RuneCountInString(word)
		if t, ok := termOf(word); ok {
			counts[t]++
		}
	}
	return documentStats{
		ID:                d.ID,
		Title:             detectTitle(d.Text),
		Text:              d.Text,
		Characters:        utf8.RuneCountInString(d.Text),
		Words:             len(words),
		Sentences:         len(sentences(d.Text)),
		Paragraphs:        len(paragraphs(d.Text)),
		Lines:             lineCount(d.Text),
		AverageWordLength: averageLength(wordRunes, len(words)),
		UniqueTerms:       len(counts),
		TopTerms:          topTerms(maps.Clone(counts), parsingTopTerms),
	}, counts, wordRunes
}

// averageLength returns runes/words to two decimals, 0 without words.
func averageLength(runes, words int) float64 {
	if words == 0 {
		return 0
	}
	return round(float64(runes)/float64(words), 2)
}
