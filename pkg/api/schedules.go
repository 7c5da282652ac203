package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// Schedules: /api/v1/schedules creates, lists, reads, pauses, resumes
// and deletes periodic schedules (queue.Schedule). Creating, pausing,
// resuming and deleting need the admin role: a schedule submits jobs for
// as long as it lives, counted against no caller's quota, which is an
// operator's decision; reading needs read.

// scheduleRequest is a schedule as a client creates it.
type scheduleRequest struct {
	Name         string          `json:"name"`
	Cron         string          `json:"cron"`
	Timezone     string          `json:"timezone"`
	EverySeconds *int64          `json:"every_seconds"`
	Job          json.RawMessage `json:"job"`
}

// scheduleView is a schedule as the API shows it.
type scheduleView struct {
	Name         string          `json:"name"`
	Cron         *string         `json:"cron"`
	Timezone     *string         `json:"timezone"`
	EverySeconds *int64          `json:"every_seconds"`
	Job          scheduleJobView `json:"job"`
	Paused       bool            `json:"paused"`
	NextRunAt    timestamp       `json:"next_run_at"`
	LastRunAt    timestamp       `json:"last_run_at"`
	LastJobID    *string         `json:"last_job_id"`
	LastError    *string         `json:"last_error"`
	Fired        int64           `json:"fired"`
	CaughtUp     int64           `json:"caught_up"`
	CreatedAt    timestamp       `json:"created_at"`
	UpdatedAt    timestamp       `json:"updated_at"`
}

// scheduleJobView is the job each tick of a schedule submits.
type scheduleJobView struct {
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload"`
	Queue          string          `json:"queue"`
	Priority       int             `json:"priority"`
	MaxRetries     int             `json:"max_retries"`
	TimeoutSeconds float64         `json:"timeout_seconds"`
}

func scheduleOf(s *queue.Schedule) scheduleView {
	v := scheduleView{Name: s.Name, Cron: nullable(s.Cron), Timezone: nullable(s.Timezone),
		Paused: s.Paused, LastRunAt: timestamp(s.LastRun), LastJobID: nullable(s.LastJobID),
		LastError: nullable(s.LastError), Fired: s.Fired, CaughtUp: s.CaughtUp,
		CreatedAt: timestamp(s.CreatedAt), UpdatedAt: timestamp(s.UpdatedAt),
		Job: scheduleJobView{Type: s.Job.Type, Payload: jsonValue(s.Job.Payload), Queue: s.Job.Queue,
			Priority: s.Job.Priority, TimeoutSeconds: s.Job.Timeout.Seconds()}}
	if s.Job.MaxRetries != nil {
		v.Job.MaxRetries = *s.Job.MaxRetries
	}
	if s.Every > 0 {
		n := int64(s.Every / time.Second)
		v.EverySeconds = &n
	}
	if !s.Paused {
		v.NextRunAt = timestamp(s.NextRun)
	}
	return v
}

// createSchedule answers POST /api/v1/schedules: 201 with Location.
func (s *server) createSchedule(c *gin.Context) {
	p, err := parseSchedule(c.Request.Body, s.limits())
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	errs := []error{nil}
	if err := s.admit(ctx, []queue.EnqueueParams{p.Job}, errs); err != nil {
		s.writeError(c, err)
		return
	}
	if errs[0] != nil {
		s.writeError(c, errs[0])
		return
	}
	sched, err := s.q.CreateSchedule(ctx, p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Location", "/api/v1/schedules/"+sched.Name)
	c.JSON(http.StatusCreated, scheduleOf(sched))
}

// parseSchedule decodes and checks a schedule to create; its job is
// checked as a submission is, and may not ask for a time or a unique key
// of its own.
func parseSchedule(body io.Reader, lim submitLimits) (queue.ScheduleParams, error) {
	var req scheduleRequest
	if err := decodeStrict(body, &req); err != nil {
		return queue.ScheduleParams{}, err
	}
	p := queue.ScheduleParams{Name: req.Name, Cron: req.Cron, Timezone: req.Timezone}
	if req.Name == "" {
		return p, invalidArgf("name is required")
	}
	if req.EverySeconds != nil {
		n := *req.EverySeconds
		if n < 1 || n > int64(queue.MaxScheduleEvery/time.Second) {
			return p, invalidArgf("every_seconds %d: want 1 to %d", n, int64(queue.MaxScheduleEvery/time.Second))
		}
		p.Every = time.Duration(n) * time.Second
	}
	if len(req.Job) == 0 || string(req.Job) == "null" {
		return p, invalidArgf("job is required: the fields of a submission (POST /api/v1/jobs)")
	}
	var job submitRequest
	if err := decodeStrict(bytes.NewReader(req.Job), &job); err != nil {
		return p, prefixed("job", err)
	}
	switch {
	case job.RunAt != nil:
		return p, invalidArgf("job.run_at: a schedule's jobs run at its ticks")
	case job.DelaySeconds != nil:
		return p, invalidArgf("job.delay_seconds: a schedule's jobs run at its ticks")
	case len(job.Deadline) > 0 && string(job.Deadline) != "null":
		return p, invalidArgf("job.deadline: a schedule's jobs run at its ticks")
	case job.UniqueKey != "":
		return p, invalidArgf("job.unique_key: a schedule gives each of its jobs a unique key of its own")
	}
	var err error
	if p.Job, err = job.params(time.Now(), lim); err != nil {
		return p, prefixed("job", err)
	}
	return p, nil
}

// prefixed says that a 400 is about a part of the body ("job: ...").
func prefixed(part string, err error) error {
	status, body := classify(err)
	if status != http.StatusBadRequest {
		return err
	}
	return &requestError{status, body.Code, part + ": " + body.Message}
}

// listSchedules answers GET /api/v1/schedules?limit=&cursor=.
func (s *server) listSchedules(c *gin.Context) {
	limit := 0
	if vs, ok := c.GetQueryArray("limit"); ok {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > queue.MaxScheduleListLimit {
			s.writeError(c, invalidArgf("limit %q: want 1 to %d", vs[0], queue.MaxScheduleListLimit))
			return
		}
		limit = n
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	page, err := s.q.ListSchedules(ctx, c.Query("cursor"), limit)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := make([]scheduleView, 0, len(page.Schedules))
	for _, sc := range page.Schedules {
		out = append(out, scheduleOf(sc))
	}
	c.JSON(http.StatusOK, gin.H{"schedules": out, "next_cursor": nullable(page.NextCursor)})
}

// getSchedule answers GET /api/v1/schedules/{name}.
func (s *server) getSchedule(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	sched, err := s.q.GetSchedule(ctx, c.Param("name"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, scheduleOf(sched))
}

// pauseSchedule answers POST /api/v1/schedules/{name}/pause.
func (s *server) pauseSchedule(c *gin.Context) { s.scheduleChange(c, s.q.PauseSchedule) }

// resumeSchedule answers POST /api/v1/schedules/{name}/resume.
func (s *server) resumeSchedule(c *gin.Context) { s.scheduleChange(c, s.q.ResumeSchedule) }

// scheduleChange pauses or resumes a schedule and answers with it as it
// now is.
func (s *server) scheduleChange(c *gin.Context, change func(ctx context.Context, name string) error) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	name := c.Param("name")
	if err := change(ctx, name); err != nil {
		s.writeError(c, err)
		return
	}
	sched, err := s.q.GetSchedule(ctx, name)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, scheduleOf(sched))
}

// deleteSchedule answers DELETE /api/v1/schedules/{name}: 204.
func (s *server) deleteSchedule(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := s.q.DeleteSchedule(ctx, c.Param("name")); err != nil {
		s.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
