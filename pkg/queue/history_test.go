package queue

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// runJobs submits, claims and completes (or fails) n jobs of typ in queue,
// each of whose runs took the duration dur(i) by the Redis clock: its
// started_at is set back by that much before it completes. It returns the
// jobs as they ended.
func runJobs(t *testing.T, c *Client, queue, typ string, n int, dur func(i int) time.Duration, fail bool) []*Job {
	t.Helper()
	ctx := ctxT(t)
	params := make([]EnqueueParams, n)
	for i := range params {
		params[i] = EnqueueParams{Type: typ, Queue: queue}
	}
	if _, err := c.EnqueueBatch(ctx, params); err != nil {
		t.Fatal(err)
	}
	var jobs []*Job
	for len(jobs) < n {
		got, err := c.claim(ctx, "w", []string{queue}, []string{typ}, 32, time.Minute)
		if err != nil || len(got) == 0 {
			t.Fatalf("claim: %d jobs, %v", len(got), err)
		}
		jobs = append(jobs, got...)
	}
	var runs []completeRun
	for i, j := range jobs {
		k := c.shards.of(j.ID)
		started := j.StartedAt.Add(-dur(i)).UnixMilli()
		if err := c.rdb.HSet(ctx, k.job(j.ID), fStartedAt, started).Err(); err != nil {
			t.Fatal(err)
		}
		if fail {
			if _, err := c.luaFail(ctx, j, j.token, "boom", true, 0); err != nil {
				t.Fatal(err)
			}
			continue
		}
		runs = append(runs, completeRun{id: j.ID, queue: queue, typ: typ, token: j.token})
	}
	if len(runs) > 0 {
		errs, err := c.luaComplete(ctx, runs)
		if err != nil || errors.Join(errs...) != nil {
			t.Fatal(err, errs)
		}
	}
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	ended, err := c.GetMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	return ended
}

// truth is the q-th percentile of durations, in ms (nearest rank).
func truth(ds []time.Duration, q float64) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[int(math.Ceil(q*float64(len(s))))-1]) / float64(time.Millisecond)
}

// withinBucket fails unless got is within one histogram bucket of want.
func withinBucket(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(math.Log2(got)-math.Log2(want))*bucketsPerDoubling > 1 {
		t.Errorf("%s = %v ms, want within one bucket (19%%) of %v ms", what, got, want)
	}
}

