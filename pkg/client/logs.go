package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"strconv"
	"time"
)

// LogLine is one line of a job's log.
type LogLine struct {
	// ID is the line's event id: the job's version when it was written.
	ID int64 `json:"id"`
	// Level is debug, info, warn or error.
	Level     string    `json:"level"`
	Message   string    `json:"message"`
	Timestamp time.Time `json:"timestamp"`
}

// JobLogs is a job's kept log (GET /api/v1/jobs/{id}/logs).
type JobLogs struct {
	JobID  string    `json:"job_id"`
	Status State     `json:"status"`
	Lines  []LogLine `json:"lines"`
	// Dropped counts the lines let go: the oldest beyond the server's
	// bound, and any a worker could not send.
	Dropped int64 `json:"dropped"`
}

// Logs returns the kept lines of a job's log after the line with ID
// after (0: all).
func (c *Client) Logs(ctx context.Context, id string, after int64) (*JobLogs, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	var out JobLogs
	if err := c.do(ctx, "GET", jobPath("/api/v1/jobs/", id, "/logs"), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FollowLogs follows a job's log (GET /api/v1/jobs/{id}/logs?follow=1):
// the kept lines after opts.LastEventID, then each new line as it is
// written, until the job ends. It reconnects as Stream does, resuming
// after the last line seen: no line twice.
func (c *Client) FollowLogs(ctx context.Context, id string, opts *StreamOptions) iter.Seq2[LogLine, error] {
	var from int64
	if opts != nil {
		from = opts.LastEventID
	}
	return func(yield func(LogLine, error) bool) {
		s := &stream[LogLine]{c: c, id: id, path: jobPath("/api/v1/jobs/", id, "/logs"),
			query: url.Values{"follow": {"1"}},
			last:  from, yield: yield,
			decode: func(name, raw string) (l LogLine, end bool, err error) {
				if name == "end" {
					return l, true, nil
				}
				err = json.Unmarshal([]byte(raw), &l)
				return l, false, err
			},
			setID:    func(l *LogLine, id int64) { l.ID = id },
			terminal: func(LogLine) bool { return false }}
		s.run(ctx)
	}
}
