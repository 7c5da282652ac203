package queue

import (
	"errors"
	"testing"
)

// FuzzCursor: a list cursor is client input. Whatever it holds, decoding
// never panics, refuses with ErrInvalid, and what it accepts names a real
// state, a valid queue and an offset of 0 or more, and encodes back to
// the same source.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(listSource{state: StatePending, queue: "default"}, 50))
	f.Add(encodeCursor(listSource{state: StateCompleted}, 0))
	for _, s := range []string{"", "x", "MXxydW5uaW5nfHwtMQ", "MXxydW5uaW5nfGE6YnwxMA", "====", "MXw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cur string) {
		src, off, err := decodeCursor(cur)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: %v is not ErrInvalid", cur, err)
			}
			return
		}
		if cur == "" {
			if src != nil {
				t.Fatalf("empty cursor decoded to %+v", src)
			}
			return
		}
		if !src.state.Valid() || off < 0 || (src.queue != "" && !namePattern.MatchString(src.queue)) {
			t.Fatalf("%q accepted as %+v %d", cur, src, off)
		}
		again, off2, err := decodeCursor(encodeCursor(*src, off))
		if err != nil || *again != *src || off2 != off {
			t.Fatalf("%q does not round-trip: %+v %d %v", cur, again, off2, err)
		}
	})
}
