package startup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/compileo/jobqueue/internal/redisconn"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/internal/testmain"
	"github.com/compileo/jobqueue/pkg/queue"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

func TestQueueFlags(t *testing.T) {
	parse := func(t *testing.T, env map[string]string) (queue.Config, error) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		fs := envflag.New("test")
		get := QueueFlags(fs, "prefix")
		if err := fs.Parse(nil); err != nil {
			return queue.Config{}, err
		}
		return get()
	}
	c, err := parse(t, map[string]string{"QUEUE_PREFIX": "app", "QUEUE_SHARDS": "6",
		"REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT": "50ms"})
	if err != nil || c.Prefix != "app" || c.Shards != 6 || c.WaitReplicas != 1 || c.WaitTimeout != 50*time.Millisecond {
		t.Fatalf("%+v %v", c, err)
	}
	for env, want := range map[[2]string]string{
		{"QUEUE_SHARDS", "1000"}:       "want 1-",
		{"REDIS_WAIT_REPLICAS", "-1"}:  "negative",
		{"REDIS_WAIT_TIMEOUT", "2s"}:   "below",
		{"REDIS_WAIT_TIMEOUT", "soon"}: "REDIS_WAIT_TIMEOUT",
	} {
		t.Run(env[0]+"="+env[1], func(t *testing.T) {
			if _, err := parse(t, map[string]string{env[0]: env[1]}); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one saying %q", err, want)
			}
		})
	}
}

// WaitReachable retries while the error is queue.ErrUnavailable, and
// returns any other at once.
func TestWaitReachable(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	calls := 0
	err := WaitReachable(context.Background(), log, func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("%w: not yet", queue.ErrUnavailable)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("%d calls, %v", calls, err)
	}
	other := errors.New("bad config")
	calls = 0
	if err := WaitReachable(context.Background(), log, func() error { calls++; return other }); err != other || calls != 1 {
		t.Fatalf("%d calls, %v", calls, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := WaitReachable(ctx, log, func() error { return queue.ErrUnavailable }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after the context ended: %v", err)
	}
}

// Connect waits for a Redis that comes up after the process started.
func TestConnectWaitsForRedis(t *testing.T) {
	srv := redistest.New(t, nil)
	srv.Stop()
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := &firstWait{waiting: make(chan struct{})}
	go func() {
		rdb, q, err := Connect(ctx, slog.New(logs), "startup-test", redisconn.Config{URL: srv.URL()}, queue.Config{Prefix: redistest.Prefix(t)})
		if err == nil {
			err = q.Ping(ctx)
			_ = rdb.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("connected without Redis: %v", err)
	case <-logs.waiting:
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// firstWait is a slog.Handler that closes waiting at the first "waiting
// for redis" line.
type firstWait struct {
	once    sync.Once
	waiting chan struct{}
}

func (f *firstWait) Enabled(context.Context, slog.Level) bool { return true }
func (f *firstWait) WithAttrs([]slog.Attr) slog.Handler       { return f }
func (f *firstWait) WithGroup(string) slog.Handler            { return f }
func (f *firstWait) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "waiting for redis" {
		f.once.Do(func() { close(f.waiting) })
	}
	return nil
}
