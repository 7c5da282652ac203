package client

import (
	"context"
	"time"
)

// Queue is one queue of GET /api/v1/queues: its waiting jobs, whether it
// is paused, and its running jobs.
type Queue struct {
	QueueStats
	Running int64 `json:"running"`
}

// ListQueues lists every queue that holds jobs or is paused, by name
// (GET /api/v1/queues).
func (c *Client) ListQueues(ctx context.Context) ([]Queue, error) {
	var out struct {
		Queues []Queue `json:"queues"`
	}
	if err := c.do(ctx, "GET", "/api/v1/queues", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Queues, nil
}

// PauseQueue pauses a queue: no worker takes its jobs until ResumeQueue;
// running jobs finish and submissions are still accepted (admin). It
// returns the queue as it now is.
func (c *Client) PauseQueue(ctx context.Context, name string) (*Queue, error) {
	return c.queueCall(ctx, name, "/pause")
}

// ResumeQueue lets workers take a paused queue's jobs again (admin).
func (c *Client) ResumeQueue(ctx context.Context, name string) (*Queue, error) {
	return c.queueCall(ctx, name, "/resume")
}

func (c *Client) queueCall(ctx context.Context, name, suffix string) (*Queue, error) {
	var out Queue
	if err := c.do(ctx, "POST", jobPath("/api/v1/queues/", name, suffix), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RateLimit is a job type's rate limit (at most Rate starts in any
// PerSeconds, fleet-wide) and how it stands: the starts in the last
// period, the type's pending jobs, and Waiting while they wait on it.
type RateLimit struct {
	Type       string  `json:"type"`
	Rate       int     `json:"rate"`
	PerSeconds float64 `json:"per_seconds"`
	Started    int64   `json:"started"`
	Pending    int64   `json:"pending"`
	Waiting    bool    `json:"waiting"`
}

// ListRateLimits lists the rate limits, by type (GET /api/v1/rate_limits).
func (c *Client) ListRateLimits(ctx context.Context) ([]RateLimit, error) {
	var out struct {
		RateLimits []RateLimit `json:"rate_limits"`
	}
	if err := c.do(ctx, "GET", "/api/v1/rate_limits", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.RateLimits, nil
}

// SetRateLimit sets (or replaces) jobType's rate limit: at most rate
// starts in any per, fleet-wide (admin). per is sent in whole
// milliseconds.
func (c *Client) SetRateLimit(ctx context.Context, jobType string, rate int, per time.Duration) (*RateLimit, error) {
	body := map[string]any{"type": jobType, "rate": rate, "per_seconds": float64(per.Milliseconds()) / 1000}
	var out RateLimit
	if err := c.do(ctx, "POST", "/api/v1/rate_limits", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ClearRateLimit removes jobType's rate limit (admin); a type with none
// gets an *Error of status 404.
func (c *Client) ClearRateLimit(ctx context.Context, jobType string) error {
	return c.do(ctx, "DELETE", jobPath("/api/v1/rate_limits/", jobType, ""), nil, nil, nil)
}
