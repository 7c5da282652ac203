package queue

import (
	"log/slog"
	"sync"
	"testing"
)

// TestWorkersSampleOnTheirOwn: workers in one process (tests, dev mode)
// sample at the same time; each sampler measures its process's CPU with
// its own handle, since gopsutil's Process keeps its last sample
// unguarded (the race detector catches a shared one).
func TestWorkersSampleOnTheirOwn(t *testing.T) {
	t.Parallel()
	ws := []*sampler{{log: slog.New(slog.DiscardHandler)}, {log: slog.New(slog.DiscardHandler)}}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for range 20 {
				w.sample()
			}
		})
	}
	wg.Wait()
	for _, w := range ws {
		if own := w.ownCPU(); own < 0 || w.rss() <= 0 {
			t.Errorf("own CPU %v, RSS %v MB", own, w.rss())
		}
	}
}
