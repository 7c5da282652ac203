package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones by name on hosts without a zoneinfo database

	"github.com/redis/go-redis/v9"
	"github.com/robfig/cron/v3"
)

// Schedules: jobs submitted periodically, on a cron expression in a time
// zone or every so many seconds. A schedule lives in Redis (its hash, and
// its name in two sorted sets: all by name, the active ones by next run);
// any process may fire its ticks (scheduler.go), and each tick creates
// exactly one job, a job like any submitted one, whose unique key names
// the schedule and the tick.

// Limits and defaults of schedules.
const (
	// DefaultMaxSchedules bounds the schedules there may be (Config.MaxSchedules).
	DefaultMaxSchedules = 1000
	// MaxScheduleEvery is the longest period of an Every schedule.
	MaxScheduleEvery = 366 * 24 * time.Hour
	// DefaultScheduleListLimit and MaxScheduleListLimit size a page of ListSchedules.
	DefaultScheduleListLimit = 100
	MaxScheduleListLimit     = 500
)

// ScheduleParams describes a schedule to create.
type ScheduleParams struct {
	// Name names the schedule: 1-64 of [A-Za-z0-9_.-], unique.
	Name string
	// Cron is a standard 5-field cron expression (minute hour
	// day-of-month month day-of-week), read in Timezone. Give Cron or
	// Every, not both.
	Cron string
	// Timezone is an IANA time zone name ("Europe/Paris") for Cron;
	// default UTC.
	Timezone string
	// Every is the period of a schedule that is not a cron one: whole
	// seconds, 1 s to MaxScheduleEvery; its ticks fall every Every from
	// its creation.
	Every time.Duration
	// Job is the job each tick submits. Its UniqueKey, RunAt and Owner
	// must be empty: the schedule gives each job a unique key of its own.
	Job EnqueueParams
}

// Schedule is a schedule as stored.
type Schedule struct {
	Name     string
	Cron     string
	Timezone string // "" unless Cron
	Every    time.Duration
	Job      EnqueueParams
	Paused   bool
	// NextRun is the tick due next (still due, if it is past: no process
	// has fired it yet); LastRun the last tick fired, whose job is
	// LastJobID, or whose job could not be created, for LastError.
	NextRun, LastRun     time.Time
	LastJobID, LastError string
	CreatedAt, UpdatedAt time.Time
	// Fired counts the ticks that created their job; CaughtUp those of
	// them fired late, after later ticks had passed too (a catch-up,
	// which stands for all the ticks missed while no process ran).
	Fired, CaughtUp int64
}

// scheduleJob is a schedule's job as its hash stores it (field job).
type scheduleJob struct {
	Type       string          `json:"type"`
	Payload    json.RawMessage `json:"payload"`
	Queue      string          `json:"queue"`
	Priority   int             `json:"priority"`
	MaxRetries int             `json:"max_retries"`
	TimeoutMS  int64           `json:"timeout_ms"`
}

// cronParser reads the standard five fields; no seconds, no descriptors
// (@every would be Every, spelled another way).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// validate checks p, fills its job's defaults and returns the spec that
// computes its ticks.
func (p *ScheduleParams) validate() (*cron.SpecSchedule, error) {
	if !namePattern.MatchString(p.Name) {
		return nil, invalidf("name %q: want 1-64 of [A-Za-z0-9_.-]", p.Name)
	}
	if err := p.Job.Validate(); err != nil {
		return nil, invalidf("job: %v", err)
	}
	switch {
	case p.Job.UniqueKey != "":
		return nil, invalidf("job: unique_key: a schedule gives each of its jobs a unique key of its own (schedule and tick)")
	case !p.Job.RunAt.IsZero():
		return nil, invalidf("job: run_at: a schedule's jobs run at its ticks")
	case p.Job.Owner != "":
		return nil, invalidf("job: a schedule's jobs have no owner")
	case (p.Cron == "") == (p.Every == 0):
		return nil, invalidf("give cron or every_seconds, one of them")
	case p.Every != 0:
		if p.Timezone != "" {
			return nil, invalidf("timezone: only a cron schedule has one")
		}
		if p.Every < time.Second || p.Every > MaxScheduleEvery || p.Every%time.Second != 0 {
			return nil, invalidf("every_seconds %v: want whole seconds from 1 to %d", p.Every.Seconds(), int64(MaxScheduleEvery/time.Second))
		}
		return nil, nil
	}
	return parseCron(p.Cron, p.Timezone)
}

