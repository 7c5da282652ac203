package handlers

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestDocumentParsing(t *testing.T) {
	payload := `{"documents": [
		{"id": "queues", "text": "Job Queues\n\nA job queue stores jobs. Workers take jobs from the queue!\n\nRedis keeps the queue fast."},
		"Short note without a title"
	]}`
	res, calls, err := runJob(t, t.Context(), TypeDocumentParsing, payload)
	if err != nil {
		t.Fatal(err)
	}
	checkDocumentProgress(t, calls, 2)
	got := res.(parsingResult)
	if len(got.Documents) != 2 {
		t.Fatalf("%d documents, want 2", len(got.Documents))
	}

	d := got.Documents[0]
	wantTop := "queue:3 job:2 jobs:2 fast:1 keeps:1 queues:1 redis:1 stores:1 take:1 workers:1"
	if d.ID != "queues" || d.Title != "Job Queues" || d.Characters != 99 || d.Words != 18 || d.Sentences != 4 ||
		d.Paragraphs != 3 || d.Lines != 5 || d.AverageWordLength != 4.28 || d.UniqueTerms != 10 || termsString(d.TopTerms) != wantTop {
		t.Errorf("document 0 = %+v\ntop terms %s, want %s", d, termsString(d.TopTerms), wantTop)
	}
	d = got.Documents[1]
	if d.ID != "doc-2" || d.Title != "" || d.Characters != 26 || d.Words != 5 || d.Sentences != 1 ||
		d.Paragraphs != 1 || d.Lines != 1 || d.AverageWordLength != 4.4 || termsString(d.TopTerms) != "note:1 short:1 title:1" {
		t.Errorf("document 1 = %+v", d)
	}

	tot := got.Totals
	wantTop = "queue:3 job:2 jobs:2 fast:1 keeps:1 note:1 queues:1 redis:1 short:1 stores:1"
	if tot.Documents != 2 || tot.Characters != 125 || tot.Words != 23 || tot.Sentences != 5 || tot.Paragraphs != 4 ||
		tot.Lines != 6 || tot.AverageWordLength != 4.3 || tot.UniqueTerms != 13 || termsString(tot.TopTerms) != wantTop {
		t.Errorf("totals = %+v\ntop terms %s, want %s", tot, termsString(tot.TopTerms), wantTop)
	}

	// The JSON shape clients read.
	var shape struct {
		Documents []map[string]json.RawMessage `json:"documents"`
		Totals    map[string]json.RawMessage   `json:"totals"`
	}
	if err := json.Unmarshal([]byte(mustJSON(t, res)), &shape); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "title", "characters", "words", "sentences", "paragraphs", "lines", "average_word_length", "unique_terms", "top_terms"} {
		if _, ok := shape.Documents[0][k]; !ok {
			t.Errorf("document JSON lacks %q: %v", k, shape.Documents[0])
		}
	}
	if string(shape.Totals["top_terms"][:9]) != `[{"term":` {
		t.Errorf("totals JSON top_terms = %s", shape.Totals["top_terms"])
	}
}

// termsString renders term counts as "term:count ...".
func termsString(tc []termCount) string {
	parts := make([]string, len(tc))
	for i, c := range tc {
		parts[i] = fmt.Sprintf("%s:%d", c.Term, c.Count)
	}
	return strings.Join(parts, " ")
}

func TestDocumentParsingEdgeDocuments(t *testing.T) {
	tests := []struct {
		name, text string
		want       documentStats
	}{
		{"empty", "", documentStats{ID: "doc-1", TopTerms: []termCount{}}},
		{"blank", " \n\n\t\n", documentStats{ID: "doc-1", Text: " \n\n\t\n", Characters: 5, Lines: 3, TopTerms: []termCount{}}},
		{"stopwords only", "It is what it is.", documentStats{ID: "doc-1", Text: "It is what it is.", Characters: 17, Words: 5, Sentences: 1,
			Paragraphs: 1, Lines: 1, AverageWordLength: 2.4, TopTerms: []termCount{}}},
		{"unicode", "Café Über\nnaïve café.", documentStats{ID: "doc-1", Title: "Café Über", Text: "Café Über\nnaïve café.", Characters: 21, Words: 4,
			Sentences: 1, Paragraphs: 1, Lines: 2, AverageWordLength: 4.25, UniqueTerms: 3,
			TopTerms: []termCount{{"café", 2}, {"naïve", 1}, {"über", 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, calls, err := runJob(t, t.Context(), TypeDocumentParsing, mustJSON(t, map[string]any{"documents": []string{tt.text}}))
			if err != nil {
				t.Fatal(err)
			}
			checkDocumentProgress(t, calls, 1)
			if got, want := mustJSON(t, res.(parsingResult).Documents[0]), mustJSON(t, tt.want); got != want {
				t.Fatalf("stats\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestDocumentParsingUnknownField(t *testing.T) {
	_, _, err := runJob(t, t.Context(), TypeDocumentParsing, `{"documents": ["a"], "top": 3}`)
	if err == nil || !strings.Contains(err.Error(), `unknown field "top"`) {
		t.Fatalf("err = %v, want unknown field", err)
	}
}
