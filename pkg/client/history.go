package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// HistoryQuery asks for the last Minutes minutes (1-2880; 60 when both
// are 0) or the last Hours hours (1-720) of the queue's history, of every
// job or of one Queue and Type.
type HistoryQuery struct {
	Minutes, Hours int
	Queue, Type    string
}

// History is the queue's history, oldest step first, every step present.
type History struct {
	// StepSeconds is 60 (minutes) or 3600 (hours).
	StepSeconds int            `json:"step_seconds"`
	Points      []HistoryPoint `json:"points"`
}

// HistoryPoint is what happened in one step of the history (docs/api.md
// says what each count holds).
type HistoryPoint struct {
	At        time.Time `json:"at"`
	Submitted int64     `json:"submitted"`
	Started   int64     `json:"started"`
	Completed int64     `json:"completed"`
	Failed    int64     `json:"failed"`
	Cancelled int64     `json:"cancelled"`
	Retried   int64     `json:"retried"`
	// Pending and Running are the depths sampled in the step.
	Pending int64 `json:"pending"`
	Running int64 `json:"running"`
	// RunMS and WaitMS are percentiles of run and wait times, in ms.
	RunMS  Percentiles `json:"run_ms"`
	WaitMS Percentiles `json:"wait_ms"`
}

// Percentiles are a duration's 50th, 95th and 99th percentiles, each
// within one histogram bucket (19%) of the truth; 0 when none was measured.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// History returns the queue's history (GET /api/v1/jobs/queue/history).
// q may be nil: the last hour of every job.
func (c *Client) History(ctx context.Context, q *HistoryQuery) (*History, error) {
	v := url.Values{}
	if q != nil {
		if q.Minutes != 0 {
			v.Set("minutes", strconv.Itoa(q.Minutes))
		}
		if q.Hours != 0 {
			v.Set("hours", strconv.Itoa(q.Hours))
		}
		if q.Queue != "" {
			v.Set("queue", q.Queue)
		}
		if q.Type != "" {
			v.Set("type", q.Type)
		}
	}
	var out History
	if err := c.do(ctx, "GET", "/api/v1/jobs/queue/history", v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
