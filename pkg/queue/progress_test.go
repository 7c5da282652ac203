package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

// A report not yet written when its run completes is dropped: the
// completion writes the final progress and state, which supersede it, and
// no event ever shows the stale value.
func TestCompletionSupersedesUnwrittenProgress(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	hub := startHub(t, c)
	id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
	w := testWorker(c)
	w.cfg.ProgressInterval = time.Minute // the second report waits for the interval
	r := claimN(t, c, "w", 1, time.Minute)[0]
	sub := hub.Subscribe(id)
	defer sub.Close()
	r.w = w
	r.reportProgress(10, "first") // due at once: written
	waitFor(t, 5*time.Second, "the first report written", func() bool {
		j, err := c.Get(ctx, id)
		return err == nil && j.Progress == 10
	})
	r.reportProgress(60, "held back")
	r.dropProgress()
	if err := w.complete(r, nil); err != nil {
		t.Fatal(err)
	}
	for ev := range sub.C {
		if ev.CurrentStep == "held back" {
			t.Fatalf("the superseded report was written: %+v", ev)
		}
		if ev.Status == StateCompleted {
			if ev.Progress != 100 {
				t.Fatalf("completed at %v%%", ev.Progress)
			}
			break
		}
	}
	checkInvariants(t, c)
}

// Reports that fall due while a write is in flight go out together: one
// progress.lua call for all of them, each job's progress and event right.
func TestProgressWriterBatchesReports(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil) // its own server: the test counts its script calls
	c, b := setupOn(t, srv)
	ctx := ctxT(t)
	const n = 5
	for range n {
		mustEnqueue(t, c, EnqueueParams{Type: "x"})
	}
	w := testWorker(c)
	runs := claimN(t, c, "w", n, time.Minute)
	if err := w.progress.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.progress.Stop()
	if err := b.rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	w.progress.writing.Lock() // a write in flight: the reports queue up
	for i, r := range runs {
		r.w = w
		r.reportProgress(float64(10*(i+1)), "step")
	}
	w.progress.writing.Unlock()
	waitFor(t, 5*time.Second, "every report written", func() bool {
		for i, r := range runs {
			j, err := c.Get(ctx, r.job.ID)
			if err != nil || j.Progress != float64(10*(i+1)) {
				return false
			}
		}
		return true
	})
	stats := b.rdb.Info(ctx, "commandstats").Val()
	if !strings.Contains(stats, "cmdstat_evalsha:calls=1,") {
		t.Fatalf("%d reports took other than one script call:\n%s", n, stats)
	}
	checkInvariants(t, c)
}
