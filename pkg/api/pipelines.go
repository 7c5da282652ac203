package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// Pipelines: DAGs of jobs submitted at once (queue/pipeline.go has the
// model). Submit, read, cancel, restart, and a stream of every event of
// every job of one pipeline plus the pipeline's own status changes.

// pipelineItem is one job of a pipeline submission: a job submission's
// fields, its key and the keys it depends on.
type pipelineItem struct {
	submitRequest
	Key       string   `json:"key"`
	DependsOn []string `json:"depends_on"`
}

// pipelineRequest is a pipeline submission; each job is decoded on its
// own, so an error names its job.
type pipelineRequest struct {
	Jobs        []json.RawMessage `json:"jobs"`
	UniqueKey   string            `json:"unique_key"`
	CallbackURL string            `json:"callback_url"`
}

// itemError names job i (key) of a pipeline submission in a 400.
func itemError(i int, key string, err error) error {
	status, body := classify(err)
	if status != http.StatusBadRequest {
		return err
	}
	return &requestError{http.StatusBadRequest, body.Code, fmt.Sprintf("jobs[%d] (key %q): %s", i, key, body.Message)}
}

// parsePipeline decodes and validates a pipeline submission's jobs, each
// as a job submission is; the graph itself is the engine's to check.
func parsePipeline(body io.Reader, now time.Time, lim submitLimits) (queue.PipelineParams, error) {
	var req pipelineRequest
	if err := decodeStrict(body, &req); err != nil {
		return queue.PipelineParams{}, err
	}
	if len(req.Jobs) == 0 || len(req.Jobs) > queue.MaxPipelineJobs {
		return queue.PipelineParams{}, invalidArgf("jobs: want 1 to %d jobs, got %d", queue.MaxPipelineJobs, len(req.Jobs))
	}
	if err := checkUniqueKey(req.UniqueKey); err != nil {
		return queue.PipelineParams{}, err
	}
	if err := queue.ValidateCallbackURL(req.CallbackURL); err != nil {
		return queue.PipelineParams{}, err
	}
	p := queue.PipelineParams{UniqueKey: req.UniqueKey, CallbackURL: req.CallbackURL,
		Jobs: make([]queue.PipelineJob, len(req.Jobs))}
	for i, raw := range req.Jobs {
		var it pipelineItem
		if err := decodeStrict(bytes.NewReader(raw), &it); err != nil {
			return p, itemError(i, it.Key, err)
		}
		if it.UniqueKey != "" || it.RunAt != nil || it.DelaySeconds != nil {
			return p, itemError(i, it.Key, invalidArgf("unique_key, run_at and delay_seconds are not for the jobs of a pipeline: a job runs when its parents complete; give the pipeline its unique_key"))
		}
		params, err := it.params(now, lim)
		if err != nil {
			return p, itemError(i, it.Key, err)
		}
		p.Jobs[i] = queue.PipelineJob{EnqueueParams: params, Key: it.Key, DependsOn: it.DependsOn}
	}
	return p, nil
}

// pipelineCreated is the body of 201 to a pipeline submission.
type pipelineCreated struct {
	PipelineID string               `json:"pipeline_id"`
	Status     queue.PipelineStatus `json:"status"`
	CreatedAt  timestamp            `json:"created_at"`
	Jobs       map[string]string    `json:"jobs"`
}