func TestHistoryCountsJobsInTheirMinutes(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	const n = 200
	durs := make([]time.Duration, n)
	for i := range durs {
		durs[i] = time.Duration(10+i*i/4) * time.Millisecond // 10 ms .. ~10 s, skewed
	}
	done := runJobs(t, c, "hq", "img", n, func(i int) time.Duration { return durs[i] }, false)
	failed := runJobs(t, c, "hq", "img", 3, func(int) time.Duration { return time.Second }, true)
	runJobs(t, c, "other", "img", 5, func(int) time.Duration { return time.Millisecond }, false)

	pts, err := c.History(ctx, HistoryQuery{Step: time.Minute, Points: 5, Queue: "hq", Type: "img"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 5 {
		t.Fatalf("%d points, want 5", len(pts))
	}
	want := map[time.Time]int64{} // minute → completed
	for _, j := range done {
		want[j.CompletedAt.Truncate(time.Minute).UTC()]++
	}
	var completed, submitted, started, fails int64
	for i, p := range pts {
		if i > 0 && !p.At.Equal(pts[i-1].At.Add(time.Minute)) {
			t.Fatalf("point %d at %v after %v: want one a minute", i, p.At, pts[i-1].At)
		}
		if p.Completed != want[p.At] {
			t.Errorf("minute %v: %d completed, want %d", p.At, p.Completed, want[p.At])
		}
		completed += p.Completed
		submitted += p.Submitted
		started += p.Started
		fails += p.Failed
	}
	if completed != n || submitted != n+3 || started != n+3 || fails != int64(len(failed)) {
		t.Fatalf("completed %d submitted %d started %d failed %d, want %d, %d, %d, 3",
			completed, submitted, started, fails, n, n+3, n+3)
	}
	// Every run (the failed ones too: 1 s each) in one histogram.
	all := append(slices.Clone(durs), time.Second, time.Second, time.Second)
	var run Percentiles
	for _, p := range pts {
		if p.Completed > 0 {
			run = p.Run
		}
	}
	if len(want) == 1 { // all in one minute: its percentiles are the whole set's
		withinBucket(t, "run p50", run.P50, truth(all, 0.50))
		withinBucket(t, "run p95", run.P95, truth(all, 0.95))
		withinBucket(t, "run p99", run.P99, truth(all, 0.99))
	}
	// The other queue's jobs are counted apart; no filter sums both.
	sum := func(q HistoryQuery) (n int64) {
		pts, err := c.History(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pts {
			n += p.Completed
		}
		return n
	}
	if got := sum(HistoryQuery{Step: time.Minute, Points: 5, Queue: "other"}); got != 5 {
		t.Errorf("queue other: %d completed, want 5", got)
	}
	if got := sum(HistoryQuery{Step: time.Minute, Points: 5, Type: "img"}); got != n+5 {
		t.Errorf("type img: %d completed, want %d", got, n+5)
	}
	if got := sum(HistoryQuery{Step: time.Hour, Points: 2}); got != n+5 {
		t.Errorf("hours: %d completed, want %d", got, n+5)
	}
}

func TestHistoryMinutesExpireAfter48Hours(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	ctx := ctxT(t)
	j := runJobs(t, c, DefaultQueue, "x", 1, func(int) time.Duration { return time.Millisecond }, false)
	k := c.shards.of(j[0].ID)
	idx, err := bu.rdb.HGetAll(ctx, k.history()).Result()
	if err != nil || len(idx) != 1 {
		t.Fatalf("history index %v, %v: want one pair", idx, err)
	}
	minute, _ := strconv.ParseInt(idx[DefaultQueue+":x"], 10, 64)
	ttl, err := bu.rdb.TTL(ctx, k.histMinute(minute, DefaultQueue, "x")).Result()
	if err != nil || ttl < 48*time.Hour || ttl > histMinuteTTL {
		t.Fatalf("minute's TTL %v, %v: want 48 h and at most %v", ttl, err, histMinuteTTL)
	}
}

func TestHistoryRollsMinutesUpIntoHours(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	ctx := ctxT(t)
	k := c.shards[0]
	now, err := c.redisNow(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	hour := (now.Unix()/60-1)/60 - 1 // the last hour that ended
	// Two minutes of two types in that hour, as the scripts and the
	// sampler write them.
	write := func(m int64, typ string, f map[string]any) {
		if err := bu.rdb.HSet(ctx, k.histMinute(m, "q", typ), f).Err(); err != nil {
			t.Fatal(err)
		}
		bu.rdb.HSet(ctx, k.history(), "q:"+typ, m)
	}
	write(hour*60+3, "a", map[string]any{hfCompleted: 4, hfRunPrefix + "30": 4, hfPending: 10})
	write(hour*60+59, "a", map[string]any{hfCompleted: 6, hfFailed: 1, hfRunPrefix + "40": 7, hfPending: 20})
	write(hour*60+59, "b", map[string]any{hfCompleted: 1, hfRunPrefix + "40": 1})
	bu.rdb.HSet(ctx, k.histSampled(), hour*60+3, "me", hour*60+59, "me")
	for _, k := range c.shards {
		bu.rdb.Set(ctx, k.histRolled(), hour-1, 0)
	}

	n, err := c.RollupHistory(ctx)
	if err != nil || n != len(c.shards) {
		t.Fatalf("rolled %d hours, %v: want 1 a shard", n, err)
	}
	if _, err := bu.rdb.Del(ctx, k.histMinute(hour*60+3, "q", "a")).Result(); err != nil {
		t.Fatal(err) // the hours are read from the roll-up, not the minutes
	}
	pts, err := c.History(ctx, HistoryQuery{Step: time.Hour, Points: 3})
	if err != nil {
		t.Fatal(err)
	}
	// In the first minute of an hour the hour rolled up is two before
	// the current one, not one: find it by its time.
	at := time.Unix(hour*3600, 0).UTC()
	var p HistoryPoint
	for _, q := range pts {
		if q.At.Equal(at) {
			p = q
		}
	}
	if !p.At.Equal(at) || p.Completed != 11 || p.Failed != 1 || p.Pending != 15 {
		t.Fatalf("hour %+v: want at %v, 11 completed, 1 failed, 15 pending (the mean)", p, at)
	}
	// 4 runs in bucket 30, 8 in bucket 40: the median is in 40.
	if want := math.Round(bucketValue(40)*100) / 100; p.Run.P50 != want || p.Run.P99 != want {
		t.Fatalf("run %+v: want p50 = p99 = %v", p.Run, want)
	}
	ttl, _ := bu.rdb.TTL(ctx, k.histHour(hour, "q", "a")).Result()
	if ttl < 30*24*time.Hour {
		t.Fatalf("hour's TTL %v: want 30 days", ttl)
	}
	if n, err := c.RollupHistory(ctx); err != nil || n != 0 {
		t.Fatalf("rolled %d hours again, %v: want none", n, err)
	}
}

func TestHistorySampledOnceAMinuteAcrossProcesses(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	ctx := ctxT(t)
	params := []EnqueueParams{{Type: "a"}, {Type: "a"}, {Type: "b", Queue: "q2"}, {Type: "a"}}
	if _, err := c.EnqueueBatch(ctx, params); err != nil {
		t.Fatal(err)
	}
	if got, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"a"}, 1, time.Minute); err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	took := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := c.SampleHistory(context.Background(), "p"+strconv.Itoa(i))
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			took += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	minutes := 0
	for _, k := range c.shards {
		minutes += int(bu.rdb.HLen(ctx, k.histSampled()).Val())
	}
	if took != minutes || took < len(c.shards) {
		t.Fatalf("%d samples taken for %d minutes of %d shards: want one a minute", took, minutes, len(c.shards))
	}
	pts, err := c.History(ctx, HistoryQuery{Step: time.Minute, Points: 2})
	if err != nil {
		t.Fatal(err)
	}
	var pending, running int64
	for _, p := range pts {
		pending += p.Pending
		running += p.Running
	}
	if took == len(c.shards) && (pending != 3 || running != 1) {
		t.Fatalf("sampled %d pending, %d running: want 3 and 1", pending, running)
	}
}

func TestHistoryRefusesBadQueries(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	for _, q := range []HistoryQuery{{Step: time.Minute}, {Step: time.Minute, Points: HistoryMaxMinutes + 1},
		{Step: time.Hour, Points: HistoryMaxHours + 1}, {Step: time.Second, Points: 1}} {
		if _, err := c.History(ctxT(t), q); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", q, err)
		}
	}
}

func TestBucketOfMatchesTheScript(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	ctx := ctxT(t)
	for _, ms := range []float64{0, 1, 2, 3, 7, 100, 999, 1000, 12345, 86400000} {
		got, err := bu.rdb.Eval(ctx, mustRead("lib.lua")+"\nreturn hist_bucket(tonumber(ARGV[1]))",
			[]string{c.shards[0].history()}, ms).Int()
		if err != nil {
			t.Fatal(err)
		}
		if want := bucketOf(ms); got != want {
			t.Errorf("%v ms: script bucket %d, Go bucket %d", ms, got, want)
		}
		if ms >= 1 && math.Abs(bucketValue(bucketOf(ms))-ms)/ms > 0.1 {
			t.Errorf("%v ms: bucket %d stands for %v", ms, bucketOf(ms), bucketValue(bucketOf(ms)))
		}
	}
}

func TestHistoryCountsEveryTransitionAndWaits(t *testing.T) {
	t.Parallel()
	c, bu := setup(t)
	ctx := ctxT(t)
	res, err := c.EnqueueBatch(ctx, []EnqueueParams{{Type: "w"}, {Type: "w"}, {Type: "w"}, {Type: "w"}})
	if err != nil {
		t.Fatal(err)
	}
	// Known waits: each job's submission set back by 100 ms, 1 s, 10 s.
	waits := []time.Duration{100 * time.Millisecond, time.Second, 10 * time.Second}
	for i, w := range waits {
		id := res[i].Job.ID
		bu.rdb.HSet(ctx, c.shards.of(id).job(id), fCreatedAt, res[i].Job.CreatedAt.Add(-w).UnixMilli())
	}
	if err := c.Cancel(ctx, res[3].Job.ID); err != nil {
		t.Fatal(err)
	}
	jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"w"}, 3, time.Minute)
	if err != nil || len(jobs) != 3 {
		t.Fatal(jobs, err)
	}
	if to, err := c.luaFail(ctx, jobs[0], jobs[0].token, "again", false, time.Hour); err != nil || to != StateRetrying {
		t.Fatal(to, err)
	}
	pts, err := c.History(ctx, HistoryQuery{Step: time.Minute, Points: 3, Type: "w"})
	if err != nil {
		t.Fatal(err)
	}
	var got HistoryPoint
	for _, p := range pts {
		got.Submitted += p.Submitted
		got.Started += p.Started
		got.Cancelled += p.Cancelled
		got.Retried += p.Retried
		got.Failed += p.Failed
		if p.Started == 3 {
			got.Wait = p.Wait
		}
	}
	if got.Submitted != 4 || got.Started != 3 || got.Cancelled != 1 || got.Retried != 1 || got.Failed != 0 {
		t.Fatalf("history %+v: want 4 submitted, 3 started, 1 cancelled, 1 retried", got)
	}
	if got.Wait.P50 != 0 { // all three started in one minute
		var waited []time.Duration
		for _, j := range jobs {
			rec, err := c.Get(ctx, j.ID)
			if err != nil {
				t.Fatal(err)
			}
			waited = append(waited, rec.StartedAt.Sub(rec.CreatedAt))
		}
		withinBucket(t, "wait p50", got.Wait.P50, truth(waited, 0.5))
		withinBucket(t, "wait p99", got.Wait.P99, truth(waited, 0.99))
	}
}
