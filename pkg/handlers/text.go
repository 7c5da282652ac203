package handlers

// This file is the one place for what the handlers share: payload
// decoding and validation, the documents of a payload, and the text
// analysis (words, terms, stopwords, sentences, paragraphs).

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/queue"
)

// Limits on the documents of a payload, shared by every document handler.
// A payload over a limit fails at once with a permanent error.
const (
	// MaxDocuments is the most documents one payload may hold.
	MaxDocuments = 1000
	// MaxDocumentBytes is the largest text of one document, in bytes of UTF-8.
	MaxDocumentBytes = 1 << 20
	// MaxTotalBytes is the largest text of all documents of one payload.
	MaxTotalBytes = 16 << 20
)

// maxDocumentIDBytes bounds a document's id.
const maxDocumentIDBytes = 256

// maxTitleRunes is the longest first line taken as a document's title.
const maxTitleRunes = 80

// document is one validated document of a payload.
type document struct {
	ID   string
	Text string
}

// invalidf returns a permanent "invalid payload" error: a retry cannot fix
// a payload.
func invalidf(format string, args ...any) error {
	return queue.Permanent(fmt.Errorf("invalid payload: %w", fmt.Errorf(format, args...)))
}

// decodePayload decodes a job's payload, a JSON object, into v. Unknown
// fields and trailing data are refused (a misspelt option must not be
// silently ignored); an empty payload or null reads as {}. Every error is
// permanent.
func decodePayload(raw json.RawMessage, v any) error {
	body := bytes.TrimSpace(raw)
	if len(body) == 0 || string(body) == "null" {
		body = []byte("{}")
	}
	if body[0] != '{' {
		return invalidf("want a JSON object, got %s", jsonKind(body))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("%w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidf("data after the JSON object")
	}
	return nil
}

// intParam returns the value of an optional integer field: def when it is
// absent, else the value if it lies in lo..hi.
func intParam(name string, v *int, def, lo, hi int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < lo || *v > hi {
		return 0, invalidf("%s = %d, want %d-%d", name, *v, lo, hi)
	}
	return *v, nil
}

// jsonKind names the kind of the JSON value body starts, for messages.
func jsonKind(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "nothing"
	}
	switch c := body[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	default:
		return "invalid JSON"
	}
}

// parseDocuments validates the "documents" field of a payload: a list of
// 1 to MaxDocuments documents, each a string (its id is then "doc-<n>",
// n counting from 1) or an object {"id": "...", "text": "..."} whose id is
// optional (same default) and whose text is required. Ids must be unique
// and at most 256 bytes; a text at most MaxDocumentBytes, all texts
// together at most MaxTotalBytes. Every error is permanent.
func parseDocuments(raw json.RawMessage) ([]document, error) {
	body := bytes.TrimSpace(raw)
	if len(body) == 0 || string(body) == "null" {
		return nil, invalidf(`missing "documents": want a list of documents`)
	}
	if body[0] != '[' {
		return nil, invalidf(`"documents" must be a list, got %s`, jsonKind(body))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, invalidf("documents: %w", err)
	}
	switch {
	case len(items) == 0:
		return nil, invalidf(`"documents" is empty: want 1-%d documents`, MaxDocuments)
	case len(items) > MaxDocuments:
		return nil, invalidf(`"documents" has %d documents, over the limit of %d`, len(items), MaxDocuments)
	}
	docs := make([]document, len(items))
	ids := make(map[string]int, len(items))
	total := 0
	for i, item := range items {
		d, err := parseDocument(i, item)
		if err != nil {
			return nil, err
		}
		if j, dup := ids[d.ID]; dup {
			return nil, invalidf("documents[%d]: id %q is also the id of documents[%d]", i, d.ID, j)
		}
		ids[d.ID] = i
		total += len(d.Text)
		if total > MaxTotalBytes {
			return nil, invalidf("documents: texts exceed %d bytes in total (at documents[%d])", MaxTotalBytes, i)
		}
		docs[i] = d
	}
	return docs, nil
}

