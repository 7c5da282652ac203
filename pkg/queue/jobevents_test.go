package queue

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// lib.lua repeats MaxEventHistory; they must agree.
func TestLuaHistoryLimitMatchesGo(t *testing.T) {
	t.Parallel()
	m := regexp.MustCompile(`local HISTORY_LIMIT = (\d+)`).FindStringSubmatch(mustRead("lib.lua"))
	if m == nil || m[1] != strconv.Itoa(MaxEventHistory) {
		t.Fatalf("lib.lua HISTORY_LIMIT %v; Go has %d", m, MaxEventHistory)
	}
}

// leaseByType takes the one runnable job of type typ over the lease protocol.
func leaseByType(t *testing.T, c *Client, typ string) Leased {
	t.Helper()
	res, err := c.Lease(ctxT(t), LeaseParams{WorkerID: "w", Types: []string{typ}, Max: 1, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("lease: %v, %+v", err, res)
	}
	return res.Jobs[0]
}

// Every event of a job from its claim on is kept, in order, state changes
// and log lines in one sequence of ids, and read back after any id.
func TestHistoryKeepsEveryEventInOrder(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	id := mustEnqueue(t, c, EnqueueParams{Type: "h"})
	if n := b.rdb.Exists(ctx, c.shards.of(id).jobEvents(id), c.shards.of(id).log(id)).Val(); n != 0 {
		t.Fatalf("a pending job has %d history keys", n)
	}
	l := leaseByType(t, c, "h")
	for i := 1; i <= 3; i++ {
		p := float64(i * 25)
		if err := c.HeartbeatLease(ctx, id, l.Token, time.Minute, &p, fmt.Sprintf("step %d", i), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := c.AppendLog(ctx, id, l.Token, []LogLine{{Level: LogInfo, Message: fmt.Sprintf("did %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CompleteLease(ctx, id, l.Token, ""); err != nil {
		t.Fatal(err)
	}
	h, err := c.Events(ctx, id, 0, HistoryAll)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	last := int64(0)
	for _, ev := range h.Events {
		if ev.Version <= last || ev.JobID != id {
			t.Fatalf("event %+v after id %d", ev, last)
		}
		last = ev.Version
		if ev.Log != nil {
			got = append(got, ev.Log.Level+":"+ev.Log.Message)
		} else {
			got = append(got, fmt.Sprintf("%s %g %s", ev.Status, ev.Progress, ev.CurrentStep))
		}
	}
	want := []string{"running 0 ", "running 25 step 1", "info:did 1", "running 50 step 2", "info:did 2",
		"running 75 step 3", "info:did 3", "completed 100 Job completed successfully"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history\n got %q\nwant %q", got, want)
	}
	if last != h.Job.Version {
		t.Fatalf("last event id %d, job version %d", last, h.Job.Version)
	}
	// After an id: only what came later; by kind: only that kind.
	after, err := c.Events(ctx, id, h.Events[3].Version, HistoryStates)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Events) != 2 || after.Events[0].CurrentStep != "step 3" || after.Events[1].Status != StateCompleted {
		t.Fatalf("states after %d: %+v", h.Events[3].Version, after.Events)
	}
	// Delete removes it all with the job.
	if err := c.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := b.rdb.Exists(ctx, c.shards.of(id).jobEvents(id), c.shards.of(id).log(id)).Val(); n != 0 {
		t.Fatalf("%d history keys outlive their job", n)
	}
	if _, err := c.Events(ctx, id, 0, HistoryAll); err == nil {
		t.Fatal("history of a deleted job read")
	}
}

// Retention removes a job's history and log with it.
func TestExpireRemovesHistory(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	id := mustEnqueue(t, c, EnqueueParams{Type: "h"})
	l := leaseByType(t, c, "h")
	if err := c.AppendLog(ctx, id, l.Token, []LogLine{{Level: LogWarn, Message: "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.CompleteLease(ctx, id, l.Token, ""); err != nil {
		t.Fatal(err)
	}
	k := c.shards.of(id)
	// Claimed and completed, nothing between: both state events are kept
	// in the record, the log line in the log.
	if n := b.rdb.Exists(ctx, k.jobEvents(id), k.log(id)).Val(); n != 1 {
		t.Fatalf("%d of the history keys exist", n)
	}
	if h, err := c.Events(ctx, id, 0, HistoryAll); err != nil || len(h.Events) != 3 ||
		h.Events[0].Status != StateRunning || h.Events[1].Log == nil || h.Events[2].Status != StateCompleted {
		t.Fatalf("events %+v, %v", h, err)
	}
	waitFor(t, 5*time.Second, "the job expired", func() bool {
		n, err := c.Expire(ctx, Retention{Completed: time.Millisecond})
		return err == nil && n > 0
	})
	if n := b.rdb.Exists(ctx, k.job(id), k.jobEvents(id), k.log(id)).Val(); n != 0 {
		t.Fatalf("%d keys of an expired job remain", n)
	}
	checkInvariants(t, c)
}

// A job that never ran has no history, whatever happens to it before.
func TestNeverRunJobHasNoHistory(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	id := mustEnqueue(t, c, EnqueueParams{Type: "h", RunAt: time.Now().Add(time.Millisecond)})
	waitFor(t, 5*time.Second, "the job promoted", func() bool {
		_, _, _ = c.Promote(ctx, DefaultQueue)
		j, err := c.Get(ctx, id)
		return err == nil && j.Status == StatePending
	})
	if err := c.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := b.rdb.Exists(ctx, c.shards.of(id).jobEvents(id)).Val(); n != 0 {
		t.Fatal("a job that never ran has a history")
	}
}

// 10,000 lines logged by one handler: the log keeps the newest up to its
// bound, in order, and counts the others as dropped.
func TestLogKeepsNewestLinesAndCountsDropped(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	const lines = 10000
	mux := NewMux()
	mux.HandleFunc("chatty", func(ctx context.Context, job *ActiveJob) (any, error) {
		log := job.Log().With("part", "a")
		for i := range lines {
			log.Info("line", "n", i)
		}
		return nil, nil
	})
	id := mustEnqueue(t, c, EnqueueParams{Type: "chatty"})
	startWorker(t, c, mux, WorkerConfig{Concurrency: 1})
	waitFor(t, 20*time.Second, "the job completed", func() bool {
		j, err := c.Get(ctx, id)
		return err == nil && j.Status == StateCompleted
	})
	h, err := c.Events(ctx, id, 0, HistoryLogs)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Events) != DefaultLogLines || h.LogsDropped != lines-DefaultLogLines {
		t.Fatalf("%d lines kept, %d dropped; want %d, %d", len(h.Events), h.LogsDropped, DefaultLogLines, lines-DefaultLogLines)
	}
	for i, ev := range h.Events {
		want := fmt.Sprintf("line part=a n=%d", lines-DefaultLogLines+i)
		if ev.Log == nil || ev.Log.Message != want || ev.Log.Level != LogInfo {
			t.Fatalf("line %d: %+v, want %q", i, ev.Log, want)
		}
	}
	if h.Events[len(h.Events)-1].Version >= h.Job.Version {
		t.Fatal("the completion is not after the last line")
	}
	checkInvariants(t, c)
}

// Lines are checked and cut; a run that lost its job cannot log.
func TestAppendLogChecks(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	id := mustEnqueue(t, c, EnqueueParams{Type: "h"})
	l := leaseByType(t, c, "h")
	if err := c.AppendLog(ctx, id, l.Token, []LogLine{{Level: "loud", Message: "x"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad level: %v", err)
	}
	if err := c.AppendLog(ctx, id, l.Token, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no lines: %v", err)
	}
	long := string(make([]byte, DefaultLogLineBytes-1)) + "é" // cut inside the é
	if err := c.AppendLog(ctx, id, l.Token, []LogLine{{Level: LogError, Message: long}}); err != nil {
		t.Fatal(err)
	}
	h, err := c.Events(ctx, id, 0, HistoryLogs)
	if err != nil || len(h.Events) != 1 || len(h.Events[0].Log.Message) != DefaultLogLineBytes-1 {
		t.Fatalf("cut line: %v %+v", err, h)
	}
	if err := c.AppendLog(ctx, id, "other-token", []LogLine{{Level: LogInfo, Message: "x"}}); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("stale run logged: %v", err)
	}
}

// A log line reaches the Hub's subscribers as an event with its id.
func TestHubDeliversLogLines(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	hub := startHub(t, c)
	id := mustEnqueue(t, c, EnqueueParams{Type: "h"})
	l := leaseByType(t, c, "h")
	sub := hub.Subscribe(id)
	defer sub.Close()
	if err := c.AppendLog(ctx, id, l.Token, []LogLine{{Level: LogInfo, Message: "a\nb"}, {Level: LogDebug, Message: `"q"`, TimeMS: 5}}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []LogLine{{Level: LogInfo, Message: "a\nb"}, {Level: LogDebug, Message: `"q"`, TimeMS: 5}} {
		ev := <-sub.C
		for ev.Log == nil && ev.Status == StateRunning { // the claim's, maybe
			ev = <-sub.C
		}
		if ev.Log == nil || ev.Log.Level != want.Level || ev.Log.Message != want.Message || ev.Status != "" {
			t.Fatalf("event %d: %+v %+v", i, ev, ev.Log)
		}
		if want.TimeMS != 0 && ev.Log.TimeMS != want.TimeMS {
			t.Fatalf("time %d", ev.Log.TimeMS)
		}
	}
}

// The invariant check finds a history or a log that outlived its job.
func TestCheckFindsHistoryWithoutItsJob(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	k := c.shards[0]
	b.rdb.RPush(ctx, k.jobEvents("0b6f3b9e-2a43-4d8e-9a51-7d1d0f0e3c11"), "1 running 0 0 \"\"")
	b.rdb.RPush(ctx, k.log("0b6f3b9e-2a43-4d8e-9a51-7d1d0f0e3c11"), "2 info 0 \"x\"")
	err := c.CheckInvariants(ctx)
	if err == nil || !strings.Contains(err.Error(), "history of job 0b6f3b9e") || !strings.Contains(err.Error(), "log of job 0b6f3b9e") {
		t.Fatalf("check: %v", err)
	}
}
