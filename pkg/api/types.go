package api

import (
	"context"
	"sync"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

// How the types of live workers become known to submissions: a worker
// announces its types in the registry of live workers (a Go worker with
// every heartbeat, an HTTP worker with its lease calls), and a type stays
// known while some worker announcing it is live. The API caches what it
// read of the registry for workerTypesTTL: a known type costs no read;
// a type not known reads it again (concurrent misses share one read), so
// a worker that just announced a type is seen at once.

// workerTypesTTL is how long a read of the workers' types is used for
// the types it found.
const workerTypesTTL = 2 * time.Second

// workerTypes caches the types the live workers announce.
type workerTypes struct {
	read func(ctx context.Context) ([]queue.WorkerInfo, error)

	readMu sync.Mutex // one read at a time; those waiting use its result

	mu  sync.Mutex
	set map[string]bool
	at  time.Time // when set was read; zero: never
}

// has reports whether a live worker announces typ, reading the registry
// when the cache is stale or does not know typ.
func (w *workerTypes) has(ctx context.Context, typ string) (bool, error) {
	asked := time.Now()
	if known, at := w.lookup(typ); known && asked.Sub(at) < workerTypesTTL {
		return true, nil
	}
	w.readMu.Lock()
	defer w.readMu.Unlock()
	if known, at := w.lookup(typ); at.After(asked) {
		return known, nil // read by another caller since this one asked
	}
	start := time.Now()
	ws, err := w.read(ctx)
	if err != nil {
		return false, err
	}
	set := map[string]bool{}
	for _, wi := range ws {
		for _, t := range wi.Types {
			set[t] = true
		}
	}
	w.mu.Lock()
	w.set, w.at = set, start
	w.mu.Unlock()
	return set[typ], nil
}

func (w *workerTypes) lookup(typ string) (bool, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.set[typ], w.at
}

// learn adds types a worker just announced through this instance.
func (w *workerTypes) learn(types []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.set == nil {
		w.set = map[string]bool{}
	}
	for _, t := range types {
		w.set[t] = true
	}
}