// parseDocument validates documents[i].
func parseDocument(i int, item json.RawMessage) (document, error) {
	d := document{ID: fmt.Sprintf("doc-%d", i+1)}
	switch item[0] {
	case '"':
		if err := json.Unmarshal(item, &d.Text); err != nil {
			return document{}, invalidf("documents[%d]: %w", i, err)
		}
	case '{':
		var obj struct {
			ID   json.RawMessage `json:"id"`
			Text json.RawMessage `json:"text"`
		}
		dec := json.NewDecoder(bytes.NewReader(item))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&obj); err != nil {
			return document{}, invalidf(`documents[%d]: %w (a document has "id" and "text")`, i, err)
		}
		if obj.Text == nil {
			return document{}, invalidf(`documents[%d]: missing "text"`, i)
		}
		if err := stringField(obj.Text, &d.Text); err != nil {
			return document{}, invalidf(`documents[%d]: "text" %w`, i, err)
		}
		if obj.ID != nil {
			if err := stringField(obj.ID, &d.ID); err != nil {
				return document{}, invalidf(`documents[%d]: "id" %w`, i, err)
			}
			if d.ID == "" || len(d.ID) > maxDocumentIDBytes {
				return document{}, invalidf(`documents[%d]: "id" must be 1-%d bytes`, i, maxDocumentIDBytes)
			}
		}
	default:
		return document{}, invalidf(`documents[%d]: want a string or an object with "text", got %s`, i, jsonKind(item))
	}
	if len(d.Text) > MaxDocumentBytes {
		return document{}, invalidf("documents[%d]: text is %d bytes, over the limit of %d", i, len(d.Text), MaxDocumentBytes)
	}
	return d, nil
}

// stringField decodes a JSON string field into s.
func stringField(raw json.RawMessage, s *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return fmt.Errorf("must be a string, got %s", jsonKind(raw))
	}
	if err := json.Unmarshal(raw, s); err != nil {
		return fmt.Errorf("must be a string: %w", err)
	}
	return nil
}

// span is a byte range [start, end) of a text.
type span struct{ start, end int }

// isWordRune reports whether r belongs in a word.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// isJoiner reports whether r joins the word runes on either side of it
// into one word: an apostrophe ("don't") or a hyphen ("co-occur"). A dash
// (– —) does not: "1990–2000" is two words.
func isJoiner(r rune) bool {
	return r == '\'' || r == '’' || r == '-' || r == '‐' || r == '‑'
}

// wordSpans returns the words of text: maximal runs of letters, digits and
// marks, an apostrophe or a hyphen between two of them joining them
// ("don't", "co-occur"). Everything else separates words.
func wordSpans(text string) []span {
	var out []span
	start := -1
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case isWordRune(r):
			if start < 0 {
				start = i
			}
		case start >= 0 && isJoiner(r) && i+size < len(text) && startsWithWordRune(text[i+size:]):
			// an apostrophe or a hyphen inside a word
		default:
			if start >= 0 {
				out = append(out, span{start, i})
				start = -1
			}
		}
		i += size
	}
	if start >= 0 {
		out = append(out, span{start, len(text)})
	}
	return out
}

func startsWithWordRune(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWordRune(r)
}

// hasWord reports whether s holds a word.
func hasWord(s string) bool {
	return strings.IndexFunc(s, isWordRune) >= 0
}

// termOf returns the term a word stands for — lowercased, a possessive
// 's dropped — or false when the word is no term: a stopword, shorter
// than two characters, or without a letter (a number).
func termOf(word string) (string, bool) {
	t := strings.ToLower(strings.ReplaceAll(word, "’", "'"))
	t = strings.TrimSuffix(t, "'s")
	if utf8.RuneCountInString(t) < 2 || isStopword(t) || strings.IndexFunc(t, unicode.IsLetter) < 0 {
		return "", false
	}
	return t, true
}

// terms returns the terms of text in order, repeats included.
func terms(text string) []string {
	var out []string
	for _, w := range wordSpans(text) {
		if t, ok := termOf(text[w.start:w.end]); ok {
			out = append(out, t)
		}
	}
	return out
}

