package queue

import (
	"errors"
	"testing"
)

// FuzzCursor: a list cursor is client input. Whatever it holds, decoding
// never panics, refuses with ErrInvalid, and what it accepts names a real
// state, a valid queue, an offset of 0 or more and valid filters, and
// encodes back to the same source and filters.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(listSource{state: StatePending, queue: "default"}, 50, ListParams{}))
	f.Add(encodeCursor(listSource{state: StateCompleted}, 0, ListParams{Status: StateCompleted, Type: "a:b", Queue: "q"}))
	for _, s := range []string{"", "x", "MXxydW5uaW5nfHwtMQ", "MXxydW5uaW5nfGE6YnwxMA", "====", "MXw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cur string) {
		src, off, filters, err := decodeCursor(cur)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: %v is not ErrInvalid", cur, err)
			}
			return
		}
		if cur == "" {
			if src != nil || filters != nil {
				t.Fatalf("empty cursor decoded to %+v %+v", src, filters)
			}
			return
		}
		if !src.state.Valid() || off < 0 || (src.queue != "" && !namePattern.MatchString(src.queue)) {
			t.Fatalf("%q accepted as %+v %d", cur, src, off)
		}
		var p ListParams
		if filters != nil {
			if (filters.status != "" && !filters.status.Valid()) || (filters.queue != "" && !namePattern.MatchString(filters.queue)) ||
				(filters.typ != "" && !typePattern.MatchString(filters.typ)) {
				t.Fatalf("%q accepted with filters %+v", cur, filters)
			}
			p = ListParams{Status: filters.status, Type: filters.typ, Queue: filters.queue}
		}
		again, off2, f2, err := decodeCursor(encodeCursor(*src, off, p))
		if err != nil || *again != *src || off2 != off || f2 == nil || *f2 != (listFilters{p.Status, p.Type, p.Queue}) {
			t.Fatalf("%q does not round-trip: %+v %d %+v %v", cur, again, off2, f2, err)
		}
	})
}
