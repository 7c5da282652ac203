package queue

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// While one batch is in flight, the calls that arrive wait and go out
// together, chunk at a time; each gets its own outcomes, in order, even
// when its inputs are split over batches.
func TestCoalescerMergesWaitingCalls(t *testing.T) {
	t.Parallel()
	co := &coalescer[int, int]{chunk: 8}
	b := holdFirstBatch(co)
	started, release := b.started, b.release
	ctx := ctxT(t)
	var wg sync.WaitGroup
	check := func(ins ...int) {
		defer wg.Done()
		out, err := co.do(ctx, ins)
		want := make([]int, len(ins))
		for i, x := range ins {
			want[i] = 2 * x
		}
		if err != nil || !slices.Equal(out, want) {
			t.Errorf("do(%v) = %v, %v", ins, out, err)
		}
	}
	wg.Add(1)
	go check(1)
	<-started
	for i := range 6 {
		wg.Add(1)
		go check(10 + i)
	}
	wg.Add(1)
	go check(100, 101, 102, 103, 104) // split over two batches
	waitUntil(t, func() bool { co.mu.Lock(); defer co.mu.Unlock(); return len(co.waiting) == 11 })
	close(release)
	wg.Wait()
	if sizes := b.sizes(); !slices.Equal(sizes, []int{1, 8, 3}) {
		t.Fatalf("batches of %v, want [1 8 3]", sizes)
	}
	if out, err := co.do(ctx, nil); out != nil || err != nil {
		t.Fatalf("nothing: %v %v", out, err)
	}
	// A caller whose context ends stops waiting; its inputs still go out.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := co.do(cctx, []int{7}); err != context.Canceled {
		t.Fatalf("cancelled: %v", err)
	}
}

// The callers that arrive while a batch is out join its callers in the
// next one: a caller of the first batch who calls again is waited for, so
// N callers in a loop share one batch rather than settling in two.
func TestCoalescerWaitsForTheWholeRound(t *testing.T) {
	t.Parallel()
	co := &coalescer[int, int]{chunk: 16, gatherFor: time.Minute}
	b := holdFirstBatch(co)
	started, release := b.started, b.release
	ctx := ctxT(t)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a caller in a loop: the first batch, then the second
		defer wg.Done()
		for range 2 {
			if _, err := co.do(ctx, []int{1}); err != nil {
				t.Error(err)
			}
		}
	}()
	<-started
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = co.do(ctx, []int{2})
		}()
	}
	waitUntil(t, func() bool { co.mu.Lock(); defer co.mu.Unlock(); return len(co.waiting) == 5 })
	close(release)
	wg.Wait()
	if sizes := b.sizes(); !slices.Equal(sizes, []int{1, 6}) {
		t.Fatalf("batches of %v, want [1 6]", sizes)
	}
}

// heldBatches is a coalescer's run for tests: it doubles each input,
// records the size of each batch, and holds the first one (started
// closed) until release is closed.
type heldBatches struct {
	started, release chan struct{}
	mu               sync.Mutex
	batches          []int
}

func holdFirstBatch(co *coalescer[int, int]) *heldBatches {
	b := &heldBatches{started: make(chan struct{}), release: make(chan struct{})}
	co.run = func(_ context.Context, in []int) []int {
		b.mu.Lock()
		b.batches = append(b.batches, len(in))
		first := len(b.batches) == 1
		b.mu.Unlock()
		if first {
			close(b.started)
			<-b.release
		}
		out := make([]int, len(in))
		for i, x := range in {
			out[i] = 2 * x
		}
		return out
	}
	return b
}

func (b *heldBatches) sizes() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.batches)
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// leasedJobs forgets a job once taken, and holds at most two generations.
func TestLeasedJobsBounded(t *testing.T) {
	t.Parallel()
	var l leasedJobs
	jobs := make([]*Job, 2*leasedJobsGeneration+1)
	for i := range jobs {
		jobs[i] = &Job{ID: fmt.Sprint(i), Queue: "q", Type: "t"}
	}
	l.add(jobs[:1])
	if j, ok := l.take("0"); !ok || j.queue != "q" || j.typ != "t" {
		t.Fatalf("take: %+v %v", j, ok)
	}
	if _, ok := l.take("0"); ok {
		t.Fatal("taken twice")
	}
	l.add(jobs)
	if n := len(l.cur) + len(l.old); n > 2*leasedJobsGeneration {
		t.Fatalf("%d remembered", n)
	}
	if _, ok := l.take("1"); ok {
		t.Fatal("the oldest generation was kept")
	}
	if _, ok := l.take(fmt.Sprint(len(jobs) - 1)); !ok {
		t.Fatal("the newest was forgotten")
	}
}