// isStopword reports whether w (lowercase) is a common English word that
// carries no topic.
func isStopword(w string) bool {
	switch w {
	case "a", "about", "above", "after", "again", "against", "all", "also", "am", "an",
		"and", "any", "are", "as", "at", "be", "because", "been", "before", "being",
		"below", "between", "both", "but", "by", "can", "could", "did", "do", "does",
		"doing", "down", "during", "each", "either", "etc", "every", "few", "for", "from",
		"further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
		"him", "himself", "his", "how", "however", "i", "if", "in", "into", "is",
		"it", "its", "itself", "just", "may", "me", "might", "more", "most", "must",
		"my", "myself", "no", "nor", "not", "of", "off", "on", "once", "only",
		"or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "shall",
		"she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
		"them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to",
		"too", "under", "until", "up", "upon", "us", "very", "was", "we", "were",
		"what", "when", "where", "which", "while", "who", "whom", "whose", "why", "will",
		"with", "within", "without", "would", "yet", "you", "your", "yours", "yourself", "yourselves",
		"aren't", "can't", "couldn't", "didn't", "doesn't", "don't", "isn't", "i'm", "i've", "i'd",
		"i'll", "shouldn't", "they're", "they've", "wasn't", "we're", "we've", "weren't", "won't", "wouldn't",
		"you're", "you've":
		return true
	}
	return false
}

// paragraphs returns the paragraphs of text, trimmed: blocks of non-blank
// lines separated by blank ones.
func paragraphs(text string) []string {
	var out []string
	start, end := -1, 0 // the current paragraph, as bytes of text
	pos := 0
	for line := range strings.Lines(text) {
		if strings.TrimSpace(line) == "" {
			if start >= 0 {
				out = append(out, strings.TrimSpace(text[start:end]))
				start = -1
			}
		} else {
			if start < 0 {
				start = pos
			}
			end = pos + len(line)
		}
		pos += len(line)
	}
	if start >= 0 {
		out = append(out, strings.TrimSpace(text[start:end]))
	}
	return out
}

// lineCount returns the number of lines of text (a final newline ends the
// last line, it does not start another).
func lineCount(text string) int {
	n := 0
	for range strings.Lines(text) {
		n++
	}
	return n
}

// sentences returns the sentences of text, whitespace collapsed to single
// spaces. A sentence ends at a run of . ! ? or … followed, after any
// closing quotes or brackets, by whitespace or the end of its paragraph;
// a paragraph break ends one too. Pieces without a word are dropped. (No
// abbreviation list: "e.g. this" splits after "e.g.".)
func sentences(text string) []string {
	var out []string
	add := func(s string) {
		if s = normalizeSpace(s); hasWord(s) {
			out = append(out, s)
		}
	}
	for _, para := range paragraphs(text) {
		start := 0
		for i := 0; i < len(para); {
			r, size := utf8.DecodeRuneInString(para[i:])
			i += size
			if !isTerminator(r) {
				continue
			}
			for i < len(para) {
				r, size = utf8.DecodeRuneInString(para[i:])
				if !isTerminator(r) && !isCloser(r) {
					break
				}
				i += size
			}
			if r, _ = utf8.DecodeRuneInString(para[i:]); i == len(para) || unicode.IsSpace(r) {
				add(para[start:i])
				start = i
			}
		}
		add(para[start:])
	}
	return out
}

func isTerminator(r rune) bool { return r == '.' || r == '!' || r == '?' || r == '…' }

func isCloser(r rune) bool {
	return r == '"' || r == '\'' || r == ')' || r == ']' || r == '”' || r == '’' || r == '»'
}

// normalizeSpace trims s and collapses its runs of whitespace to one space.
func normalizeSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// detectTitle returns the first non-empty line of text, leading Markdown
// #s removed, when it looks like a title: more text follows it, it is at
// most 80 characters, and it does not end like a sentence or clause
// (. , ; :). Otherwise "".
func detectTitle(text string) string {
	first, more := "", false
	for line := range strings.Lines(text) {
		l := strings.TrimSpace(line)
		switch {
		case l == "":
			continue
		case first == "":
			first = l
			continue
		}
		more = true
		break
	}
	title := strings.TrimSpace(strings.TrimLeft(first, "#"))
	if !more || !hasWord(title) || utf8.RuneCountInString(title) > maxTitleRunes ||
		strings.ContainsAny(title[len(title)-1:], ".,;:") {
		return ""
	}
	return title
}

// termCount is a term and how often it occurs.
type termCount struct {
	Term  string `json:"term"`
	Count int    `json:"count"`
}

// topTerms returns the n most frequent terms of counts, most frequent
// first, ties by term.
func topTerms(counts map[string]int, n int) []termCount {
	out := make([]termCount, 0, len(counts))
	for t, c := range counts {
		out = append(out, termCount{t, c})
	}
	slices.SortFunc(out, func(a, b termCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Term, b.Term))
	})
	return out[:min(n, len(out))]
}

// round rounds x to the given number of decimals.
func round(x float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	return math.Round(x*p) / p
}
