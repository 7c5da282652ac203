package client

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// The request/response calls: one HTTP request each, never retried.

// Submit submits one job (POST /api/v1/jobs).
func (c *Client) Submit(ctx context.Context, job Submission) (*Submitted, error) {
	if job.Type == "" {
		return nil, errors.New("submit: the job's Type is required")
	}
	var out Submitted
	if err := c.do(ctx, "POST", "/api/v1/jobs", nil, job, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SubmitBatch submits 1 to 1000 jobs in one request (POST
// /api/v1/jobs/batch). Each job succeeds or fails on its own: the error
// is for the request as a whole, each item's Err for its job.
func (c *Client) SubmitBatch(ctx context.Context, jobs []Submission) (*BatchResult, error) {
	body := struct {
		Jobs []Submission `json:"jobs"`
	}{jobs}
	var out BatchResult
	if err := c.do(ctx, "POST", "/api/v1/jobs/batch", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Status returns a job's status (GET /api/v1/jobs/status/{id}).
func (c *Client) Status(ctx context.Context, id string) (*Status, error) {
	var out Status
	if err := c.do(ctx, "GET", jobPath("/api/v1/jobs/status/", id, ""), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Get returns a job's whole record (GET /api/v1/jobs/{id}).
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	var out Job
	if err := c.do(ctx, "GET", jobPath("/api/v1/jobs/", id, ""), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns one page of jobs (GET /api/v1/jobs), as summaries unless p
// asks for payloads or results; p may be nil.
func (c *Client) List(ctx context.Context, p *ListParams) (*JobList, error) {
	q := url.Values{}
	if p != nil {
		set := func(k, v string) {
			if v != "" {
				q.Set(k, v)
			}
		}
		set("status", string(p.Status))
		set("type", p.Type)
		set("queue", p.Queue)
		setTime(q, "created_after", p.CreatedAfter)
		setTime(q, "created_before", p.CreatedBefore)
		set("cursor", p.Cursor)
		if p.Limit != 0 {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
		switch {
		case p.WithPayload && p.WithResult:
			q.Set("include", "payload,result")
		case p.WithPayload:
			q.Set("include", "payload")
		case p.WithResult:
			q.Set("include", "result")
		}
	}
	var out JobList
	if err := c.do(ctx, "GET", "/api/v1/jobs", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Cancel cancels a pending, scheduled, retrying or running job (POST
// /api/v1/jobs/cancel/{id}); a finished one is ErrInvalidTransition.
func (c *Client) Cancel(ctx context.Context, id string) error {
	return c.do(ctx, "POST", jobPath("/api/v1/jobs/cancel/", id, ""), nil, nil, nil)
}

// Restart puts a failed or cancelled job back to pending under the same
// id (POST /api/v1/jobs/restart/{id}); any other state is
// ErrInvalidTransition.
func (c *Client) Restart(ctx context.Context, id string) error {
	return c.do(ctx, "POST", jobPath("/api/v1/jobs/restart/", id, ""), nil, nil, nil)
}

// Delete deletes a finished job (DELETE /api/v1/jobs/{id}); an unfinished
// one is ErrInvalidTransition.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", jobPath("/api/v1/jobs/", id, ""), nil, nil, nil)
}

// Stats returns the queue's counts and health (GET /api/v1/jobs/queue/stats).
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	var out Stats
	if err := c.do(ctx, "GET", "/api/v1/jobs/queue/stats", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Workers returns the live workers (GET /api/v1/workers).
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var out struct {
		Workers []Worker `json:"workers"`
	}
	if err := c.do(ctx, "GET", "/api/v1/workers", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Workers, nil
}

// setTime sets a time parameter, RFC 3339 with milliseconds, unless t is zero.
func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	}
}
