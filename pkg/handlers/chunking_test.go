package handlers

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

func TestChunking(t *testing.T) {
	ten := "one two three four five six seven eight nine ten"
	tests := []struct {
		name    string
		payload string
		want    []chunk
		perDoc  map[string]int
	}{
		{
			name:    "words with overlap",
			payload: mustJSON(t, map[string]any{"documents": []any{map[string]string{"id": "n", "text": ten}}, "chunk_size": 4, "overlap": 1}),
			want: []chunk{
				{"n", 0, 0, 4, "one two three four"},
				{"n", 1, 3, 7, "four five six seven"},
				{"n", 2, 6, 10, "seven eight nine ten"},
			},
			perDoc: map[string]int{"n": 3},
		},
		{
			name:    "words keep the text between them",
			payload: `{"documents": ["Hello,  world!\nHow are you?"], "chunk_size": 3, "overlap": 0, "unit": "words"}`,
			want: []chunk{
				{"doc-1", 0, 0, 3, "Hello,  world!\nHow"},
				{"doc-1", 1, 3, 5, "are you?"},
			},
			perDoc: map[string]int{"doc-1": 2},
		},
		{
			name:    "words keep a document's final punctuation",
			payload: `{"documents": ["Chunking is asynchronous."], "chunk_size": 2, "overlap": 0}`,
			want: []chunk{
				{"doc-1", 0, 0, 2, "Chunking is"},
				{"doc-1", 1, 2, 3, "asynchronous."},
			},
			perDoc: map[string]int{"doc-1": 2},
		},
		{
			name:    "punctuation stays with its word at both ends of a chunk",
			payload: `{"documents": ["He said: \"Stop (now).\" Then left."], "chunk_size": 3, "overlap": 1}`,
			want: []chunk{
				{"doc-1", 0, 0, 3, `He said: "Stop`},
				{"doc-1", 1, 2, 5, `"Stop (now)." Then`},
				{"doc-1", 2, 4, 6, "Then left."},
			},
			perDoc: map[string]int{"doc-1": 3},
		},
		{
			name:    "a hyphenated word is one unit",
			payload: `{"documents": ["Terms co-occur, then co-occur."], "chunk_size": 2, "overlap": 0}`,
			want: []chunk{
				{"doc-1", 0, 0, 2, "Terms co-occur,"},
				{"doc-1", 1, 2, 4, "then co-occur."},
			},
			perDoc: map[string]int{"doc-1": 2},
		},
		{
			name:    "chars",
			payload: `{"documents": ["abcdefghij"], "chunk_size": 4, "overlap": 2, "unit": "chars"}`,
			want: []chunk{
				{"doc-1", 0, 0, 4, "abcd"},
				{"doc-1", 1, 2, 6, "cdef"},
				{"doc-1", 2, 4, 8, "efgh"},
				{"doc-1", 3, 6, 10, "ghij"},
			},
			perDoc: map[string]int{"doc-1": 4},
		},
		{
			name:    "chars count runes",
			payload: `{"documents": ["héllo wörld"], "chunk_size": 5, "overlap": 0, "unit": "chars"}`,
			want: []chunk{
				{"doc-1", 0, 0, 5, "héllo"},
				{"doc-1", 1, 5, 10, " wörl"},
				{"doc-1", 2, 10, 11, "d"},
			},
			perDoc: map[string]int{"doc-1": 3},
		},
		{
			name:    "several documents, one empty, one shorter than a chunk",
			payload: `{"documents": ["a b c", "", "d"], "chunk_size": 2, "overlap": 1}`,
			want: []chunk{
				{"doc-1", 0, 0, 2, "a b"},
				{"doc-1", 1, 1, 3, "b c"},
				{"doc-3", 0, 0, 1, "d"},
			},
			perDoc: map[string]int{"doc-1": 2, "doc-2": 0, "doc-3": 1},
		},
		{
			name:    "default overlap is a quarter of chunk_size",
			payload: `{"documents": ["a b c d e f g h i j"], "chunk_size": 8}`,
			want: []chunk{
				{"doc-1", 0, 0, 8, "a b c d e f g h"},
				{"doc-1", 1, 6, 10, "g h i j"},
			},
			perDoc: map[string]int{"doc-1": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in struct {
				Documents []json.RawMessage `json:"documents"`
			}
			if err := json.Unmarshal([]byte(tt.payload), &in); err != nil {
				t.Fatal(err)
			}
			res, calls, err := runJob(t, t.Context(), TypeChunking, tt.payload)
			if err != nil {
				t.Fatal(err)
			}
			checkDocumentProgress(t, calls, len(in.Documents))
			got := res.(chunkingResult)
			if mustJSON(t, got.Chunks) != mustJSON(t, tt.want) || got.Count != len(tt.want) || mustJSON(t, got.PerDocument) != mustJSON(t, tt.perDoc) {
				t.Fatalf("got %s\nwant chunks %s per_document %v", mustJSON(t, got), mustJSON(t, tt.want), tt.perDoc)
			}
		})
	}
}

