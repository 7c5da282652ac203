package startup

import (
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestHeapFloorGOGC(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, heapFloorMaxGOGC},
		{1 << 10, heapFloorMaxGOGC}, // a nearly empty heap: bounded
		{4 * mb, 1500},              // 4 MB grows to 64 MB
		{16 * mb, 300},
		{32 * mb, 100}, // half the floor: Go's default again
		{48 * mb, 100}, // never below Go's default
		{640 * mb, 100},
	} {
		if got := heapFloorGOGC(64*mb, c.live); got != c.want {
			t.Errorf("live %d MB: GOGC %d, want %d", c.live/mb, got, c.want)
		}
	}
}

// The floor raises GOGC after every collection while the live heap is
// small, and stop gives Go's setting back; GOGC set by the operator
// turns it off.
func TestHeapFloorTunesAfterEachGC(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	stop := HeapFloor(log, 64)
	if got := debug.SetGCPercent(100); got <= 100 {
		t.Fatalf("GOGC %d at start, want above 100 (a test's live heap is far below 64 MB)", got)
	}
	runtime.GC() // the cleanup after this collection sets it again
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := debug.SetGCPercent(100)
		if got > 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d after a collection: the floor was not set again", got)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d after stop, want 100", got)
	}

	t.Setenv("GOGC", "200")
	stop = HeapFloor(log, 64)
	defer stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set by the environment: the floor changed GOGC to %d", got)
	}
}
