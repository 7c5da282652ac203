package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/compileo/jobqueue/pkg/queue"
)

// Payload defaults and limits of the taxonomy_generation handler.
const (
	taxonomyDefaultCategories = 10
	taxonomyMaxCategories     = 50
	taxonomyDefaultChildren   = 5
	taxonomyMaxChildren       = 20
)

// taxonomyParams is a validated taxonomy_generation payload.
type taxonomyParams struct {
	docs          []document
	maxCategories int
	maxChildren   int
}

// taxonomyChild is a term under a category: one that shares sentences
// with it.
type taxonomyChild struct {
	Term string `json:"term"`
	// Score is Cooccurrences × the term's idf.
	Score float64 `json:"score"`
	// Cooccurrences counts the sentences holding both terms.
	Cooccurrences int `json:"cooccurrences"`
	// Documents are the ids of the documents of those sentences.
	Documents []string `json:"documents"`
}

// taxonomyCategory is a top-level term of the taxonomy.
type taxonomyCategory struct {
	Term string `json:"term"`
	// Score is Frequency × idf, idf = ln(1 + documents/DocumentFrequency).
	Score             float64 `json:"score"`
	Frequency         int     `json:"frequency"`
	DocumentFrequency int     `json:"document_frequency"`
	// Documents are the ids of the documents mentioning the term.
	Documents []string        `json:"documents"`
	Children  []taxonomyChild `json:"children"`
}

// taxonomyResult is the result of a taxonomy_generation job.
type taxonomyResult struct {
	Categories     []taxonomyCategory `json:"categories"`
	VocabularySize int                `json:"vocabulary_size"`
	Documents      int                `json:"documents"`
}

// parseTaxonomyPayload validates {"documents": [...], "max_categories":
// 1-50 (10), "terms_per_category": 1-20 (5)}.
func parseTaxonomyPayload(raw json.RawMessage) (taxonomyParams, error) {
	var in struct {
		Documents        json.RawMessage `json:"documents"`
		MaxCategories    *int            `json:"max_categories"`
		TermsPerCategory *int            `json:"terms_per_category"`
	}
	if err := decodePayload(raw, &in); err != nil {
		return taxonomyParams{}, err
	}
	var p taxonomyParams
	var err error
	if p.maxCategories, err = intParam("max_categories", in.MaxCategories, taxonomyDefaultCategories, 1, taxonomyMaxCategories); err != nil {
		return taxonomyParams{}, err
	}
	if p.maxChildren, err = intParam("terms_per_category", in.TermsPerCategory, taxonomyDefaultChildren, 1, taxonomyMaxChildren); err != nil {
		return taxonomyParams{}, err
	}
	if p.docs, err = parseDocuments(in.Documents); err != nil {
		return taxonomyParams{}, err
	}
	return p, nil
}

// termStat is what the taxonomy knows of a term.
type termStat struct {
	tf   int   // occurrences in all documents
	docs []int // indexes of the documents mentioning it, ascending
}

// add counts one occurrence of the term, in document doc (documents come
// in ascending order).
func (st *termStat) add(doc int) {
	st.tf++
	if n := len(st.docs); n == 0 || st.docs[n-1] != doc {
		st.docs = append(st.docs, doc)
	}
}

// sentenceTerms are the distinct terms of one sentence of document doc.
type sentenceTerms struct {
	doc   int
	terms []string
}

// handleTaxonomy derives a two-level taxonomy: the terms scoring highest
// by tf-idf are the categories; under each, the other terms sharing the
// most sentences with it (categories excepted), weighted by their idf.
// Ties are broken by term, so the output is deterministic.
func handleTaxonomy(ctx context.Context, job *queue.ActiveJob) (any, error) {
	payload, _, err := payloadOf(ctx, job)
	if err != nil {
		return nil, err
	}
	p, err := parseTaxonomyPayload(payload)
	if err != nil {
		return nil, err
	}
	vocab := make(map[string]*termStat)
	var sents []sentenceTerms
	err = forEachDocument(ctx, job, p.docs, func(i int, d document) error {
		for _, s := range sentences(d.Text) {
			var distinct []string
			seen := make(map[string]bool)
			for _, t := range terms(s) {
				st := vocab[t]
				if st == nil {
					st = &termStat{}
					vocab[t] = st
				}
				st.add(i)
				if !seen[t] {
					seen[t] = true
					distinct = append(distinct, t)
				}
			}
			if len(distinct) > 0 {
				sents = append(sents, sentenceTerms{doc: i, terms: distinct})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	idf := func(t string) float64 { return math.Log(1 + float64(len(p.docs))/float64(len(vocab[t].docs))) }
	ranked := make([]string, 0, len(vocab))
	scores := make(map[string]float64, len(vocab))
	for t, st := range vocab {
		ranked = append(ranked, t)
		scores[t] = float64(st.tf) * idf(t)
	}
	byScore := func(scores map[string]float64) func(a, b string) int {
		return func(a, b string) int { return cmp.Or(cmp.Compare(scores[b], scores[a]), strings.Compare(a, b)) }
	}
	slices.SortFunc(ranked, byScore(scores))
	cats := ranked[:min(p.maxCategories, len(ranked))]
	isCat := make(map[string]int, len(cats))
	for i, c := range cats {
		isCat[c] = i
	}

	co, err := cooccurrences(ctx, sents, isCat)
	if err != nil {
		return nil, err
	}

	res := taxonomyResult{Categories: make([]taxonomyCategory, 0, len(cats)), VocabularySize: len(vocab), Documents: len(p.docs)}
	for ci, c := range cats {
		childScores := make(map[string]float64, len(co[ci]))
		children := make([]string, 0, len(co[ci]))
		for t, st := range co[ci] {
			children = append(children, t)
			childScores[t] = float64(st.tf) * idf(t)
		}
		slices.SortFunc(children, byScore(childScores))
		cat := taxonomyCategory{Term: c, Score: round(scores[c], 4), Frequency: vocab[c].tf,
			DocumentFrequency: len(vocab[c].docs), Documents: documentIDs(p.docs, vocab[c].docs),
			Children: make([]taxonomyChild, 0, p.maxChildren)}
		for _, t := range children[:min(p.maxChildren, len(children))] {
			cat.Children = append(cat.Children, taxonomyChild{Term: t, Score: round(childScores[t], 4),
				Cooccurrences: co[ci][t].tf, Documents: documentIDs(p.docs, co[ci][t].docs)})
		}
		res.Categories = append(res.Categories, cat)
	}
	return res, nil
}

// cooccurrences counts, for each category (isCat: term → its index), the
// other terms sharing a sentence with it.
func cooccurrences(ctx context.Context, sents []sentenceTerms, isCat map[string]int) ([]map[string]*termStat, error) {
	co := make([]map[string]*termStat, len(isCat))
	for i := range co {
		co[i] = make(map[string]*termStat)
	}
	for _, s := range sents {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("taxonomy_generation: stopped building the taxonomy: %w", context.Cause(ctx))
		}
		for _, c := range s.terms {
			ci, ok := isCat[c]
			if !ok {
				continue
			}
			for _, t := range s.terms {
				if _, cat := isCat[t]; cat {
					continue
				}
				st := co[ci][t]
				if st == nil {
					st = &termStat{}
					co[ci][t] = st
				}
				st.add(s.doc)
			}
		}
	}
	return co, nil
}

// documentIDs returns the ids of docs[i] for each i of idx.
func documentIDs(docs []document, idx []int) []string {
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = docs[i].ID
	}
	return out
}
