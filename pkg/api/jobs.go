package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// The request/response endpoints on jobs. Each handler validates its
// input, makes bounded Redis calls through Queue, and answers with a view
// (views.go) or writeError.

// status answers GET /api/v1/jobs/status/{job_id}: the ten fields of a
// job's status.
func (s *server) status(c *gin.Context) {
	job, ok := s.getJob(c)
	if ok {
		c.JSON(http.StatusOK, statusOf(job))
	}
}

// get answers GET /api/v1/jobs/{job_id}: the whole record.
func (s *server) get(c *gin.Context) {
	job, ok := s.getJob(c)
	if ok {
		c.JSON(http.StatusOK, jobOf(job))
	}
}

// getJob validates the path's job id and reads the job, or writes the error.
func (s *server) getJob(c *gin.Context) (*queue.Job, bool) {
	id := c.Param("job_id")
	if err := parseJobID(id); err != nil {
		s.writeError(c, err)
		return nil, false
	}
	job, err := s.readJob(c, id)
	if err != nil {
		s.writeError(c, err)
		return nil, false
	}
	return job, true
}

// readJob reads one job within the request timeout.
func (s *server) readJob(c *gin.Context, id string) (*queue.Job, error) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	return s.q.Get(ctx, id)
}

// cancel answers POST /api/v1/jobs/cancel/{job_id}.
func (s *server) cancel(c *gin.Context) {
	s.transition(c, s.cancelCounted, "cancelled")
}

// restart answers POST /api/v1/jobs/restart/{job_id}.
func (s *server) restart(c *gin.Context) {
	s.transition(c, s.q.Restart, "restarted")
}

// transition runs a user's state change and answers with the Jobs API's
// message; a state that does not allow it is a 409.
func (s *server) transition(c *gin.Context, move func(context.Context, string) error, done string) {
	id := c.Param("job_id")
	if err := parseJobID(id); err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := move(ctx, id); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"message": "Job " + id + " " + done + " successfully"})
}

