package startup

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"

	"github.com/compileo/jobqueue/internal/envflag"
)

// A queue process keeps little in its heap (a worker: its runs and
// buffers, a few MB) and allocates a lot through it (every job's record,
// reply and payload), so with Go's default GOGC of 100 it collects
// garbage dozens of times a second: in a drain of no-op jobs, the GC was
// a fifth of a worker's CPU. The heap floor raises GOGC while the live
// heap is small, so that the heap may grow to the floor before a
// collection; at a live heap of half the floor and above, GOGC is
// the default again, so a process that holds much memory is collected as
// any Go program is. GOGC or GOMEMLIMIT in the environment are the
// operator's choice: then the floor stays off.

// heapFloorMaxGOGC bounds GOGC at a nearly empty heap.
const heapFloorMaxGOGC = 10_000

// DefaultHeapFloorMB is the heap floor of cmd/apiserver and cmd/worker.
const DefaultHeapFloorMB = 64

// HeapFloorFlag registers -gc-heap-floor-mb (GC_HEAP_FLOOR_MB).
func HeapFloorFlag(fs *envflag.Set) *int {
	return fs.Int("gc-heap-floor-mb", "GC_HEAP_FLOOR_MB", DefaultHeapFloorMB,
		"let the Go heap grow to this many MB before collecting garbage, while the live heap is small (0: Go's default; off when GOGC or GOMEMLIMIT is set)")
}

// HeapFloor keeps the GC's heap target at floorMB or above until stop is
// called (see above); it logs why when it does nothing.
func HeapFloor(log *slog.Logger, floorMB int) (stop func()) {
	if floorMB <= 0 {
		return func() {}
	}
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Info("GC heap floor off: GOGC or GOMEMLIMIT is set", "floor_mb", floorMB)
		return func() {}
	}
	t := &heapTuner{floor: uint64(floorMB) << 20}
	t.retune()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(defaultGOGC)
	}
}

// defaultGOGC is Go's GOGC when the environment sets none.
const defaultGOGC = 100

// heapTuner sets GOGC after each collection, from the live heap it left.
type heapTuner struct {
	floor   uint64
	mu      sync.Mutex // a collection's tuning against stop
	stopped bool
}

// gcSentinel is garbage whose cleanup runs after the collection that
// finds it, and makes the next one: a call per GC cycle. (Big enough
// not to share a tiny-allocation block, whose cleanups run late.)
type gcSentinel struct{ _ [64]byte }

// retune, unless stopped, sets GOGC so that the next heap target (the
// live heap times 1+GOGC/100) is at least the floor, and makes the
// sentinel whose cleanup calls it again after the next collection.
func (t *heapTuner) retune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	debug.SetGCPercent(heapFloorGOGC(t.floor, live[0].Value.Uint64()))
	runtime.AddCleanup(new(gcSentinel), (*heapTuner).retune, t)
}

// heapFloorGOGC is the GOGC that makes a live heap of live bytes grow to
// floor before the next collection, within Go's default and
// heapFloorMaxGOGC.
func heapFloorGOGC(floor, live uint64) int {
	if live == 0 {
		return heapFloorMaxGOGC
	}
	if live >= floor {
		return defaultGOGC
	}
	need := (floor - live) * 100 / live
	return int(min(max(need, defaultGOGC), heapFloorMaxGOGC))
}
