package queue

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// A rate limit lets a type start at most N jobs in any period, however
// many claim at once: the rest wait, pending, the claim says how long,
// the stats say so; once the window slides more start; once cleared,
// all do.
func TestTypeRateLimitsStarts(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	if err := c.SetTypeRate(ctx, TypeRate{Type: "r", Rate: 3, Per: 400 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	submitN(t, c, EnqueueParams{Type: "r"}, 10)
	other := mustEnqueue(t, c, EnqueueParams{Type: "o"})

	// Eight claimers at once: three starts in all.
	var mu sync.Mutex
	var got []*Job
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs, _, err := c.claimWait(ctx, "w"+string(rune('a'+i)), []string{DefaultQueue}, []string{"r", "o"}, 5, time.Minute)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			got = append(got, jobs...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := 0
	for _, j := range got {
		if j.Type == "r" {
			r++
		} else if j.ID != other {
			t.Fatalf("claimed %+v", j)
		}
	}
	if r != 3 || len(got) != 4 {
		t.Fatalf("claimed %d of type r, %d in all: want 3 and the other type's one", r, len(got))
	}
	jobs, wait, err := c.claimWait(ctx, "w", []string{DefaultQueue}, []string{"r"}, 5, time.Minute)
	if err != nil || len(jobs) != 0 || wait <= 0 || wait > 400*time.Millisecond {
		t.Fatalf("over the limit: %v, wait %s, %v", jobs, wait, err)
	}
	res, err := c.Lease(ctx, LeaseParams{WorkerID: "h", Types: []string{"r"}, Max: 5, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 0 || res.RetryAfter <= 0 {
		t.Fatalf("a lease over the limit: %+v %v", res, err)
	}
	st, err := c.Stats(ctx)
	if err != nil || len(st.RateLimits) != 1 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	if rs := st.RateLimits[0]; rs.Type != "r" || rs.Rate != 3 || rs.Per != 400*time.Millisecond ||
		rs.Started != 3 || rs.Pending != 7 || !rs.Waiting {
		t.Fatalf("rate state: %+v", rs)
	}
	checkInvariants(t, c)

	waitFor(t, 5*time.Second, "three more starts", func() bool {
		jobs, _, err := c.claimWait(ctx, "w", []string{DefaultQueue}, []string{"r"}, 5, time.Minute)
		if err != nil || len(jobs) > 3 {
			t.Fatalf("after the window: %d jobs, %v", len(jobs), err)
		}
		r += len(jobs)
		return r == 6
	})

	if had, err := c.ClearTypeRate(ctx, "r"); err != nil || !had {
		t.Fatalf("clear: %v %v", had, err)
	}
	jobs, wait, err = c.claimWait(ctx, "w", []string{DefaultQueue}, []string{"r"}, 10, time.Minute)
	if err != nil || len(jobs) != 4 || wait != 0 {
		t.Fatalf("cleared: %d jobs, wait %s, %v", len(jobs), wait, err)
	}
	if had, err := c.ClearTypeRate(ctx, "r"); err != nil || had {
		t.Fatalf("clear again: %v %v", had, err)
	}
	checkInvariants(t, c)
}

// Rates are checked, and spelled in the workers' environment as
// type=N/period.
func TestParseTypeRates(t *testing.T) {
	t.Parallel()
	got, err := ParseTypeRates("ocr=20/s, report=10/1m,x=5/250ms")
	if err != nil || len(got) != 3 || got[0] != (TypeRate{"ocr", 20, time.Second}) ||
		got[1] != (TypeRate{"report", 10, time.Minute}) || got[2] != (TypeRate{"x", 5, 250 * time.Millisecond}) {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range []string{"ocr", "ocr=20", "ocr=0/s", "ocr=x/s", "ocr=5/0s", "ocr=5/48h", "b d=5/s", "ocr=5/1.5ms"} {
		if _, err := ParseTypeRates(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	c, _ := setup(t)
	if err := c.SetTypeRate(ctxT(t), TypeRate{Type: "x", Rate: 0, Per: time.Second}); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}
