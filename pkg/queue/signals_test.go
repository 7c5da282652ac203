package queue

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Waiting helpers: tests wait for what they need (a condition, a log
// line, a signal), never for a fixed time.

// waitFor waits until cond holds, checking it every few milliseconds, and
// fails the test after limit.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		<-tick.C
	}
}

// logSignal is a slog.Handler that discards every record but closes the
// channel of each awaited message the first time a record carries it.
type logSignal struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

func newLogSignal() *logSignal { return &logSignal{waiting: map[string]chan struct{}{}} }

// on returns a channel closed once a record whose message contains msg is
// logged.
func (l *logSignal) on(msg string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := l.waiting[msg]
	if ch == nil {
		ch = make(chan struct{})
		l.waiting[msg] = ch
	}
	return ch
}

func (l *logSignal) Enabled(context.Context, slog.Level) bool { return true }

func (l *logSignal) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for msg, ch := range l.waiting {
		if strings.Contains(r.Message, msg) {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}
	return nil
}

func (l *logSignal) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logSignal) WithGroup(string) slog.Handler      { return l }

// within waits for ch, failing the test after limit.
func within(t testing.TB, limit time.Duration, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(limit):
		t.Fatalf("waited %s for %s", limit, what)
	}
}

// redisTime reads the Redis clock, the one every lease and retention is
// measured on.
func redisTime(t testing.TB, c *Client) time.Time {
	t.Helper()
	now, err := c.redisNow(ctxT(t), c.keys)
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// waitRedisClock waits until the Redis clock has moved d on from now.
func waitRedisClock(t testing.TB, c *Client, d time.Duration) {
	t.Helper()
	until := redisTime(t, c).Add(d)
	waitFor(t, 10*time.Second+d, "the Redis clock to pass "+d.String(), func() bool {
		return !redisTime(t, c).Before(until)
	})
}

// waitLeasesExpired waits until every lease held now has expired by the
// Redis clock, so that a Reap recovers them all.
func waitLeasesExpired(t testing.TB, c *Client) {
	t.Helper()
	var last int64
	for _, k := range c.shards {
		zs, err := c.rdb.ZRangeWithScores(ctxT(t), k.leases(), -1, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(zs) == 1 {
			last = max(last, int64(zs[0].Score))
		}
	}
	waitFor(t, 10*time.Second, "the leases to expire", func() bool {
		return redisTime(t, c).UnixMilli() > last
	})
}
