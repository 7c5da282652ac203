package api

import (
	"math"
	"net/http"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// rateView is a type's rate limit as the API shows it, with how it
// stands: the starts in the last period (fleet-wide), the type's pending
// jobs, and waiting when the period's starts are used up while jobs wait.
type rateView struct {
	Type       string  `json:"type"`
	Rate       int     `json:"rate"`
	PerSeconds float64 `json:"per_seconds"`
	Started    int64   `json:"started"`
	Pending    int64   `json:"pending"`
	Waiting    bool    `json:"waiting"`
}

func rateViewsOf(rs []queue.RateState) []rateView {
	out := make([]rateView, 0, len(rs))
	for _, r := range rs {
		out = append(out, rateView{Type: r.Type, Rate: r.Rate, PerSeconds: r.Per.Seconds(),
			Started: r.Started, Pending: r.Pending, Waiting: r.Waiting})
	}
	return out
}

// rateRequest is POST /api/v1/rate_limits.
type rateRequest struct {
	Type       *string  `json:"type"`
	Rate       *int     `json:"rate"`
	PerSeconds *float64 `json:"per_seconds"`
}

// listRateLimits answers GET /api/v1/rate_limits.
func (s *server) listRateLimits(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	rs, err := s.q.TypeRates(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"rate_limits": rateViewsOf(rs)})
}

// setRateLimit answers POST /api/v1/rate_limits: the limit set (or
// replaced), as it now stands.
func (s *server) setRateLimit(c *gin.Context) {
	var req rateRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		s.writeError(c, err)
		return
	}
	switch {
	case req.Type == nil || req.Rate == nil || req.PerSeconds == nil:
		s.writeError(c, invalidArgf("type, rate and per_seconds are required"))
		return
	case *req.PerSeconds <= 0 || *req.PerSeconds > queue.MaxRatePeriod.Seconds() ||
		math.Round(*req.PerSeconds*1000) != *req.PerSeconds*1000:
		s.writeError(c, invalidArgf("per_seconds %g: want more than 0, at most %g, in whole milliseconds",
			*req.PerSeconds, queue.MaxRatePeriod.Seconds()))
		return
	}
	r := queue.TypeRate{Type: *req.Type, Rate: *req.Rate, Per: time.Duration(math.Round(*req.PerSeconds*1000)) * time.Millisecond}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := s.q.SetTypeRate(ctx, r); err != nil {
		s.writeError(c, err)
		return
	}
	rs, err := s.q.TypeRates(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	for _, v := range rateViewsOf(rs) {
		if v.Type == r.Type {
			c.JSON(http.StatusOK, v)
			return
		}
	}
	c.JSON(http.StatusOK, rateView{Type: r.Type, Rate: r.Rate, PerSeconds: r.Per.Seconds()})
}

// clearRateLimit answers DELETE /api/v1/rate_limits/{type}: 204, or 404
// when the type has none.
func (s *server) clearRateLimit(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	had, err := s.q.ClearTypeRate(ctx, c.Param("type"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	if !had {
		s.writeError(c, &requestError{http.StatusNotFound, CodeNotFound, "type " + c.Param("type") + " has no rate limit"})
		return
	}
	c.Status(http.StatusNoContent)
}
