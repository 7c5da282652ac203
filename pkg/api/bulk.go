package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// Bulk actions: POST /api/v1/jobs/cancel, POST /api/v1/jobs/restart and
// DELETE /api/v1/jobs act on one page of the jobs the list's filters
// select. Everything is in the query string, as for GET /api/v1/jobs, so
// that the same filters list the jobs and then act on them; a body is
// refused, and so is a parameter these routes do not know: a misspelt
// filter must not widen an action to jobs it was meant to spare.

// bulkParamNames are the query parameters of the bulk routes.
var bulkParamNames = []string{"status", "type", "queue", "created_after", "created_before",
	"cursor", "limit", "all", "dry_run"}

// bulkResult is the body of a bulk action's answer.
type bulkResult struct {
	DryRun     bool           `json:"dry_run"`
	Matched    int            `json:"matched"`
	Changed    int            `json:"changed"`
	Skipped    int            `json:"skipped"`
	SkippedBy  map[string]int `json:"skipped_by_status"`
	NextCursor *string        `json:"next_cursor"`
}

// bulkCancel answers POST /api/v1/jobs/cancel; each job it cancels is
// counted as a single cancel is.
func (s *server) bulkCancel(c *gin.Context) {
	s.bulk(c, func(ctx context.Context, p queue.BulkParams) (*queue.BulkResult, error) {
		res, err := s.q.CancelMatching(ctx, p)
		if err == nil {
			for _, j := range res.Moved {
				s.metrics.cancelled.WithLabelValues(s.metrics.jobLabels(j.Type, j.Queue)).Inc()
			}
		}
		return res, err
	})
}

// bulkRestart answers POST /api/v1/jobs/restart.
func (s *server) bulkRestart(c *gin.Context) {
	s.bulk(c, s.q.RestartMatching)
}

// bulkDelete answers DELETE /api/v1/jobs.
func (s *server) bulkDelete(c *gin.Context) {
	s.bulk(c, s.q.DeleteMatching)
}

// bulk parses a bulk action's request, runs its page and answers what it
// did, with the cursor of the next page.
func (s *server) bulk(c *gin.Context, act func(context.Context, queue.BulkParams) (*queue.BulkResult, error)) {
	p, err := parseBulkParams(c.Request.URL.Query(), c.Request.Body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	res, err := act(ctx, p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := bulkResult{DryRun: p.DryRun, Matched: res.Matched, Changed: res.Changed,
		SkippedBy: res.Skipped, NextCursor: nullable(res.NextCursor)}
	for _, n := range res.Skipped {
		out.Skipped += n
	}
	c.JSON(http.StatusOK, out)
}

// parseBulkParams reads a bulk action's query: the list's filters and
// cursor, limit (1 to queue.MaxBulkLimit), all and dry_run (true or
// false, 1 or 0). The engine checks the filters' values and that a
// request without any says all.
func parseBulkParams(q url.Values, body io.Reader) (queue.BulkParams, error) {
	var p queue.BulkParams
	if n, _ := body.Read(make([]byte, 1)); n > 0 {
		return p, invalidArgf("this route takes no body: its filters go in the query string, as for GET /api/v1/jobs")
	}
	for name := range q {
		if !slices.Contains(bulkParamNames, name) {
			return p, invalidArgf("unknown parameter %q: want %s", name, strings.Join(bulkParamNames, ", "))
		}
	}
	p.Status, p.Type, p.Queue, p.Cursor = queue.State(q.Get("status")), q.Get("type"), q.Get("queue"), q.Get("cursor")
	var err error
	if p.CreatedAfter, err = timeParam(q, "created_after"); err != nil {
		return p, err
	}
	if p.CreatedBefore, err = timeParam(q, "created_before"); err != nil {
		return p, err
	}
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > queue.MaxBulkLimit {
			return p, invalidArgf("limit %q: want 1 to %d", vs[0], queue.MaxBulkLimit)
		}
		p.Limit = n
	}
	if p.All, err = boolParam(q, "all"); err != nil {
		return p, err
	}
	if p.DryRun, err = boolParam(q, "dry_run"); err != nil {
		return p, err
	}
	return p, nil
}

// boolParam reads an optional boolean parameter: true or 1, false or 0.
func boolParam(q url.Values, name string) (bool, error) {
	vs, ok := q[name]
	if !ok {
		return false, nil
	}
	switch vs[0] {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, invalidArgf("%s %q: want true or false", name, vs[0])
}
