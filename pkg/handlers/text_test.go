package handlers

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

func TestParseDocuments(t *testing.T) {
	tests := []struct {
		name, raw string
		want      []document
	}{
		{"strings", `["a", "b"]`, []document{{"doc-1", "a"}, {"doc-2", "b"}}},
		{"objects", `[{"id": "x", "text": "a"}, {"text": "b"}]`, []document{{"x", "a"}, {"doc-2", "b"}}},
		{"mixed, empty text", `[{"id": "x", "text": ""}, "b"]`, []document{{"x", ""}, {"doc-2", "b"}}},
		{"escapes", `["line\nbreak \u00e9"]`, []document{{"doc-1", "line\nbreak é"}}},
		{"invalid UTF-8 is replaced", "[\"a\xffb\"]", []document{{"doc-1", "a\uFFFDb"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDocuments(json.RawMessage(tt.raw))
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseDocumentsLimits(t *testing.T) {
	t.Parallel() // it decodes 16 MiB
	docs := make([]string, MaxTotalBytes/MaxDocumentBytes+1)
	for i := range docs {
		docs[i] = strings.Repeat("a", MaxDocumentBytes)
	}
	raw, _ := json.Marshal(docs)
	_, err := parseDocuments(raw)
	if !queue.IsPermanent(err) || !strings.Contains(err.Error(), "texts exceed 16777216 bytes in total (at documents[16])") {
		t.Fatalf("over the total: err = %v", err)
	}
	raw, _ = json.Marshal(make([]string, MaxDocuments))
	if got, err := parseDocuments(raw); err != nil || len(got) != MaxDocuments {
		t.Fatalf("%d documents: %d, %v", MaxDocuments, len(got), err)
	}
	raw, _ = json.Marshal([]string{strings.Repeat("é", MaxDocumentBytes/2)})
	if got, err := parseDocuments(raw); err != nil || len(got[0].Text) != MaxDocumentBytes {
		t.Fatalf("a document of exactly %d bytes: %v", MaxDocumentBytes, err)
	}
}

func TestWordsAndTerms(t *testing.T) {
	tests := []struct {
		text         string
		words, terms []string
	}{
		{"", nil, nil},
		{"Hello, world!", []string{"Hello", "world"}, []string{"hello", "world"}},
		{"Don't stop the queue's workers", []string{"Don't", "stop", "the", "queue's", "workers"}, []string{"stop", "queue", "workers"}},
		{"It’s Redis’ job", []string{"It’s", "Redis", "job"}, []string{"redis", "job"}},
		{"state-of-the-art v2 2024 x", []string{"state-of-the-art", "v2", "2024", "x"}, []string{"state-of-the-art", "v2"}},
		{"Terms co-occur; e-mail‐based, non‑breaking", []string{"Terms", "co-occur", "e-mail‐based", "non‑breaking"}, []string{"terms", "co-occur", "e-mail‐based", "non‑breaking"}},
		{"'quoted' -- dashes - a- -b 1990–2000", []string{"quoted", "dashes", "a", "b", "1990", "2000"}, []string{"quoted", "dashes"}},
		{"naïve Über 東京", []string{"naïve", "Über", "東京"}, []string{"naïve", "über", "東京"}},
	}
	for _, tt := range tests {
		var words []string
		for _, s := range wordSpans(tt.text) {
			words = append(words, tt.text[s.start:s.end])
		}
		if !slices.Equal(words, tt.words) {
			t.Errorf("words of %q = %q, want %q", tt.text, words, tt.words)
		}
		if got := terms(tt.text); !slices.Equal(got, tt.terms) {
			t.Errorf("terms of %q = %q, want %q", tt.text, got, tt.terms)
		}
	}
}

func TestSentencesParagraphsLines(t *testing.T) {
	tests := []struct {
		name, text string
		sentences  []string
		paragraphs int
		lines      int
	}{
		{"empty", "", nil, 0, 0},
		{"one without terminator", "just words", []string{"just words"}, 1, 1},
		{"terminators", "One. Two! Three? Four… five", []string{"One.", "Two!", "Three?", "Four…", "five"}, 1, 1},
		{"closers and runs", `He said "stop." Then (again!) Really?! Yes.`, []string{`He said "stop."`, "Then (again!)", "Really?!", "Yes."}, 1, 1},
		{"no split inside numbers", "Pi is 3.14 today. Version 1.2.3 ships.", []string{"Pi is 3.14 today.", "Version 1.2.3 ships."}, 1, 1},
		{"wrapped lines join", "A sentence that\nwraps lines.\nAnother one.", []string{"A sentence that wraps lines.", "Another one."}, 1, 3},
		{"paragraph break ends a sentence", "Title\n\nBody text here.\r\n  \r\nLast", []string{"Title", "Body text here.", "Last"}, 3, 5},
		{"punctuation only pieces dropped", "... !!! Real one. ?", []string{"Real one."}, 1, 1},
		{"trailing newline", "a.\n", []string{"a."}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sentences(tt.text); !slices.Equal(got, tt.sentences) {
				t.Errorf("sentences = %q, want %q", got, tt.sentences)
			}
			if got := len(paragraphs(tt.text)); got != tt.paragraphs {
				t.Errorf("paragraphs = %d, want %d", got, tt.paragraphs)
			}
			if got := lineCount(tt.text); got != tt.lines {
				t.Errorf("lines = %d, want %d", got, tt.lines)
			}
		})
	}
}

func TestDetectTitle(t *testing.T) {
	tests := []struct{ text, want string }{
		{"Job Queues\nBody.", "Job Queues"},
		{"\n\n  # Markdown Heading  \n\nBody.", "Markdown Heading"},
		{"What is a queue?\nAn answer.", "What is a queue?"},
		{"Only one line", ""},
		{"A first sentence.\nSecond.", ""},
		{"Dear reader,\nhello", ""},
		{strings.Repeat("x", 81) + "\nbody", ""},
		{strings.Repeat("x", 80) + "\nbody", strings.Repeat("x", 80)},
		{"###\nbody", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := detectTitle(tt.text); got != tt.want {
			t.Errorf("detectTitle(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestTopTerms(t *testing.T) {
	got := topTerms(map[string]int{"b": 2, "a": 2, "c": 5, "d": 1}, 3)
	want := []termCount{{"c", 5}, {"a", 2}, {"b", 2}}
	if !slices.Equal(got, want) {
		t.Fatalf("topTerms = %v, want %v", got, want)
	}
	if got := topTerms(nil, 10); got == nil || len(got) != 0 {
		t.Fatalf("topTerms(nil) = %#v, want an empty non-nil slice", got)
	}
}