// delete answers DELETE /api/v1/jobs/{job_id}: 204 for a finished job.
func (s *server) delete(c *gin.Context) {
	id := c.Param("job_id")
	if err := parseJobID(id); err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := s.q.Delete(ctx, id); err != nil {
		s.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// list answers GET /api/v1/jobs?status=&type=&queue=&limit=&cursor=&include=:
// job summaries, within Config.ListBytes a page.
func (s *server) list(c *gin.Context) {
	p, err := parseListParams(c.Request.URL.Query())
	if err != nil {
		s.writeError(c, err)
		return
	}
	p.MaxBytes = s.cfg.ListBytes
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	page, err := s.q.List(ctx, p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	jobs := make([]listItemView, 0, len(page.Jobs))
	for _, j := range page.Jobs {
		jobs = append(jobs, listItemOf(j, p))
	}
	c.JSON(http.StatusOK, gin.H{"jobs": jobs, "next_cursor": nullable(page.NextCursor)})
}

// workers answers GET /api/v1/workers: the live workers.
func (s *server) workers(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	ws, err := s.q.Workers(ctx)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := make([]workerView, 0, len(ws))
	for _, w := range ws {
		out = append(out, workerOf(w))
	}
	c.JSON(http.StatusOK, gin.H{"workers": out})
}

// submitted is a created job (the body of 201, an item of a batch).
type submitted struct {
	JobID     string      `json:"job_id"`
	Status    queue.State `json:"status"`
	CreatedAt timestamp   `json:"created_at"`
}

// submit answers POST /api/v1/jobs: 201 with Location, or an error.
func (s *server) submit(c *gin.Context) {
	p, err := parseSubmit(c.Request.Body, time.Now(), s.limits())
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	params, errs := []queue.EnqueueParams{p}, []error{nil}
	s.checkCallbacks(ctx, params, errs)
	if err := s.admit(ctx, params, errs); err != nil {
		s.writeError(c, err)
		return
	}
	if errs[0] != nil {
		s.writeError(c, errs[0])
		return
	}
	if err := s.withinQuota(ctx, c, params); err != nil {
		s.writeError(c, err)
		return
	}
	// Enqueue, not a batch of one: concurrent requests on this instance
	// share one round trip and one submit script call.
	e, err := s.q.Enqueue(ctx, params[0])
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.countSubmitted(params[0])
	c.Header("Location", "/api/v1/jobs/"+e.ID)
	c.JSON(http.StatusCreated, submitted{JobID: e.ID, Status: e.Status, CreatedAt: timestamp(e.CreatedAt)})
}

// batchItem is one job's outcome in a batch: the job, or its error.
type batchItem struct {
	*submitted
	Error *errorBody `json:"error,omitempty"`
}

// submitBatch answers POST /api/v1/jobs/batch with one item per job, in
// order: 201 when every job was created, else 200 (the items tell which
// failed). The valid jobs are submitted in one round trip.
func (s *server) submitBatch(c *gin.Context) {
	params, errs, err := parseBatch(c.Request.Body, time.Now(), s.limits())
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	s.checkCallbacks(ctx, params, errs)
	if err := s.admit(ctx, params, errs); err != nil {
		s.writeError(c, err)
		return
	}
	var send []queue.EnqueueParams
	var at []int // index in params of each job sent
	for i, p := range params {
		if errs[i] == nil {
			send = append(send, p)
			at = append(at, i)
		}
	}
	items := make([]batchItem, len(params))
	if len(send) > 0 {
		if err := s.withinQuota(ctx, c, send); err != nil {
			s.writeError(c, err) // the whole batch: nothing was submitted
			return
		}
		res, err := s.q.EnqueueBatch(ctx, send)
		if err != nil {
			s.writeError(c, err) // Redis unreachable: nothing was submitted
			return
		}
		for k, r := range res {
			if r.Err != nil {
				errs[at[k]] = r.Err
				continue
			}
			s.countSubmitted(send[k])
			items[at[k]].submitted = &submitted{JobID: r.Job.ID, Status: r.Job.Status, CreatedAt: timestamp(r.Job.CreatedAt)}
		}
	}
	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		status, body := classify(err)
		s.logFailure(c, status, err)
		items[i].Error = &body
	}
	code := http.StatusCreated
	if failed > 0 {
		code = http.StatusOK
	}
	c.JSON(code, gin.H{"jobs": items, "created": len(items) - failed, "failed": failed})
}

// admit refuses, in errs, the jobs no one would run: a type that is
// neither configured (Config.JobTypes) nor advertised by a live worker,
// or a payload its handler would refuse. Jobs already refused are
// skipped; the workers' types are read (and cached: types.go) only when
// some type is not configured. The error is Redis's, when it cannot be
// read.
func (s *server) admit(ctx context.Context, params []queue.EnqueueParams, errs []error) error {
	types := s.cfg.JobTypes
	for i, p := range params {
		if errs[i] != nil || types.Known(p.Type) {
			continue
		}
		advertised, err := s.types.has(ctx, p.Type) // cached: types.go
		if err != nil {
			return err
		}
		if !advertised {
			errs[i] = unknownType(p.Type)
		}
	}
	for i, p := range params {
		if errs[i] != nil {
			continue
		}
		if err := types.ValidatePayload(p.Type, p.Payload); err != nil {
			errs[i] = invalidArgf("payload of a %s job: %v", p.Type, err)
		}
	}
	return nil
}

func unknownType(t string) error {
	return &requestError{http.StatusBadRequest, CodeUnknownJobType,
		fmt.Sprintf("unknown job type %q: no built-in handler or live worker runs it", t)}
}

// limits are the bounds submissions get from the configuration.
func (s *server) limits() submitLimits { return submitLimits{maxTimeout: s.cfg.MaxJobTimeout} }

// withinQuota refuses, with 429, a submission of jobs that would give
// the caller more unfinished jobs than Config.JobQuota; else it names the
// caller as the jobs' owner, so that they count against its quota.
func (s *server) withinQuota(ctx context.Context, c *gin.Context, jobs []queue.EnqueueParams) error {
	if s.cfg.JobQuota < 0 {
		return nil
	}
	err := s.q.CheckQuota(ctx, callerOf(c), len(jobs), s.cfg.JobQuota)
	var qe *queue.QuotaError
	if errors.As(err, &qe) {
		c.Header("Retry-After", "5")
		return &requestError{http.StatusTooManyRequests, CodeQuotaExceeded,
			fmt.Sprintf("%s has %d unfinished jobs; %d more would pass its quota of %d (API_JOB_QUOTA): wait for some to finish, or cancel some",
				qe.Owner, qe.Unfinished, qe.Adding, qe.Limit)}
	}
	if err != nil {
		return err
	}
	for i := range jobs {
		jobs[i].Owner = callerOf(c)
	}
	return nil
}
