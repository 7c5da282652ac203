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
