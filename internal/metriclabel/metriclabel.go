// Package metriclabel bounds the values a Prometheus label may take. A
// label whose values come from outside the process (a queue name a
// client chose, a job type a worker registered) would otherwise add
// series without bound, each kept for the process's lifetime: the first
// values seen keep their own series, later ones share Other's.
package metriclabel

import "sync"

// Other is the label value of every value past the bound.
const Other = "_other"

// DefaultMax is the bound of the job metrics' type and queue labels.
const DefaultMax = 100

// Bounded is one label's set of values. It is safe for concurrent use.
type Bounded struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

// NewBounded returns a set that keeps max values (DefaultMax when max is
// not positive).
func NewBounded(max int) *Bounded {
	if max <= 0 {
		max = DefaultMax
	}
	return &Bounded{max: max, seen: map[string]struct{}{}}
}

// Value is the label value for v: v itself if it is one of the first max
// values seen, else Other.
func (b *Bounded) Value(v string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = struct{}{}
	return v
}
