package handlers

import (
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

func TestTaxonomy(t *testing.T) {
	payload := `{"documents": [
		{"id": "d1", "text": "Redis stores jobs. Workers claim jobs from Redis."},
		{"id": "d2", "text": "Workers run handlers. Handlers process jobs."},
		{"id": "d3", "text": "Redis replicates data."}
	], "max_categories": 2, "terms_per_category": 3}`
	res, calls, err := runJob(t, t.Context(), TypeTaxonomyGeneration, payload)
	if err != nil {
		t.Fatal(err)
	}
	checkDocumentProgress(t, calls, 3)
	// idf: ln(1+3/1) = 1.3863 for terms of one document, ln(1+3/2) = 0.9163
	// for two. handlers: 2 × 1.3863; jobs and redis: 3 × 0.9163, a tie
	// that jobs wins by name.
	want := `{"categories":[` +
		`{"term":"handlers","score":2.7726,"frequency":2,"document_frequency":1,"documents":["d2"],"children":[` +
		`{"term":"process","score":1.3863,"cooccurrences":1,"documents":["d2"]},` +
		`{"term":"run","score":1.3863,"cooccurrences":1,"documents":["d2"]},` +
		`{"term":"workers","score":0.9163,"cooccurrences":1,"documents":["d2"]}]},` +
		`{"term":"jobs","score":2.7489,"frequency":3,"document_frequency":2,"documents":["d1","d2"],"children":[` +
		`{"term":"redis","score":1.8326,"cooccurrences":2,"documents":["d1"]},` +
		`{"term":"claim","score":1.3863,"cooccurrences":1,"documents":["d1"]},` +
		`{"term":"process","score":1.3863,"cooccurrences":1,"documents":["d2"]}]}],` +
		`"vocabulary_size":10,"documents":3}`
	if got := mustJSON(t, res); got != want {
		t.Fatalf("taxonomy\n got %s\nwant %s", got, want)
	}

	// Deterministic: the same payload gives the same bytes.
	for range 5 {
		again, _, err := runJob(t, t.Context(), TypeTaxonomyGeneration, payload)
		if err != nil || mustJSON(t, again) != want {
			t.Fatalf("second run differs: %v %s", err, mustJSON(t, again))
		}
	}
}

func TestTaxonomyDefaultsAndEdges(t *testing.T) {
	tests := []struct {
		name, payload string
		categories    int
		vocabulary    int
	}{
		{"stopwords only", `{"documents": ["It is what it is.", "And so on."]}`, 0, 0},
		{"fewer terms than categories", `{"documents": ["Alpha beta.", "Beta gamma."]}`, 3, 3},
		{"default ten categories", `{"documents": ["` + strings.Repeat("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima. ", 3) + `"]}`, 10, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, err := runJob(t, t.Context(), TypeTaxonomyGeneration, tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			got := res.(taxonomyResult)
			if len(got.Categories) != tt.categories || got.VocabularySize != tt.vocabulary {
				t.Fatalf("%d categories, vocabulary %d; want %d, %d: %s", len(got.Categories), got.VocabularySize,
					tt.categories, tt.vocabulary, mustJSON(t, got))
			}
			for _, c := range got.Categories {
				if len(c.Children) > 5 {
					t.Fatalf("category %q has %d children, want at most the default 5", c.Term, len(c.Children))
				}
			}
			if s := mustJSON(t, got); !strings.HasPrefix(s, `{"categories":[`) {
				t.Fatalf("categories not a list: %s", s)
			}
		})
	}
}

func TestTaxonomyBadPayloads(t *testing.T) {
	tests := []struct{ name, payload, wantErr string }{
		{"max_categories zero", `{"documents": ["a"], "max_categories": 0}`, "max_categories = 0, want 1-50"},
		{"max_categories too many", `{"documents": ["a"], "max_categories": 51}`, "max_categories = 51, want 1-50"},
		{"terms_per_category zero", `{"documents": ["a"], "terms_per_category": 0}`, "terms_per_category = 0, want 1-20"},
		{"terms_per_category too many", `{"documents": ["a"], "terms_per_category": 21}`, "terms_per_category = 21, want 1-20"},
		{"terms_per_category string", `{"documents": ["a"], "terms_per_category": "5"}`, "cannot unmarshal string"},
		{"documents object", `{"documents": {"a": "b"}}`, `"documents" must be a list, got an object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runJob(t, t.Context(), TypeTaxonomyGeneration, tt.payload)
			if !queue.IsPermanent(err) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a permanent error containing %q", err, tt.wantErr)
			}
		})
	}
}
