package main

import (
	"context"
	"testing"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
)

// jobctl logs prints a job's kept lines; -f follows new ones until the
// job ends, then exits 0.
func TestLogsPrintsAndFollows(t *testing.T) {
	t.Parallel()
	srv, env := live(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := srv.Queue
	// A job of a type no built-in handler runs, leased by the test itself.
	e, err := q.Enqueue(ctx, queue.EnqueueParams{Type: "logger"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Lease(ctx, queue.LeaseParams{WorkerID: "t", Types: []string{"logger"}, Max: 1, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatal(err, res)
	}
	token := res.Jobs[0].Token
	if err := q.AppendLog(ctx, e.ID, token, []queue.LogLine{{Level: queue.LogWarn, Message: "first line"}}); err != nil {
		t.Fatal(err)
	}
	jobctl(t, env, "logs", e.ID).want(t, exitOK, `^\d\d:\d\d:\d\d\.\d{3} warn  first line\n$`)

	f := startJobctl(t, env, "logs", "-f", e.ID)
	f.waitLine(t, `warn  first line$`)
	if err := q.AppendLog(ctx, e.ID, token, []queue.LogLine{{Level: queue.LogInfo, Message: "live line"}}); err != nil {
		t.Fatal(err)
	}
	f.waitLine(t, `info  live line$`)
	if err := q.CompleteLease(ctx, e.ID, token, ""); err != nil {
		t.Fatal(err)
	}
	if rest, code := f.finish(t); code != exitOK || len(rest) != 0 {
		t.Fatalf("logs -f of a finished job: exit %d, then %q", code, rest)
	}
}
