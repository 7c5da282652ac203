package queue

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// A Redis that lost its script cache (restarted without persistence of
// it, failed over) answers EVALSHA with NOSCRIPT: every script call path,
// one call or a pipelined batch of them, reloads the scripts and goes on.
func TestScriptsReloadedWhenRedisLostThem(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil) // its own server: the flushes touch no other test
	c, b := setupOn(t, srv)
	ctx := ctxT(t)
	flush := func() {
		t.Helper()
		if err := b.rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}
	flush()
	res, err := c.EnqueueBatch(ctx, []EnqueueParams{{Type: "x"}, {Type: "x", Queue: "other"}})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("submit after a flush: %v %+v", err, res)
	}
	flush()
	jobs, err := c.claim(ctx, "w", []string{DefaultQueue, "other"}, []string{"x"}, 2, time.Minute)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("claim after a flush: %d jobs, %v", len(jobs), err)
	}
	flush()
	outcomes, err := c.luaExtend(ctx, time.Minute, []runRef{{jobs[0].ID, jobs[0].token}, {jobs[1].ID, jobs[1].token}})
	if err != nil || outcomes[0] != nil || outcomes[1] != nil {
		t.Fatalf("extend after a flush: %v %v", outcomes, err)
	}
	flush()
	if err := c.luaProgressOne(ctx, jobs[0].ID, jobs[0].token, 50, "half", time.Minute); err != nil {
		t.Fatalf("progress after a flush: %v", err)
	}
	flush()
	errs, err := c.luaComplete(ctx, []completeRun{{id: jobs[0].ID, queue: jobs[0].Queue, token: jobs[0].token}})
	if err != nil || errs[0] != nil {
		t.Fatalf("complete after a flush: %v %v", errs, err)
	}
	flush()
	if err := c.Cancel(ctx, jobs[1].ID); err != nil {
		t.Fatalf("cancel after a flush: %v", err)
	}
	checkInvariants(t, c)
}

// noScriptHook empties the script cache before every command it sees, so
// that every EVALSHA meets NOSCRIPT, and counts the EVALSHAs.
type noScriptHook struct {
	flusher *redis.Client
	evals   atomic.Int64
}

func (h *noScriptHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *noScriptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.before(ctx, cmd)
		return next(ctx, cmd)
	}
}

func (h *noScriptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			h.before(ctx, cmd)
		}
		return next(ctx, cmds)
	}
}

func (h *noScriptHook) before(ctx context.Context, cmd redis.Cmder) {
	if strings.EqualFold(cmd.Name(), "evalsha") {
		h.evals.Add(1)
		_ = h.flusher.ScriptFlush(ctx).Err()
	}
}

// A Redis that keeps losing its scripts does not keep a call retrying: it
// is sent twice (before and after one reload) and then fails with the
// NOSCRIPT error.
func TestScriptReloadIsBounded(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil)
	c, b := setupOn(t, srv)
	ctx := ctxT(t)
	hook := &noScriptHook{flusher: b.rdb}
	hooked := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = hooked.Close() })
	hooked.AddHook(hook)
	c.rdb = hooked

	_, err := c.Enqueue(ctx, EnqueueParams{Type: "x"})
	if !isNoScript(err) {
		t.Fatalf("submit: want NOSCRIPT, got %v", err)
	}
	if n := hook.evals.Load(); n != scriptAttempts {
		t.Fatalf("submit: %d EVALSHAs, want %d", n, scriptAttempts)
	}
	hook.evals.Store(0)
	_, err = c.luaExtend(ctx, time.Minute, []runRef{{"a", "t"}})
	if !isNoScript(err) || hook.evals.Load() != scriptAttempts {
		t.Fatalf("extend: %d EVALSHAs, err %v", hook.evals.Load(), err)
	}
}
