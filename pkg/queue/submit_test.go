package queue

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

// lib.lua repeats two Go defaults, since a job hash omits fields at their
// default; they must agree.
func TestLuaDefaultsMatchGo(t *testing.T) {
	t.Parallel()
	m := regexp.MustCompile(`local DEFAULT_QUEUE, DEFAULT_MAX_RETRIES = '([^']*)', '([^']*)'`).
		FindStringSubmatch(mustRead("lib.lua"))
	if m == nil {
		t.Fatal("lib.lua: no DEFAULT_QUEUE, DEFAULT_MAX_RETRIES line")
	}
	if m[1] != DefaultQueue || m[2] != strconv.Itoa(DefaultMaxRetries) {
		t.Fatalf("lib.lua defaults %q, %q; Go has %q, %d", m[1], m[2], DefaultQueue, DefaultMaxRetries)
	}
}

// A pending job stores neither default queue nor default max_retries nor
// updated_at, and reads back as if it did.
func TestSubmitOmitsDefaults(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	zero := 0
	res, err := c.EnqueueBatch(ctx, []EnqueueParams{
		{Type: "a"},
		{Type: "b", Queue: "other", MaxRetries: &zero, Priority: 7},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("enqueue: %v %+v", err, res)
	}
	h, _ := b.rdb.HGetAll(ctx, b.keys.job(res[0].Job.ID)).Result()
	for _, f := range []string{fQueue, fMaxRetries, fUpdatedAt, fPriority} {
		if _, ok := h[f]; ok {
			t.Errorf("default job stores %s: %v", f, h)
		}
	}
	j, _ := c.Get(ctx, res[0].Job.ID)
	if j.Queue != DefaultQueue || j.MaxRetries != DefaultMaxRetries || !j.UpdatedAt.Equal(j.CreatedAt) || j.Version != 1 {
		t.Fatalf("default job reads back as %+v", j)
	}
	j, _ = c.Get(ctx, res[1].Job.ID)
	if j.Queue != "other" || j.MaxRetries != 0 || j.Priority != 7 || j.Status != StatePending {
		t.Fatalf("job with its own fields reads back as %+v", j)
	}
	// Cancel and restart find the default queue of a job that does not store it.
	if err := c.Cancel(ctx, res[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, res[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, c)
}

// One call of plain jobs (a short argument list each) between jobs with
// parameters of their own (the long one, a unique key among them): each
// reads back as submitted.
func TestSubmitMixesPlainAndFullJobs(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	later := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	res, err := c.EnqueueBatch(ctx, []EnqueueParams{
		{Type: "a"},
		{Type: "a", UniqueKey: "u1", Priority: 3},
		{Type: "b", Payload: []byte(`{"n":2}`)},
		{Type: "a", UniqueKey: "u1"},
		{Type: "a", Timeout: time.Minute, CallbackURL: "http://127.0.0.1:1/hook"},
		{Type: "b", RunAt: later},
		{Type: "a", Payload: []byte(`{"n":6}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var dup *DuplicateError
	if !errors.As(res[3].Err, &dup) || dup.JobID != res[1].Job.ID {
		t.Fatalf("second u1: %v, want a duplicate of %v", res[3].Err, res[1].Job)
	}
	want := []func(*Job) bool{
		func(j *Job) bool { return j.Type == "a" && j.Priority == 0 && j.Status == StatePending },
		func(j *Job) bool { return j.UniqueKey == "u1" && j.Priority == 3 },
		func(j *Job) bool { return j.Type == "b" && string(j.Payload) == `{"n":2}` },
		nil,
		func(j *Job) bool { return j.Timeout == time.Minute && j.CallbackURL != "" },
		func(j *Job) bool { return j.Status == StateScheduled && j.RunAt.Equal(later) },
		func(j *Job) bool { return string(j.Payload) == `{"n":6}` && j.MaxRetries == DefaultMaxRetries },
	}
	for i, ok := range want {
		if ok == nil {
			continue
		}
		j, err := c.Get(ctx, res[i].Job.ID)
		if err != nil || !ok(j) {
			t.Errorf("job %d reads back as %+v, %v", i, j, err)
		}
	}
	checkInvariants(t, c)
}

// One batch spanning queues and chunks, with a duplicate unique key
// inside it: each job is decided on its own, results in order.
func TestEnqueueBatchAcrossQueuesAndChunks(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	var params []EnqueueParams
	for i := range 2*submitChunk + 5 {
		params = append(params, EnqueueParams{Type: "t", Queue: []string{"q1", "q2", "q3"}[i%3],
			Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	params[10].UniqueKey = "u"
	params[200].UniqueKey = "u"
	params[20].Type = "bad type" // invalid: refused alone
	res, err := c.EnqueueBatch(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	var dup *DuplicateError
	for i, r := range res {
		switch i {
		case 20:
			if !errors.Is(r.Err, ErrInvalid) {
				t.Fatalf("job 20: %v", r.Err)
			}
		case 200:
			if !errors.As(r.Err, &dup) || dup.JobID != res[10].Job.ID || dup.UniqueKey != "u" {
				t.Fatalf("job 200: %v", r.Err)
			}
		default:
			if r.Err != nil {
				t.Fatalf("job %d: %v", i, r.Err)
			}
			j, err := c.Get(ctx, r.Job.ID)
			if err != nil || j.Queue != params[i].Queue || string(j.Payload) != string(params[i].Payload) {
				t.Fatalf("job %d reads back as %+v, %v", i, j, err)
			}
		}
	}
	st, _ := c.Stats(ctx)
	if st.Counts[StatePending] != int64(len(params)-2) {
		t.Fatalf("pending %d, want %d", st.Counts[StatePending], len(params)-2)
	}
	checkInvariants(t, c)
}

// A new job publishes no event: no one can be watching a job whose id
// its submitter has not been told. The first is the claim's, and a
// claim's events travel as one message; the Hub hands each subscriber its
// own job's event.
func TestBatchEventsReachEachSubscriber(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	hub := startHub(t, c)
	all := hub.Subscribe("")
	res, err := c.EnqueueBatch(ctx, []EnqueueParams{{Type: "a"}, {Type: "b"}, {Type: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	claimN(t, c, "w", 3, time.Minute)
	for i, r := range res {
		select {
		case ev := <-all.C:
			if ev.JobID != r.Job.ID || ev.Status != StateRunning || ev.Version != 2 || ev.Queue != DefaultQueue {
				t.Fatalf("event %d: %+v, want job %s running v2", i, ev, r.Job.ID)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d not delivered", i)
		}
	}
}

// Concurrent Enqueue calls share submissions; each still gets its own
// outcome, a duplicate unique key included.
func TestConcurrentEnqueueCoalesces(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	const n = 64
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := EnqueueParams{Type: "t", Payload: []byte(fmt.Sprintf(`{"i":%d}`, i))}
			if i%16 == 0 {
				p.UniqueKey = "same"
			}
			e, err := c.Enqueue(ctx, p)
			errs[i] = err
			if err == nil {
				ids[i] = e.ID
			}
		}()
	}
	wg.Wait()
	dups := 0
	for i := range n {
		var dup *DuplicateError
		switch {
		case errors.As(errs[i], &dup):
			dups++
		case errs[i] != nil:
			t.Fatalf("call %d: %v", i, errs[i])
		default:
			j, err := c.Get(ctx, ids[i])
			if err != nil || string(j.Payload) != fmt.Sprintf(`{"i":%d}`, i) {
				t.Fatalf("call %d: job %+v, %v", i, j, err)
			}
		}
	}
	if dups != n/16-1 {
		t.Fatalf("%d duplicates, want %d", dups, n/16-1)
	}
	// An invalid call fails alone.
	if _, err := c.Enqueue(ctx, EnqueueParams{Type: "bad type"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid: %v", err)
	}
	checkInvariants(t, c)
}

// A submit.lua call sent twice (the client library resends a command
// whose reply was lost) creates its jobs once: the second finds them and
// refuses each, and the counters stay exact. It holds when the call's
// first job was refused for its unique key, so that the check for a
// resend falls on a later one.
func TestResentSubmissionCreatesNothingTwice(t *testing.T) {
	t.Parallel()
	c, _ := setupOneShard(t, redistest.Shared(t))
	ctx := ctxT(t)
	mustEnqueue(t, c, EnqueueParams{Type: "x", UniqueKey: "taken"})
	params := []EnqueueParams{{Type: "x", UniqueKey: "taken"}, {Type: "x"}, {Type: "y"}, {Type: "x", UniqueKey: "new"}}
	out := make([]BatchResult, len(params))
	calls, err := c.planSubmit(ctx, params, out)
	if err != nil || len(calls) != 1 {
		t.Fatalf("plan: %d calls, %v", len(calls), err)
	}
	first := c.luaSubmit(ctx, calls, nil)[0]
	var dup *DuplicateError
	if !errors.As(first[0].Err, &dup) || first[1].Err != nil || first[2].Err != nil || first[3].Err != nil {
		t.Fatalf("first send: %+v", first)
	}
	again := c.luaSubmit(ctx, calls, nil)[0]
	for i, r := range again {
		if !errors.As(r.Err, &dup) {
			t.Fatalf("resend, job %d: %+v", i, r)
		}
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts[StatePending] != 4 {
		t.Fatalf("pending %d, want 4", st.Counts[StatePending])
	}
	checkInvariants(t, c)
}

// A lane's wake list never holds more tokens than the cap, and a backlog
// that keeps it full trims it once in many submissions, not on each.
func TestWakeListStaysUnderItsCap(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil)
	c, b := setupOneShard(t, srv)
	ctx := ctxT(t)
	c.wakeCap = 8
	if err := b.rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		mustEnqueue(t, c, EnqueueParams{Type: "x"})
		if n := b.rdb.LLen(ctx, c.shards[0].laneWake(DefaultQueue, "x")).Val(); n > 8 || n < 1 {
			t.Fatalf("wake list holds %d tokens, cap 8", n)
		}
	}
	stats := b.rdb.Info(ctx, "commandstats").Val()
	if !strings.Contains(stats, "cmdstat_ltrim:calls=7,") {
		t.Fatalf("want 7 LTRIMs for 40 pushes with a cap of 8 (pushes 9, 14, ..., 39):\n%s", stats)
	}
}
