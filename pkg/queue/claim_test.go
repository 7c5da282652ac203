package queue

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// claim.lua returns each job as it was before the claim and the client
// applies the claim's writes (claimedJob): the result must be the job as
// stored after the claim, field for field.
func TestClaimedJobMatchesStored(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	retries := 5
	if _, err := c.EnqueueBatch(ctx, []EnqueueParams{
		{Type: "a", Payload: []byte(`{"x":[1,2]}`), Priority: 3, MaxRetries: &retries,
			Timeout: time.Minute, UniqueKey: "u1"},
		{Type: "b"}, {Type: "c"}}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, runs []*run) {
		t.Helper()
		for _, r := range runs {
			stored, err := c.Get(ctx, r.job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.job, stored) {
				t.Fatalf("%s: claimed %+v\nstored %+v", what, r.job, stored)
			}
		}
	}
	runs := claimN(t, c, "w1", 2, time.Minute)
	if len(runs) != 2 {
		t.Fatalf("claimed %d jobs", len(runs))
	}
	check("first claim", runs)
	// A job claimed again after a requeue had a step, progress and an
	// attempt: the claim clears the first two and counts the run.
	r := runs[1]
	r.reportProgress(40, "halfway")
	r.flushProgress()
	r.w.requeue(r)
	again := claimN(t, c, "w2", 3, time.Minute)
	if len(again) != 2 || again[0].job.ID != r.job.ID {
		t.Fatalf("second claim: %d jobs", len(again))
	}
	check("claim after requeue", again)
	checkInvariants(t, c)
}

// roundTrips counts the round trips (commands or pipelines) a client sends.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// On one shard the claim script chooses the jobs itself: a claim over
// several queues and types is one round trip, and it takes the lanes'
// heads in run order — the first queue before the second, lanes of one
// queue merged by priority then submission order — within the type
// limits, with nothing taken twice.
func TestClaimChoosesInOneRoundTrip(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil)
	c, _ := setupOneShard(t, srv)
	ctx := ctxT(t)
	if err := c.SetTypeLimit(ctx, "a", 2); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range []EnqueueParams{
		{Type: "a", Queue: "low"}, {Type: "a"}, {Type: "b"}, {Type: "a"}, {Type: "b", Priority: 7},
		{Type: "a"}, {Type: "b", Queue: "low"},
	} {
		ids = append(ids, mustEnqueue(t, c, p))
	}
	hook := &roundTrips{}
	hooked := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = hooked.Close() })
	if err := hooked.Ping(ctx).Err(); err != nil { // a connection, dialled
		t.Fatal(err)
	}
	hooked.AddHook(hook)
	c.rdb = hooked

	// default first: b(prio 7), a, b, a, then a is at its limit; then low: b.
	jobs, err := c.claim(ctx, "w", []string{DefaultQueue, "low"}, []string{"a", "b"}, 6, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.ID)
	}
	want := []string{ids[4], ids[1], ids[2], ids[3], ids[6]}
	if !slices.Equal(got, want) {
		t.Fatalf("claimed %v, want %v", got, want)
	}
	if n := hook.n.Load(); n != 1 {
		t.Fatalf("%d round trips, want 1", n)
	}
	// Only a's remain, at their limit: a lease sees them, blocked.
	res, err := c.Lease(ctx, LeaseParams{WorkerID: "h", Types: []string{"a"}, Max: 5, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 0 || !res.Blocked {
		t.Fatalf("lease at the limit: %+v %v", res, err)
	}
	res, err = c.Lease(ctx, LeaseParams{WorkerID: "h", Types: []string{"b"}, Max: 5, Lease: time.Minute})
	if err != nil || len(res.Jobs) != 0 || res.Blocked {
		t.Fatalf("lease of an empty type: %+v %v", res, err)
	}
	checkInvariants(t, c)
}

// A claim over many types, most of them idle, reads only the lanes its
// queue's lane types set names: one SMISMEMBER instead of a read of each
// empty lane.
func TestClaimReadsOnlyLanesWithJobs(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil)
	c, b := setupOneShard(t, srv)
	ctx := ctxT(t)
	first := mustEnqueue(t, c, EnqueueParams{Type: "busy"})
	second := mustEnqueue(t, c, EnqueueParams{Type: "other"})
	jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"other"}, 1, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].ID != second {
		t.Fatalf("claim of other: %v %v", jobs, err)
	}
	// "other" is in the set, its lane empty; the rest never had a job.
	if err := b.rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	jobs, err = c.claim(ctx, "w", []string{DefaultQueue}, []string{"idle1", "idle2", "other", "busy", "idle3"}, 5, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].ID != first {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	stats := b.rdb.Info(ctx, "commandstats").Val()
	for _, want := range []string{"cmdstat_zrange:calls=2,", "cmdstat_smismember:calls=1,"} {
		if !strings.Contains(stats, want) {
			t.Fatalf("want %s in\n%s", want, stats)
		}
	}
	checkInvariants(t, c)
}

// A lane entry that is no pending job (the invariants forbid it; a bug or
// a hand edit could make one) does not hold the lane's head: a claim
// passes over it, drops it, and takes the job behind it.
func TestClaimDropsStaleLaneEntry(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	want := mustEnqueue(t, c, EnqueueParams{Type: "x"})
	lane := c.shards.of(want).lane(DefaultQueue, "x")
	if err := b.rdb.ZAdd(ctx, lane, redis.Z{Score: 0, Member: "no-such-job"}).Err(); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"x"}, 1, time.Minute)
	if err == nil && len(jobs) == 0 { // the stale head filled the window of one
		jobs, err = c.claim(ctx, "w", []string{DefaultQueue}, []string{"x"}, 1, time.Minute)
	}
	if err != nil || len(jobs) != 1 || jobs[0].ID != want {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	if b.rdb.ZScore(ctx, lane, "no-such-job").Err() != redis.Nil {
		t.Fatal("the stale entry is still in the lane")
	}
	checkInvariants(t, c)
}

// setupOneShard is setupOn with one shard whatever QUEUE_TEST_SHARDS says,
// for tests of what a claim or a submission does within one shard.
func setupOneShard(t testing.TB, srv *redistest.Server) (*Client, *bundle) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 32})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := NewClient(ctx, rdb, &Config{Prefix: redistest.Prefix(t), Shards: 1})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, &bundle{rdb: rdb, server: srv, keys: c.keys}
}
