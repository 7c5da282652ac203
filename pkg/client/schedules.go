package client

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// ScheduleRequest is a schedule to create (POST /api/v1/schedules): Cron
// (in Timezone, UTC by default) or EverySeconds, and the job each tick
// submits (its RunAt, Delay and UniqueKey must be empty).
type ScheduleRequest struct {
	Name         string     `json:"name"`
	Cron         string     `json:"cron,omitempty"`
	Timezone     string     `json:"timezone,omitempty"`
	EverySeconds int64      `json:"every_seconds,omitempty"`
	Job          Submission `json:"job"`
}

// Schedule is a schedule as the API shows it.
type Schedule struct {
	Name         string      `json:"name"`
	Cron         string      `json:"cron,omitempty"`
	Timezone     string      `json:"timezone,omitempty"`
	EverySeconds int64       `json:"every_seconds,omitempty"`
	Job          ScheduleJob `json:"job"`
	Paused       bool        `json:"paused"`
	// NextRunAt is the tick due next; zero while paused.
	NextRunAt time.Time `json:"next_run_at,omitzero"`
	LastRunAt time.Time `json:"last_run_at,omitzero"`
	LastJobID string    `json:"last_job_id,omitempty"`
	LastError string    `json:"last_error,omitempty"`
	// Fired counts the ticks that made a job; CaughtUp those fired late,
	// each standing for the ticks missed while no process ran.
	Fired     int64     `json:"fired"`
	CaughtUp  int64     `json:"caught_up"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// ScheduleJob is the job each tick of a schedule submits.
type ScheduleJob struct {
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload,omitempty"`
	Queue          string          `json:"queue"`
	Priority       int             `json:"priority"`
	MaxRetries     int             `json:"max_retries"`
	TimeoutSeconds float64         `json:"timeout_seconds"`
}

// ScheduleList is one page of schedules, by name.
type ScheduleList struct {
	Schedules  []Schedule `json:"schedules"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// CreateSchedule creates a schedule (POST /api/v1/schedules; admin).
func (c *Client) CreateSchedule(ctx context.Context, req ScheduleRequest) (*Schedule, error) {
	var out Schedule
	if err := c.do(ctx, "POST", "/api/v1/schedules", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListSchedules returns a page of schedules (GET /api/v1/schedules);
// limit 0 is the server's default, cursor "" the first page.
func (c *Client) ListSchedules(ctx context.Context, cursor string, limit int) (*ScheduleList, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out ScheduleList
	if err := c.do(ctx, "GET", "/api/v1/schedules", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetSchedule reads a schedule (GET /api/v1/schedules/{name}).
func (c *Client) GetSchedule(ctx context.Context, name string) (*Schedule, error) {
	return c.scheduleCall(ctx, "GET", name, "")
}

// PauseSchedule pauses a schedule and returns it as it now is.
func (c *Client) PauseSchedule(ctx context.Context, name string) (*Schedule, error) {
	return c.scheduleCall(ctx, "POST", name, "/pause")
}

// ResumeSchedule resumes a paused schedule and returns it as it now is.
func (c *Client) ResumeSchedule(ctx context.Context, name string) (*Schedule, error) {
	return c.scheduleCall(ctx, "POST", name, "/resume")
}

// DeleteSchedule deletes a schedule; the jobs it made stay.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", jobPath("/api/v1/schedules/", name, ""), nil, nil, nil)
}

func (c *Client) scheduleCall(ctx context.Context, method, name, suffix string) (*Schedule, error) {
	var out Schedule
	if err := c.do(ctx, method, jobPath("/api/v1/schedules/", name, suffix), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
