package api

import (
	"context"
	"net/http"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// queueView is one queue of GET /api/v1/queues: its waiting jobs as the
// stats show them, whether it is paused, and its running jobs.
type queueView struct {
	queueStatsView
	Running int64 `json:"running"`
	// RateLimited are the types of the queue's pending jobs that wait on
	// their rate limit now.
	RateLimited []string `json:"rate_limited"`
}

func queueViewOf(q queue.QueueInfo) queueView {
	v := queueView{queueStatsView: queueStatsOf([]queue.QueueStats{q.QueueStats})[0], Running: q.Running,
		RateLimited: q.RateLimited}
	if v.RateLimited == nil {
		v.RateLimited = []string{}
	}
	return v
}

// listQueues answers GET /api/v1/queues: every queue, by name.
func (s *server) listQueues(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	qs, err := s.q.Queues(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := make([]queueView, 0, len(qs))
	for _, q := range qs {
		out = append(out, queueViewOf(q))
	}
	c.JSON(http.StatusOK, gin.H{"queues": out})
}

// pauseQueue answers POST /api/v1/queues/{queue}/pause.
func (s *server) pauseQueue(c *gin.Context) { s.queueChange(c, s.q.PauseQueue) }

// resumeQueue answers POST /api/v1/queues/{queue}/resume.
func (s *server) resumeQueue(c *gin.Context) { s.queueChange(c, s.q.ResumeQueue) }

// queueChange pauses or resumes a queue and answers with it as it now is.
func (s *server) queueChange(c *gin.Context, change func(ctx context.Context, name string) error) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	name := c.Param("queue")
	if err := change(ctx, name); err != nil {
		s.writeError(c, err)
		return
	}
	qs, err := s.q.Queues(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	view := queueView{queueStatsView: queueStatsView{Name: name}}
	for _, q := range qs {
		if q.Name == name {
			view = queueViewOf(q)
		}
	}
	c.JSON(http.StatusOK, view)
}
