package queue

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"time"
)

// Firing the schedules' ticks. Every apiserver and every worker runs a
// Scheduler, and none leads: each wakes when the first active schedule
// falls due (by the Redis clock) and fires what is due. A tick is fired
// in two steps, each safe to race:
//
//  1. its job is submitted through EnqueueBatch, as any job is, with a
//     unique key made of the schedule (its name and creation time) and
//     the tick: of the processes that fire it at once, one creates the
//     job and the others are told which job holds the key;
//  2. schedule_tick.lua claims the tick: only the call that finds the
//     schedule still at that tick, and the tick due by the Redis clock,
//     moves it on to its next run and records the tick's job.
//
// A process that dies between the two leaves the tick due, and the next
// one to fire it finds the job already made: no tick is lost and none
// makes two jobs. The next run is computed from the Redis clock's now,
// so a schedule no process fired for a while (every process down) fires
// its oldest missed tick once, a catch-up, then goes on at its first
// tick to come: once, not once per missed tick.

// DefaultSchedulerMaxWait is how long a Scheduler sleeps at most between
// two looks at the due schedules: a schedule created or resumed in
// another process, due sooner than the one it waits for, is seen within
// it.
const DefaultSchedulerMaxWait = time.Second

// scheduleBatch bounds the due schedules one pass reads.
const scheduleBatch = 100

// SchedulerConfig configures a Scheduler. Zero fields take the defaults.
type SchedulerConfig struct {
	// MaxWait bounds each sleep; default DefaultSchedulerMaxWait.
	MaxWait time.Duration
	Logger  *slog.Logger
}

// Scheduler fires the due ticks of every schedule. Any number may run at
// once, in any process (see above). It is a service: Start it, then Stop
// it.
type Scheduler struct {
	service
	c   *Client
	cfg SchedulerConfig
	log *slog.Logger
}

// NewScheduler builds a Scheduler on c.
func NewScheduler(c *Client, cfg SchedulerConfig) (*Scheduler, error) {
	cfg.MaxWait = cmp.Or(cfg.MaxWait, DefaultSchedulerMaxWait)
	if cfg.MaxWait < 0 {
		return nil, invalidf("scheduler max wait %s: must not be negative", cfg.MaxWait)
	}
	return &Scheduler{c: c, cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default())}, nil
}

// Start starts firing; the first look at the due schedules is at once.
func (s *Scheduler) Start(ctx context.Context) error { return s.start(ctx, nil, s.loop) }

// Stop stops it, once a pass in progress has ended.
func (s *Scheduler) Stop() { s.stop(nil) }

func (s *Scheduler) loop(ctx context.Context) {
	for ctx.Err() == nil {
		_, wait, err := s.c.FireDueSchedules(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("firing due schedules failed", "err", err)
			wait = s.cfg.MaxWait
		}
		sleepCtx(ctx, min(max(wait, time.Millisecond), s.cfg.MaxWait))
	}
}

// FireDueSchedules fires every schedule tick that is due (see above) and
// returns how many ticks this call claimed, and how long until the next
// one falls due (by the Redis clock; an hour when no schedule is
// active). Each schedule fires on its own: one that fails is logged in
// the error, and the others still fire.
func (c *Client) FireDueSchedules(ctx context.Context) (int, time.Duration, error) {
	fired := 0
	var errs []error
	for {
		pipe := c.rdb.Pipeline()
		now := pipe.Time(ctx)
		due := pipe.ZRangeWithScores(ctx, c.keys.schedulesDue(), 0, scheduleBatch-1)
		if _, err := pipe.Exec(ctx); err != nil {
			return fired, 0, storageErr(err)
		}
		nowMS := now.Val().UnixMilli()
		wait, pending := time.Hour, 0
		for _, z := range due.Val() {
			if at := int64(z.Score); at > nowMS {
				wait = time.Duration(at-nowMS) * time.Millisecond
				break
			}
			pending++
			claimed, err := c.fireSchedule(ctx, z.Member.(string))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if claimed {
				fired++
			}
		}
		// A whole batch was due: look again, there may be more behind it.
		if pending < scheduleBatch || len(errs) > 0 {
			return fired, wait, errors.Join(errs...)
		}
	}
}

// fireSchedule fires a schedule's tick if it is due: its job is created
// (or found, made by a process that fired it first), then the tick is
// claimed. claimed says whether this call moved the schedule on.
func (c *Client) fireSchedule(ctx context.Context, name string) (claimed bool, err error) {
	pipe := c.rdb.Pipeline()
	now := pipe.Time(ctx)
	hash := pipe.HGetAll(ctx, c.keys.schedule(name))
	if _, err := pipe.Exec(ctx); err != nil {
		return false, storageErr(err)
	}
	if len(hash.Val()) == 0 {
		return false, nil // deleted meanwhile
	}
	s, err := scheduleFromHash(hash.Val())
	if err != nil {
		return false, err
	}
	if s.Paused || s.NextRun.IsZero() || s.NextRun.After(now.Val()) {
		return false, nil
	}
	t := tickClaim{name: name, tick: s.NextRun.UnixMilli(), next: s.next(now.Val()).UnixMilli()}
	// Ticks after this one passed too: this fire stands for all of them.
	t.catchUp = !s.next(s.NextRun).After(now.Val())
	job := s.Job
	job.UniqueKey = ScheduleTickUniqueKey(s, s.NextRun)
	res, err := c.EnqueueBatch(ctx, []EnqueueParams{job})
	if err != nil {
		return false, err
	}
	var dup *DuplicateError
	switch r := res[0]; {
	case r.Err == nil:
		t.jobID = r.Job.ID
	case errors.As(r.Err, &dup):
		t.jobID = dup.JobID // created by whoever fired the tick first
	case errors.Is(r.Err, ErrUnavailable):
		return false, r.Err // left due: fired again at the next pass
	default:
		// The job cannot be made (the queue registry is full, say):
		// the tick is given up, and the schedule says why.
		t.jobErr = r.Err.Error()
	}
	if t.next <= 0 {
		t.next = math.MaxInt64 // a cron that never matches again: never due
	}
	return c.luaScheduleTick(ctx, t)
}

// ScheduleTickUniqueKey is the unique key of the job of a schedule's
// tick, as the scheduler sets it: "schedule:<name>:<created ms>:<tick ms>".
// It tells the tick a job was made for.
func ScheduleTickUniqueKey(s *Schedule, tick time.Time) string {
	return "schedule:" + s.Name + ":" + strconv.FormatInt(s.CreatedAt.UnixMilli(), 10) + ":" +
		strconv.FormatInt(tick.UnixMilli(), 10)
}