// submitPipeline answers POST /api/v1/pipelines: 201 with Location, or an
// error naming the job at fault; nothing is created on an error. The
// pipeline's callback URL and its jobs' pass the same checks as a job's.
func (s *server) submitPipeline(c *gin.Context) {
	p, err := parsePipeline(c.Request.Body, time.Now(), s.limits())
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if p.CallbackURL != "" {
		if err := s.checkCallback(ctx, p.CallbackURL); err != nil {
			s.writeError(c, err)
			return
		}
	}
	params := make([]queue.EnqueueParams, len(p.Jobs))
	errs := make([]error, len(p.Jobs))
	for i := range p.Jobs {
		params[i] = p.Jobs[i].EnqueueParams
	}
	s.checkCallbacks(ctx, params, errs)
	if err := s.admitWith(ctx, params, errs, s.pipelinePayloadCheck(p)); err != nil {
		s.writeError(c, err)
		return
	}
	for i, err := range errs {
		if err != nil {
			s.writeError(c, itemError(i, p.Jobs[i].Key, err))
			return
		}
	}
	if err := s.withinQuota(ctx, c, params); err != nil {
		s.writeError(c, err)
		return
	}
	p.Owner = params[0].Owner
	created, err := s.q.SubmitPipeline(ctx, p)
	var ie *queue.PipelineItemError
	if errors.As(err, &ie) {
		err = &requestError{http.StatusBadRequest, CodeInvalidArgument, ie.Error()}
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	for _, j := range params {
		s.countSubmitted(j)
	}
	c.Header("Location", "/api/v1/pipelines/"+created.ID)
	c.JSON(http.StatusCreated, pipelineCreated{PipelineID: created.ID, Status: created.Status,
		CreatedAt: timestamp(created.CreatedAt), Jobs: created.Jobs})
}

// pipelinePayloadCheck checks the payload of p's job i: one with parents
// as JobTypes checks the payload of a job with inputs, when it can
// (InputJobTypes), the others as any job's.
func (s *server) pipelinePayloadCheck(p queue.PipelineParams) func(i int) error {
	return func(i int) error {
		j := &p.Jobs[i]
		if inputs, ok := s.cfg.JobTypes.(InputJobTypes); ok && len(j.DependsOn) > 0 {
			return inputs.ValidateInputPayload(j.Type, j.Payload)
		}
		return s.cfg.JobTypes.ValidatePayload(j.Type, j.Payload)
	}
}

// pipelineJobView is one job of a pipeline in GET /api/v1/pipelines/{id}.
type pipelineJobView struct {
	Key       string      `json:"key"`
	JobID     string      `json:"job_id"`
	Type      string      `json:"type"`
	Status    queue.State `json:"status"`
	Progress  float64     `json:"progress"`
	DependsOn []string    `json:"depends_on"`
}

// pipelineView is a pipeline (GET /api/v1/pipelines/{id}).
type pipelineView struct {
	PipelineID  string               `json:"pipeline_id"`
	Status      queue.PipelineStatus `json:"status"`
	Progress    float64              `json:"progress"`
	CreatedAt   timestamp            `json:"created_at"`
	CompletedAt timestamp            `json:"completed_at"`
	UniqueKey   *string              `json:"unique_key"`
	Jobs        []pipelineJobView    `json:"jobs"`
	// Callback is the pipeline's callback, as a job's (callbackView).
	Callback *callbackView `json:"callback,omitempty"`
}

func pipelineOf(p *queue.Pipeline) pipelineView {
	v := pipelineView{PipelineID: p.ID, Status: p.Status, Progress: progressOf(p.Progress()),
		CreatedAt: timestamp(p.CreatedAt), CompletedAt: timestamp(p.CompletedAt),
		UniqueKey: nullable(p.UniqueKey), Jobs: make([]pipelineJobView, len(p.Jobs)),
		Callback: callbackOf(&queue.Job{CallbackURL: p.CallbackURL, Delivery: p.Delivery})}
	for i, m := range p.Jobs {
		jv := pipelineJobView{Key: m.Key, JobID: m.ID, Type: m.Type, DependsOn: m.DependsOn}
		if jv.DependsOn == nil {
			jv.DependsOn = []string{}
		}
		if m.Job != nil {
			jv.Status, jv.Progress = m.Job.Status, progressOf(m.Job.Progress)
		}
		v.Jobs[i] = jv
	}
	return v
}

// getPipeline answers GET /api/v1/pipelines/{pipeline_id}.
func (s *server) getPipeline(c *gin.Context) {
	p, ok := s.readPipeline(c)
	if ok {
		c.JSON(http.StatusOK, pipelineOf(p))
	}
}

// readPipeline validates the path's pipeline id and reads the pipeline,
// or writes the error.
func (s *server) readPipeline(c *gin.Context) (*queue.Pipeline, bool) {
	id := c.Param("pipeline_id")
	if err := parsePipelineID(id); err != nil {
		s.writeError(c, err)
		return nil, false
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	p, err := s.q.GetPipeline(ctx, id)
	if err != nil {
		s.writeError(c, err)
		return nil, false
	}
	return p, true
}

// parsePipelineID accepts what the engine issues: a lowercase UUID.
func parsePipelineID(id string) error {
	if err := parseJobID(id); err != nil {
		return invalidArgf("pipeline id %q: want a lowercase UUID like 123e4567-e89b-12d3-a456-426614174000", id)
	}
	return nil
}

// cancelPipeline answers POST /api/v1/pipelines/{pipeline_id}/cancel.
func (s *server) cancelPipeline(c *gin.Context) {
	s.pipelineAction(c, s.q.CancelPipeline, "cancelled")
}

// restartPipeline answers POST /api/v1/pipelines/{pipeline_id}/restart.
func (s *server) restartPipeline(c *gin.Context) {
	s.pipelineAction(c, s.q.RestartPipeline, "restarted")
}

// pipelineAction runs a user's change of a whole pipeline; a status that
// does not allow it is a 409.
func (s *server) pipelineAction(c *gin.Context, act func(ctx context.Context, id string) error, done string) {
	id := c.Param("pipeline_id")
	if err := parsePipelineID(id); err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := act(ctx, id); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"message": "Pipeline " + id + " " + done + " successfully"})
}
