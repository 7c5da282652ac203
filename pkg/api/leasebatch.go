package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// POST /api/v1/leases/complete: a worker holding many leases completes
// several of its jobs in one request instead of one request each. Every
// item is checked before any is applied; each is then answered on its own
// (completed, not_found or lease_lost), exactly as its single
// POST /api/v1/leases/{job_id}/complete would be.

type completeBatchRequest struct {
	Completions []completeItem `json:"completions"`
}

type completeItem struct {
	JobID      *string         `json:"job_id"`
	LeaseToken *string         `json:"lease_token"`
	Result     json.RawMessage `json:"result"`
}

// completeOutcome is one item's answer: Status "completed", or Error.
type completeOutcome struct {
	JobID  string      `json:"job_id"`
	Status queue.State `json:"status,omitempty"`
	Error  *errorBody  `json:"error,omitempty"`
}

// parseCompletions decodes and checks a batch of completions: a malformed
// item refuses the whole batch, naming the item.
func parseCompletions(c *gin.Context) ([]queue.LeaseCompletion, error) {
	var req completeBatchRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		return nil, err
	}
	if len(req.Completions) == 0 || len(req.Completions) > queue.MaxLeaseCompletions {
		return nil, invalidArgf("completions: want 1-%d items", queue.MaxLeaseCompletions)
	}
	out := make([]queue.LeaseCompletion, len(req.Completions))
	for i, it := range req.Completions {
		if it.JobID == nil {
			return nil, invalidArgf("completions[%d].job_id is required", i)
		}
		if err := parseJobID(*it.JobID); err != nil {
			return nil, invalidArgf("completions[%d].%v", i, err)
		}
		if it.LeaseToken == nil || *it.LeaseToken == "" {
			return nil, invalidArgf("completions[%d].lease_token is required", i)
		}
		if _, ok := queue.LeaseOfToken(*it.LeaseToken); !ok {
			return nil, invalidArgf("completions[%d].lease_token %q is not one this service issued", i, truncate(*it.LeaseToken, 64))
		}
		out[i] = queue.LeaseCompletion{ID: *it.JobID, Token: *it.LeaseToken, Result: compactResult(it.Result)}
	}
	return out, nil
}

// compactResult is a decoded result as stored: compact JSON, "" for none
// (absent or null).
func compactResult(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, raw) // valid: it was decoded
	return buf.String()
}

// completeBatch answers POST /api/v1/leases/complete: {"results": [...]},
// one per item, in order. An item the store could not be asked about
// makes the whole answer that error (a 503: retry the batch; the items
// already completed answer completed again).
func (s *server) completeBatch(c *gin.Context) {
	runs, err := parseCompletions(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	errs, err := s.leaser.CompleteLeases(ctx, runs)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := make([]completeOutcome, len(runs))
	for i, err := range errs {
		out[i].JobID = runs[i].ID
		if err == nil {
			out[i].Status = queue.StateCompleted
			continue
		}
		status, body := classify(err)
		if status >= 500 || !(errors.Is(err, queue.ErrJobNotFound) || errors.Is(err, queue.ErrLeaseLost)) {
			s.writeError(c, err)
			return
		}
		if status == http.StatusNotFound {
			body.Message = "no job has id " + runs[i].ID
		}
		out[i].Error = &body
	}
	c.JSON(http.StatusOK, gin.H{"results": out})
}
