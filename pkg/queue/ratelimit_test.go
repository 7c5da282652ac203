package queue

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := setup(t)
	l := RateLimit{Rate: 5, Period: time.Hour, Burst: 3}

	// A burst of 3, then refusals telling how long to wait: one emission
	// interval (12 min) at most.
	for i := range 3 {
		d, err := c.Allow(ctx, "alice", l)
		if err != nil || !d.Allowed || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v %v", i, d, err)
		}
	}
	d, err := c.Allow(ctx, "alice", l)
	if err != nil || d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 12*time.Minute {
		t.Fatalf("over the burst: %+v %v", d, err)
	}
	// Budgets are per caller.
	if d, err := c.Allow(ctx, "bob", l); err != nil || !d.Allowed {
		t.Fatalf("bob: %+v %v", d, err)
	}
	// No limit: no Redis call, always allowed.
	if d, err := c.Allow(ctx, "alice", RateLimit{}); err != nil || !d.Allowed {
		t.Fatalf("disabled: %+v %v", d, err)
	}
	if _, err := c.Allow(ctx, "alice", RateLimit{Rate: 1}); err == nil {
		t.Fatal("a limit without a period was accepted")
	}
}

// Concurrent callers sharing one budget get exactly the burst between them.
func TestRateLimitIsShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := setup(t)
	l := RateLimit{Rate: 1, Period: time.Hour, Burst: 25}
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				d, err := c.Allow(ctx, "shared", l)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 25 {
		t.Fatalf("%d of 80 requests allowed, want the burst of 25", allowed)
	}
}