// parseCron reads a 5-field cron expression in the time zone tz (UTC
// when empty).
func parseCron(expr, tz string) (*cron.SpecSchedule, error) {
	if strings.Contains(expr, "TZ=") || len(expr) > 200 {
		return nil, invalidf("cron %q: want 5 fields (minute hour day-of-month month day-of-week); the time zone goes in timezone", expr)
	}
	loc := time.UTC
	if tz != "" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil || tz == "Local" {
			return nil, invalidf("timezone %q: want an IANA time zone name such as Europe/Paris", tz)
		}
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return nil, invalidf("cron %q: %v (want 5 fields: minute hour day-of-month month day-of-week)", expr, err)
	}
	spec := sched.(*cron.SpecSchedule) // the parser makes no other kind without descriptors
	spec.Location = loc
	return spec, nil
}

// next is the schedule's first tick strictly after t; zero when a cron
// expression never matches again (30 February).
func (s *Schedule) next(t time.Time) time.Time {
	if s.Every > 0 {
		every := s.Every.Milliseconds()
		anchor := s.CreatedAt.UnixMilli()
		k := (t.UnixMilli()-anchor)/every + 1
		if t.UnixMilli() < anchor {
			k = 0
		}
		return time.UnixMilli(anchor + k*every)
	}
	spec, err := parseCron(s.Cron, s.Timezone)
	if err != nil {
		return time.Time{}
	}
	return spec.Next(t).UTC()
}

// CreateSchedule creates a schedule; its first tick is its first run
// time after now (the Redis clock). A taken name is ErrScheduleExists.
func (c *Client) CreateSchedule(ctx context.Context, p ScheduleParams) (*Schedule, error) {
	spec, err := p.validate()
	if err != nil {
		return nil, err
	}
	now, err := c.redisNow(ctx, c.keys)
	if err != nil {
		return nil, err
	}
	now = now.Truncate(time.Millisecond)
	s := &Schedule{Name: p.Name, Cron: p.Cron, Every: p.Every, Job: p.Job, CreatedAt: now, UpdatedAt: now}
	if spec != nil {
		s.Timezone = spec.Location.String()
	}
	if s.NextRun = s.next(now); s.NextRun.IsZero() {
		return nil, invalidf("cron %q: it never matches", p.Cron)
	}
	job, err := json.Marshal(scheduleJob{Type: p.Job.Type, Payload: p.Job.Payload, Queue: p.Job.Queue,
		Priority: p.Job.Priority, MaxRetries: *p.Job.MaxRetries, TimeoutMS: p.Job.Timeout.Milliseconds()})
	if err != nil {
		return nil, err
	}
	fields := []any{"name", s.Name, "job", string(job), "next_run", s.NextRun.UnixMilli(),
		"created_at", now.UnixMilli(), "updated_at", now.UnixMilli()}
	if s.Every > 0 {
		fields = append(fields, "every", int64(s.Every/time.Second))
	} else {
		fields = append(fields, "cron", s.Cron, "timezone", s.Timezone)
	}
	if err := c.luaScheduleCreate(ctx, s.Name, s.NextRun.UnixMilli(), fields); err != nil {
		return nil, err
	}
	return s, nil
}

// GetSchedule reads one schedule; ErrScheduleNotFound when there is none.
func (c *Client) GetSchedule(ctx context.Context, name string) (*Schedule, error) {
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("schedule %s: %w", name, ErrScheduleNotFound)
	}
	h, err := c.rdb.HGetAll(ctx, c.keys.schedule(name)).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("schedule %s: %w", name, ErrScheduleNotFound)
	}
	return scheduleFromHash(h)
}

// ScheduleList is one page of schedules, by name; NextCursor is "" on
// the last page.
type ScheduleList struct {
	Schedules  []*Schedule
	NextCursor string
}

