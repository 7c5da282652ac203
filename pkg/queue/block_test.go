package queue

import (
	"strings"
	"testing"
	"time"
)

// A bar holds for its duration, on every client of the same Redis, and
// lifts by itself.
func TestBlock(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	// Another process on the same Redis and prefix.
	other, err := NewClient(ctx, b.rdb, &Config{Prefix: strings.Trim(b.keys.tag, "{}"), Shards: testShards})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := other.BlockedFor(ctx, "ip:10.0.0.1"); err != nil || d != 0 {
		t.Fatalf("before any bar: %s %v", d, err)
	}
	if err := c.Block(ctx, "ip:10.0.0.1", 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	d, err := other.BlockedFor(ctx, "ip:10.0.0.1")
	if err != nil || d <= 0 || d > 200*time.Millisecond {
		t.Fatalf("barred for %s (%v), want up to 200ms", d, err)
	}
	if d, _ := other.BlockedFor(ctx, "ip:10.0.0.2"); d != 0 {
		t.Fatalf("another subject barred for %s", d)
	}
	waitFor(t, 5*time.Second, "the bar to end", func() bool { // no event announces the expiry: look again
		d, err := other.BlockedFor(ctx, "ip:10.0.0.1")
		return err == nil && d == 0
	})
	if err := c.Block(ctx, "", time.Second); err == nil {
		t.Fatal("empty subject accepted")
	}
}
