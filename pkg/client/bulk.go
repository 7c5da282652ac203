package client

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// BulkParams selects one page of the jobs of a bulk action: the list's
// filters, the page and the action's own switches.
type BulkParams struct {
	Status                      State
	Type                        string
	Queue                       string
	CreatedAfter, CreatedBefore time.Time
	// Cursor is a previous page's NextCursor (of the same action or of
	// its dry run); it carries that page's filters.
	Cursor string
	// Limit is 1 to 1000; 0 means the server's default (100).
	Limit int
	// All must be set to act on every job when no filter is given: the
	// server refuses a bulk action without a filter otherwise.
	All bool
	// DryRun changes nothing: Matched counts the page's jobs.
	DryRun bool
}

// BulkResult is what one page of a bulk action did.
type BulkResult struct {
	DryRun  bool `json:"dry_run"`
	Matched int  `json:"matched"`
	Changed int  `json:"changed"`
	Skipped int  `json:"skipped"`
	// SkippedByStatus says why jobs were skipped: the state a job had
	// moved on to, or "deleted".
	SkippedByStatus map[string]int `json:"skipped_by_status"`
	// NextCursor continues with the next page; "" on the last.
	NextCursor string `json:"next_cursor,omitempty"`
}

// CancelMatching cancels one page of the unfinished jobs p selects (POST
// /api/v1/jobs/cancel). Follow NextCursor for the rest.
func (c *Client) CancelMatching(ctx context.Context, p *BulkParams) (*BulkResult, error) {
	return c.bulk(ctx, "POST", "/api/v1/jobs/cancel", p)
}

// RestartMatching restarts one page of the failed and cancelled jobs p
// selects (POST /api/v1/jobs/restart).
func (c *Client) RestartMatching(ctx context.Context, p *BulkParams) (*BulkResult, error) {
	return c.bulk(ctx, "POST", "/api/v1/jobs/restart", p)
}

// DeleteMatching deletes one page of the finished jobs p selects (DELETE
// /api/v1/jobs).
func (c *Client) DeleteMatching(ctx context.Context, p *BulkParams) (*BulkResult, error) {
	return c.bulk(ctx, "DELETE", "/api/v1/jobs", p)
}

func (c *Client) bulk(ctx context.Context, method, path string, p *BulkParams) (*BulkResult, error) {
	q := url.Values{}
	if p != nil {
		for k, v := range map[string]string{"status": string(p.Status), "type": p.Type, "queue": p.Queue, "cursor": p.Cursor} {
			if v != "" {
				q.Set(k, v)
			}
		}
		setTime(q, "created_after", p.CreatedAfter)
		setTime(q, "created_before", p.CreatedBefore)
		if p.Limit != 0 {
			q.Set("limit", strconv.Itoa(p.Limit))
		}
		if p.All {
			q.Set("all", "true")
		}
		if p.DryRun {
			q.Set("dry_run", "true")
		}
	}
	var out BulkResult
	if err := c.do(ctx, method, path, q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
