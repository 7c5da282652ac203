package queue

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// dueAt moves a schedule's next run to at, as if that tick were waiting
// to fire (tests do not wait for the clock).
func dueAt(t *testing.T, c *Client, b *bundle, name string, at time.Time) {
	t.Helper()
	ctx := ctxT(t)
	if err := b.rdb.HSet(ctx, c.keys.schedule(name), "next_run", at.UnixMilli()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.ZAdd(ctx, c.keys.schedulesDue(), redis.Z{Score: float64(at.UnixMilli()), Member: name}).Err(); err != nil {
		t.Fatal(err)
	}
}

func everySecond(name string) ScheduleParams {
	return ScheduleParams{Name: name, Every: time.Second, Job: EnqueueParams{Type: "t", Queue: "sched"}}
}

// jobsOf lists the jobs of queue q.
func jobsOf(t *testing.T, c *Client, q string) []*Job {
	t.Helper()
	page, err := c.List(ctxT(t), ListParams{Queue: q, Limit: MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	return page.Jobs
}

func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	job := EnqueueParams{Type: "t"}
	for _, tc := range []struct {
		p    ScheduleParams
		want string // a word the message must hold
	}{
		{ScheduleParams{Name: "a b", Every: time.Second, Job: job}, "name"},
		{ScheduleParams{Name: "x", Job: job}, "cron or every_seconds"},
		{ScheduleParams{Name: "x", Cron: "* * * * *", Every: time.Second, Job: job}, "cron or every_seconds"},
		{ScheduleParams{Name: "x", Cron: "61 * * * *", Job: job}, "cron"},
		{ScheduleParams{Name: "x", Cron: "* * * *", Job: job}, "cron"},
		{ScheduleParams{Name: "x", Cron: "CRON_TZ=UTC * * * * *", Job: job}, "cron"},
		{ScheduleParams{Name: "x", Cron: "* * * * *", Timezone: "Mars/Olympus", Job: job}, "timezone"},
		{ScheduleParams{Name: "x", Every: 1500 * time.Millisecond, Job: job}, "every_seconds"},
		{ScheduleParams{Name: "x", Every: time.Second, Timezone: "UTC", Job: job}, "timezone"},
		{ScheduleParams{Name: "x", Every: time.Second, Job: EnqueueParams{Type: "t", UniqueKey: "k"}}, "unique_key"},
		{ScheduleParams{Name: "x", Every: time.Second, Job: EnqueueParams{Type: "a b"}}, "job"},
		{ScheduleParams{Name: "x", Cron: "0 0 30 2 *", Job: job}, "never"},
	} {
		_, err := c.CreateSchedule(ctx, tc.p)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrInvalid naming %s", tc.p, err, tc.want)
		}
	}
	if _, err := c.CreateSchedule(ctx, everySecond("once")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateSchedule(ctx, everySecond("once")); !errors.Is(err, ErrScheduleExists) {
		t.Fatalf("the same name again: %v", err)
	}
	if _, err := c.GetSchedule(ctx, "nope"); !errors.Is(err, ErrScheduleNotFound) {
		t.Fatalf("get of none: %v", err)
	}
	for _, err := range []error{c.PauseSchedule(ctx, "nope"), c.DeleteSchedule(ctx, "nope")} {
		if !errors.Is(err, ErrScheduleNotFound) {
			t.Fatalf("pause or delete of none: %v", err)
		}
	}
}

// A cron schedule's ticks fall in its time zone, daylight saving time
// included.
func TestScheduleCronInTimezone(t *testing.T) {
	t.Parallel()
	s := &Schedule{Cron: "0 9 * * *", Timezone: "Europe/Paris"}
	for _, tc := range [][2]string{
		{"2024-01-15T10:00:00Z", "2024-01-16T08:00:00Z"}, // winter: UTC+1
		{"2024-07-15T06:00:00Z", "2024-07-15T07:00:00Z"}, // summer: UTC+2
	} {
		from, _ := time.Parse(time.RFC3339, tc[0])
		if got := s.next(from).Format(time.RFC3339); got != tc[1] {
			t.Errorf("after %s: %s, want %s", tc[0], got, tc[1])
		}
	}
	e := &Schedule{Every: 10 * time.Second, CreatedAt: time.UnixMilli(1000)}
	if got := e.next(time.UnixMilli(25_000)).UnixMilli(); got != 31_000 {
		t.Errorf("every 10 s from 1 s, after 25 s: %d", got)
	}
}

// A due tick fires one job, a job like any other, and the schedule moves
// on to its next run, recording the job.
func TestScheduleFiresOneJobPerTick(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	s, err := c.CreateSchedule(ctx, ScheduleParams{Name: "tick", Every: time.Minute,
		Job: EnqueueParams{Type: "t", Queue: "sched", Payload: []byte(`{"n": 1}`), Priority: 7}})
	if err != nil {
		t.Fatal(err)
	}
	if n, wait, err := c.FireDueSchedules(ctx); err != nil || n != 0 || wait <= 50*time.Second {
		t.Fatalf("nothing due yet: %d %s %v", n, wait, err)
	}
	time.Sleep(2 * time.Millisecond) // a tick after its creation (the clock is Redis's, on this host)
	tick := time.Now().Add(-time.Millisecond).Truncate(time.Millisecond)
	dueAt(t, c, b, "tick", tick)
	// Many processes fire it at once: one job, one claim.
	var wg sync.WaitGroup
	var mu sync.Mutex
	claims := 0
	for range 8 {
		wg.Go(func() {
			n, _, err := c.FireDueSchedules(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			claims += n
			mu.Unlock()
		})
	}
	wg.Wait()
	jobs := jobsOf(t, c, "sched")
	if claims != 1 || len(jobs) != 1 {
		t.Fatalf("%d claims, %d jobs", claims, len(jobs))
	}
	j := jobs[0]
	if j.Type != "t" || j.Priority != 7 || j.Status != StatePending || j.UniqueKey != ScheduleTickUniqueKey(s, tick) {
		t.Fatalf("the tick's job: %+v", j)
	}
	got, err := c.GetSchedule(ctx, "tick")
	if err != nil || got.LastJobID != j.ID || !got.LastRun.Equal(tick) || !got.NextRun.After(time.Now()) ||
		got.Fired != 1 || got.CaughtUp != 0 {
		t.Fatalf("after the tick: %+v %v", got, err)
	}
	checkInvariants(t, c)
}

// A process that died between the job and the claim leaves the tick due;
// the next fire finds the job made and claims the tick with it: no
// second job.
func TestScheduleTickAfterACrashMakesNoSecondJob(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	s, err := c.CreateSchedule(ctx, everySecond("crash"))
	if err != nil {
		t.Fatal(err)
	}
	tick := time.Now().Add(-5 * time.Millisecond).Truncate(time.Millisecond)
	dueAt(t, c, b, "crash", tick)
	job := s.Job
	job.UniqueKey = ScheduleTickUniqueKey(s, tick)
	first, err := c.Enqueue(ctx, job) // step 1 of a fire, then the process died
	if err != nil {
		t.Fatal(err)
	}
	if n, _, err := c.FireDueSchedules(ctx); err != nil || n != 1 {
		t.Fatalf("fire: %d %v", n, err)
	}
	got, _ := c.GetSchedule(ctx, "crash")
	if jobs := jobsOf(t, c, "sched"); len(jobs) != 1 || got.LastJobID != first.ID {
		t.Fatalf("%d jobs, last job %s, want %s", len(jobs), got.LastJobID, first.ID)
	}
}

// A schedule nobody fired for many ticks (every process was down) fires
// once, a catch-up, then waits for its next tick to come.
func TestScheduleCatchesUpOnce(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	if _, err := c.CreateSchedule(ctx, everySecond("late")); err != nil {
		t.Fatal(err)
	}
	dueAt(t, c, b, "late", time.Now().Add(-10*time.Second))
	for range 3 {
		if _, _, err := c.FireDueSchedules(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := c.GetSchedule(ctx, "late")
	if jobs := jobsOf(t, c, "sched"); len(jobs) != 1 || got.Fired != 1 || got.CaughtUp != 1 ||
		!got.NextRun.After(time.Now().Add(-time.Second)) {
		t.Fatalf("%d jobs, schedule %+v", len(jobs), got)
	}
}

// A paused schedule fires nothing, and catches nothing up when resumed;
// a deleted one is gone, its jobs stay.
func TestSchedulePauseResumeDelete(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	if _, err := c.CreateSchedule(ctx, everySecond("p")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // twice: a no-op the second time
		if err := c.PauseSchedule(ctx, "p"); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.rdb.HSet(ctx, c.keys.schedule("p"), "next_run", time.Now().Add(-time.Hour).UnixMilli()).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _, err := c.FireDueSchedules(ctx); err != nil || n != 0 || len(jobsOf(t, c, "sched")) != 0 {
		t.Fatalf("a paused schedule fired: %d %v", n, err)
	}
	if s, _ := c.GetSchedule(ctx, "p"); !s.Paused {
		t.Fatalf("not paused: %+v", s)
	}
	if err := c.ResumeSchedule(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	s, _ := c.GetSchedule(ctx, "p")
	if s.Paused || !s.NextRun.After(time.Now().Add(-time.Second)) {
		t.Fatalf("resumed: %+v", s)
	}
	page, err := c.ListSchedules(ctx, "", 0)
	if err != nil || len(page.Schedules) != 1 || page.Schedules[0].Name != "p" {
		t.Fatalf("list: %+v %v", page, err)
	}
	if err := c.DeleteSchedule(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSchedule(ctx, "p"); !errors.Is(err, ErrScheduleNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	if page, _ := c.ListSchedules(ctx, "", 0); len(page.Schedules) != 0 {
		t.Fatalf("listed after delete: %+v", page.Schedules)
	}
}

// Schedules are listed by name, a page at a time, and bounded in number.
func TestScheduleListAndLimit(t *testing.T) {
	t.Parallel()
	_, b := setup(t)
	c, err := NewClient(ctxT(t), b.rdb, &Config{Prefix: redistest.Prefix(t) + ".lim", MaxSchedules: 3, Shards: testShards})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	for _, n := range []string{"c", "a", "b"} {
		if _, err := c.CreateSchedule(ctx, everySecond(n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateSchedule(ctx, everySecond("d")); !errors.Is(err, ErrScheduleLimit) {
		t.Fatalf("a fourth of three: %v", err)
	}
	page, err := c.ListSchedules(ctx, "", 2)
	if err != nil || len(page.Schedules) != 2 || page.Schedules[0].Name != "a" || page.NextCursor != "b" {
		t.Fatalf("page 1: %+v %v", page, err)
	}
	page, err = c.ListSchedules(ctx, page.NextCursor, 2)
	if err != nil || len(page.Schedules) != 1 || page.Schedules[0].Name != "c" || page.NextCursor != "" {
		t.Fatalf("page 2: %+v %v", page, err)
	}
}

// The Scheduler service fires an every-second schedule as time passes.
func TestSchedulerServiceFires(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	sch, err := NewScheduler(c, SchedulerConfig{MaxWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sch.Stop()
	if _, err := c.CreateSchedule(ctx, everySecond("svc")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(jobsOf(t, c, "sched")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no two ticks fired within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