// ListSchedules returns a page of up to limit schedules (0:
// DefaultScheduleListLimit), ordered by name, from after the name cursor
// (a previous page's NextCursor; "" for the first).
func (c *Client) ListSchedules(ctx context.Context, cursor string, limit int) (*ScheduleList, error) {
	limit = max(limit, 0)
	if limit == 0 {
		limit = DefaultScheduleListLimit
	}
	if limit > MaxScheduleListLimit {
		return nil, invalidf("limit %d: want 1-%d", limit, MaxScheduleListLimit)
	}
	from := "-"
	if cursor != "" {
		if !namePattern.MatchString(cursor) {
			return nil, invalidf("cursor is not one this server issued")
		}
		from = "(" + cursor
	}
	names, err := c.rdb.ZRangeByLex(ctx, c.keys.schedules(), &redis.ZRangeBy{Min: from, Max: "+", Count: int64(limit + 1)}).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	out := &ScheduleList{Schedules: []*Schedule{}}
	if len(names) > limit {
		names = names[:limit]
		out.NextCursor = names[limit-1]
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.HGetAll(ctx, c.keys.schedule(n))
	}
	if len(names) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, storageErr(err)
		}
	}
	for _, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue // deleted since its name was read
		}
		s, err := scheduleFromHash(cmd.Val())
		if err != nil {
			return nil, err
		}
		out.Schedules = append(out.Schedules, s)
	}
	return out, nil
}

// PauseSchedule stops a schedule's ticks: none fires while it is paused,
// and none is caught up when it resumes. Pausing a paused one does
// nothing.
func (c *Client) PauseSchedule(ctx context.Context, name string) error {
	return c.setPaused(ctx, name, true)
}

// ResumeSchedule makes a paused schedule due again at its first run time
// after now. Resuming an active one does nothing.
func (c *Client) ResumeSchedule(ctx context.Context, name string) error {
	return c.setPaused(ctx, name, false)
}

func (c *Client) setPaused(ctx context.Context, name string, pause bool) error {
	s, err := c.GetSchedule(ctx, name)
	if err != nil {
		return err
	}
	now, err := c.redisNow(ctx, c.keys)
	if err != nil {
		return err
	}
	return c.luaSchedulePause(ctx, name, pause, s.next(now).UnixMilli(), now.UnixMilli())
}

// DeleteSchedule removes a schedule; the jobs it created stay.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("schedule %s: %w", name, ErrScheduleNotFound)
	}
	return c.luaScheduleDelete(ctx, name)
}

// scheduleFromHash reads a schedule's hash.
func scheduleFromHash(h map[string]string) (*Schedule, error) {
	var job scheduleJob
	if err := json.Unmarshal([]byte(h["job"]), &job); err != nil {
		return nil, fmt.Errorf("schedule %s: its job is not readable: %w", h["name"], err)
	}
	retries := job.MaxRetries
	s := &Schedule{Name: h["name"], Cron: h["cron"], Timezone: h["timezone"], Paused: h["paused"] == "1",
		Job: EnqueueParams{Type: job.Type, Payload: job.Payload, Queue: job.Queue, Priority: job.Priority,
			MaxRetries: &retries, Timeout: time.Duration(job.TimeoutMS) * time.Millisecond},
		NextRun: msTime(h["next_run"]), LastRun: msTime(h["last_run"]), LastJobID: h["last_job_id"],
		LastError: h["last_error"], CreatedAt: msTime(h["created_at"]), UpdatedAt: msTime(h["updated_at"])}
	every, _ := strconv.ParseInt(h["every"], 10, 64)
	s.Every = time.Duration(every) * time.Second
	s.Fired, _ = strconv.ParseInt(h["fired"], 10, 64)
	s.CaughtUp, _ = strconv.ParseInt(h["caught_up"], 10, 64)
	return s, nil
}

// ScheduleTicks is a schedule's count of ticks fired (Schedule.Fired and
// CaughtUp), for metrics.
type ScheduleTicks struct {
	Name            string
	Fired, CaughtUp int64
}

// ScheduleTickCounts reads every schedule's tick counts in one round trip
// after the names (at most Config.MaxSchedules of them), without their
// jobs' payloads.
func (c *Client) ScheduleTickCounts(ctx context.Context) ([]ScheduleTicks, error) {
	names, err := c.rdb.ZRange(ctx, c.keys.schedules(), 0, -1).Result()
	if err != nil || len(names) == 0 {
		return nil, storageErr(err)
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(names))
	for i, n := range names {
		cmds[i] = pipe.HMGet(ctx, c.keys.schedule(n), "fired", "caught_up")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	out := make([]ScheduleTicks, 0, len(names))
	for i, n := range names {
		t := ScheduleTicks{Name: n}
		v := cmds[i].Val()
		s0, _ := v[0].(string)
		s1, _ := v[1].(string)
		t.Fired, _ = strconv.ParseInt(s0, 10, 64)
		t.CaughtUp, _ = strconv.ParseInt(s1, 10, 64)
		out = append(out, t)
	}
	return out, nil
}
