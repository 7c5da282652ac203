package metriclabel

import (
	"fmt"
	"sync"
	"testing"
)

func TestBounded(t *testing.T) {
	t.Parallel()
	b := NewBounded(3)
	for i, tc := range []struct{ in, want string }{
		{"a", "a"}, {"b", "b"}, {"a", "a"}, {"c", "c"},
		{"d", Other}, // past the bound
		{"b", "b"},   // kept values stay their own
		{"e", Other},
	} {
		if got := b.Value(tc.in); got != tc.want {
			t.Errorf("value %d (%s): %q, want %q", i, tc.in, got, tc.want)
		}
	}
	if NewBounded(0).max != DefaultMax {
		t.Error("a bound of 0 is not the default")
	}
}

// Concurrent callers never let more than max values through.
func TestBoundedConcurrent(t *testing.T) {
	t.Parallel()
	b := NewBounded(10)
	var mu sync.Mutex
	kept := map[string]bool{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if v := b.Value(fmt.Sprintf("q%d-%d", g, i)); v != Other {
					mu.Lock()
					kept[v] = true
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(kept) != 10 {
		t.Fatalf("%d values kept, want 10", len(kept))
	}
}
