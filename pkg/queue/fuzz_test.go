package queue

import (
	"errors"
	"testing"
	"time"
)

// FuzzCursor: a list cursor is client input. Whatever it holds, decoding
// never panics, refuses with ErrInvalid, and what it accepts names a real
// state, a valid queue, a valid position and valid filters, and
// encodes back to the same source and filters.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(listSource{state: StatePending, queue: "default"}, listPos{score: 1e14 + 7, member: "a-1"}, ListParams{}))
	f.Add(encodeCursor(listSource{state: StateCompleted}, listPos{score: 1700000000000, member: "b"},
		ListParams{Status: StateCompleted, Type: "a:b", Queue: "q", CreatedAfter: time.UnixMilli(5)}))
	for _, s := range []string{"", "x", "MXxydW5uaW5nfHwtMQ", "MXxydW5uaW5nfGE6YnwxMA", "====", "MXw",
		"MnxwZW5kaW5nfGRlZmF1bHR8NTB8MHx8fA"} {
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
		if !src.state.Valid() || off.offset < 0 || (src.queue != "" && !namePattern.MatchString(src.queue)) ||
			(off.member != "" && off.offset != 0) {
			t.Fatalf("%q accepted as %+v %+v", cur, src, off)
		}
		if filters == nil {
			return // a cursor of the first version: this server issues none
		}
		var p ListParams
		if filters != nil {
			if (filters.status != "" && !filters.status.Valid()) || (filters.queue != "" && !namePattern.MatchString(filters.queue)) ||
				(filters.typ != "" && !typePattern.MatchString(filters.typ)) {
				t.Fatalf("%q accepted with filters %+v", cur, filters)
			}
			p = ListParams{Status: filters.status, Type: filters.typ, Queue: filters.queue,
				CreatedAfter: timeOrZero(filters.createdAfter), CreatedBefore: timeOrZero(filters.createdBefore)}
		}
		again, off2, f2, err := decodeCursor(encodeCursor(*src, off, p))
		if err != nil || *again != *src || off2 != off || f2 == nil || *f2 != filtersOf(p) {
			t.Fatalf("%q does not round-trip: %+v %+v %+v %v", cur, again, off2, f2, err)
		}
	})
}