func TestChunkingDefaults(t *testing.T) {
	words := make([]string, 450)
	for i := range words {
		words[i] = "w"
	}
	res, calls, err := runJob(t, t.Context(), TypeChunking, mustJSON(t, map[string]any{"documents": []string{strings.Join(words, " ")}}))
	if err != nil {
		t.Fatal(err)
	}
	checkDocumentProgress(t, calls, 1)
	got := res.(chunkingResult)
	if got.Unit != "words" || got.ChunkSize != 200 || got.Overlap != 50 || got.Count != 3 {
		t.Fatalf("unit %q size %d overlap %d count %d, want words 200 50 3", got.Unit, got.ChunkSize, got.Overlap, got.Count)
	}
	for i, want := range [][2]int{{0, 200}, {150, 350}, {300, 450}} {
		if c := got.Chunks[i]; c.Start != want[0] || c.End != want[1] {
			t.Errorf("chunk %d spans %d-%d, want %d-%d", i, c.Start, c.End, want[0], want[1])
		}
	}
	want := `{"unit":"words","chunk_size":200,"overlap":50,"count":3,"chunks":[{"document_id":"doc-1","index":0,"start":0,"end":200,"text":`
	if s := mustJSON(t, res); !strings.HasPrefix(s, want) {
		t.Fatalf("JSON %.200s..., want it to start %s", s, want)
	}
}

func TestChunkingBadPayloads(t *testing.T) {
	tests := []struct{ name, payload, wantErr string }{
		{"chunk_size zero", `{"documents": ["a"], "chunk_size": 0}`, "chunk_size = 0, want 1-100000"},
		{"chunk_size too big", `{"documents": ["a"], "chunk_size": 100001}`, "chunk_size = 100001, want 1-100000"},
		{"chunk_size string", `{"documents": ["a"], "chunk_size": "10"}`, "cannot unmarshal string"},
		{"overlap equal", `{"documents": ["a"], "chunk_size": 10, "overlap": 10}`, "overlap = 10, want less than chunk_size (10)"},
		{"overlap above default size", `{"documents": ["a"], "overlap": 300}`, "overlap = 300, want less than chunk_size (200)"},
		{"overlap negative", `{"documents": ["a"], "overlap": -1}`, "overlap = -1, want 0-199"},
		{"unit unknown", `{"documents": ["a"], "unit": "lines"}`, `unit = "lines", want "words" or "chars"`},
		{"unit number", `{"documents": ["a"], "unit": 1}`, "cannot unmarshal number"},
		{"no documents", `{"chunk_size": 10}`, `missing "documents"`},
		{"too many chunks", mustJSON(t, map[string]any{"documents": []string{strings.Repeat("x", chunkMaxChunks+1)}, "chunk_size": 1, "unit": "chars"}),
			"the chunks would exceed 100000 chunks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runJob(t, t.Context(), TypeChunking, tt.payload)
			if !queue.IsPermanent(err) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a permanent error containing %q", err, tt.wantErr)
			}
		})
	}
}
