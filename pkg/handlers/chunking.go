package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/queue"
)

// Payload defaults and limits of the chunking handler, and bounds on its
// result (a payload that would exceed them fails permanently).
const (
	chunkDefaultSize = 200
	chunkMaxSize     = 100000
	chunkMaxChunks   = 100000   // chunks of one job
	chunkMaxBytes    = 32 << 20 // text of all chunks of one job
)

// Units chunk sizes and offsets are counted in.
const (
	unitWords = "words"
	unitChars = "chars"
)

// chunkingParams is a validated chunking payload.
type chunkingParams struct {
	docs    []document
	size    int
	overlap int
	unit    string
}

// chunk is one chunk of a document. Start and End (exclusive) are offsets
// in the job's unit: word indexes, or character (rune) indexes.
type chunk struct {
	DocumentID string `json:"document_id"`
	Index      int    `json:"index"`
	Start      int    `json:"start"`
	End        int    `json:"end"`
	Text       string `json:"text"`
}

// chunkingResult is the result of a chunking job.
type chunkingResult struct {
	Unit        string         `json:"unit"`
	ChunkSize   int            `json:"chunk_size"`
	Overlap     int            `json:"overlap"`
	Count       int            `json:"count"`
	Chunks      []chunk        `json:"chunks"`
	PerDocument map[string]int `json:"per_document"`
}

// parseChunkingPayload validates {"documents": [...], "chunk_size":
// 1-100000 (200), "overlap": 0-chunk_size-1 (chunk_size/4), "unit":
// "words"|"chars" ("words")}.
func parseChunkingPayload(raw json.RawMessage) (chunkingParams, error) {
	var in struct {
		Documents json.RawMessage `json:"documents"`
		ChunkSize *int            `json:"chunk_size"`
		Overlap   *int            `json:"overlap"`
		Unit      *string         `json:"unit"`
	}
	if err := decodePayload(raw, &in); err != nil {
		return chunkingParams{}, err
	}
	var p chunkingParams
	var err error
	if p.size, err = intParam("chunk_size", in.ChunkSize, chunkDefaultSize, 1, chunkMaxSize); err != nil {
		return chunkingParams{}, err
	}
	if in.Overlap != nil && *in.Overlap >= p.size {
		return chunkingParams{}, invalidf("overlap = %d, want less than chunk_size (%d)", *in.Overlap, p.size)
	}
	if p.overlap, err = intParam("overlap", in.Overlap, p.size/4, 0, p.size-1); err != nil {
		return chunkingParams{}, err
	}
	p.unit = unitWords
	if in.Unit != nil {
		p.unit = *in.Unit
	}
	if p.unit != unitWords && p.unit != unitChars {
		return chunkingParams{}, invalidf("unit = %q, want %q or %q", p.unit, unitWords, unitChars)
	}
	if p.docs, err = parseDocuments(in.Documents); err != nil {
		return chunkingParams{}, err
	}
	return p, nil
}

// handleChunking splits each document into chunks of chunk_size units,
// each starting chunk_size-overlap units after the previous one; the last
// chunk of a document ends at its end.
func handleChunking(ctx context.Context, job *queue.ActiveJob) (any, error) {
	payload, _, err := payloadOf(ctx, job)
	if err != nil {
		return nil, err
	}
	p, err := parseChunkingPayload(payload)
	if err != nil {
		return nil, err
	}
	res := chunkingResult{Unit: p.unit, ChunkSize: p.size, Overlap: p.overlap,
		Chunks: []chunk{}, PerDocument: make(map[string]int, len(p.docs))}
	textBytes := 0
	err = forEachDocument(ctx, job, p.docs, func(i int, d document) error {
		// bounds[k] is the byte offset of unit k; the text of units
		// [s, e) is d.Text[bounds[s].start:bounds[e-1].end].
		var bounds []span
		if p.unit == unitWords {
			bounds = withPunctuation(d.Text, wordSpans(d.Text))
		} else {
			bounds = make([]span, 0, len(d.Text))
			for off := 0; off < len(d.Text); {
				_, size := utf8.DecodeRuneInString(d.Text[off:])
				bounds = append(bounds, span{off, off + size})
				off += size
			}
		}
		n := 0
		for start := 0; start < len(bounds); start += p.size - p.overlap {
			end := min(start+p.size, len(bounds))
			text := d.Text[bounds[start].start:bounds[end-1].end]
			textBytes += len(text)
			if len(res.Chunks) == chunkMaxChunks || textBytes > chunkMaxBytes {
				return queue.Permanent(fmt.Errorf("chunking: documents[%d] (%q): the chunks would exceed %d chunks or %d bytes of text in all; raise chunk_size or lower overlap",
					i, d.ID, chunkMaxChunks, chunkMaxBytes))
			}
			res.Chunks = append(res.Chunks, chunk{DocumentID: d.ID, Index: n, Start: start, End: end, Text: text})
			n++
			if end == len(bounds) {
				break
			}
		}
		res.PerDocument[d.ID] = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Count = len(res.Chunks)
	return res, nil
}

// withPunctuation widens each word to the punctuation attached to it: the
// characters other than spaces before it, back to the previous word (an
// opening quote or bracket), and after it, up to the next word (a full
// stop, a comma, a closing quote). So a chunk ends with "asynchronous."
// rather than "asynchronous", and starts with "(now" rather than "now".
func withPunctuation(text string, words []span) []span {
	out := make([]span, len(words))
	for i, w := range words {
		lo, hi := 0, len(text)
		if i > 0 {
			lo = words[i-1].end
		}
		if i+1 < len(words) {
			hi = words[i+1].start
		}
		for w.start > lo {
			r, size := utf8.DecodeLastRuneInString(text[lo:w.start])
			if unicode.IsSpace(r) {
				break
			}
			w.start -= size
		}
		for w.end < hi {
			r, size := utf8.DecodeRuneInString(text[w.end:hi])
			if unicode.IsSpace(r) {
				break
			}
			w.end += size
		}
		out[i] = w
	}
	return out
}
