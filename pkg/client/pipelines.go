package client

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"time"
)

// Pipelines: jobs that wait on other jobs (docs/api.md, "Pipelines").

// PipelineStatus is a pipeline's place in its lifecycle.
type PipelineStatus string

// The statuses of a pipeline: running until every job of it has ended,
// then failed if any failed, cancelled if any was cancelled, else
// completed.
const (
	PipelineRunning   PipelineStatus = "running"
	PipelineCompleted PipelineStatus = "completed"
	PipelineFailed    PipelineStatus = "failed"
	PipelineCancelled PipelineStatus = "cancelled"
)

// Ended reports whether every job of the pipeline has ended.
func (s PipelineStatus) Ended() bool { return s != PipelineRunning && s != "" }

// PipelineJob is one job of a pipeline: a submission (without RunAt,
// Delay or UniqueKey), its key in the pipeline and the keys of the jobs
// it waits for, whose results it receives. Its CallbackURL is POSTed the
// job's record when the job ends, cancelled below a failure included.
type PipelineJob struct {
	Submission
	Key       string
	DependsOn []string
}

// MarshalJSON writes the job as the API reads it.
func (j PipelineJob) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(j.Submission)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["key"], _ = json.Marshal(j.Key)
	if len(j.DependsOn) > 0 {
		m["depends_on"], _ = json.Marshal(j.DependsOn)
	}
	return json.Marshal(m)
}

// PipelineSubmitted is a pipeline the server accepted.
type PipelineSubmitted struct {
	PipelineID string         `json:"pipeline_id"`
	Status     PipelineStatus `json:"status"`
	CreatedAt  time.Time      `json:"created_at,omitzero"`
	// Jobs maps each job's key to its id.
	Jobs map[string]string `json:"jobs"`
}

// Pipeline is a pipeline as it now is (GET /api/v1/pipelines/{id}).
type Pipeline struct {
	PipelineID  string         `json:"pipeline_id"`
	Status      PipelineStatus `json:"status"`
	Progress    float64        `json:"progress"` // the mean of its jobs'
	CreatedAt   time.Time      `json:"created_at,omitzero"`
	CompletedAt time.Time      `json:"completed_at,omitzero"`
	UniqueKey   string         `json:"unique_key,omitempty"`
	// Jobs are its jobs in submission order.
	Jobs []PipelineJobState `json:"jobs"`
	// Callback is the pipeline's callback, when it was submitted with one.
	Callback *Callback `json:"callback,omitempty"`
}

// PipelineJobState is one job of a Pipeline.
type PipelineJobState struct {
	Key       string   `json:"key"`
	JobID     string   `json:"job_id"`
	Type      string   `json:"type"`
	Status    State    `json:"status"`
	Progress  float64  `json:"progress"`
	DependsOn []string `json:"depends_on"`
}

// SubmitPipeline submits a pipeline of 1 to 1000 jobs at once (POST
// /api/v1/pipelines): all are created, or none (an *APIError naming the
// job at fault). uniqueKey ("" for none) refuses a second pipeline with
// it while the first exists.
func (c *Client) SubmitPipeline(ctx context.Context, jobs []PipelineJob, uniqueKey string) (*PipelineSubmitted, error) {
	return c.SubmitPipelineWith(ctx, jobs, PipelineOptions{UniqueKey: uniqueKey})
}

// PipelineOptions are the optional fields of a pipeline submission.
type PipelineOptions struct {
	// UniqueKey refuses a second pipeline with it while the first exists.
	UniqueKey string
	// CallbackURL is POSTed the pipeline's record, signed, each time the
	// pipeline ends (docs/api.md, "Callbacks"; VerifyCallback checks it).
	CallbackURL string
}

// SubmitPipelineWith is SubmitPipeline with every optional field.
func (c *Client) SubmitPipelineWith(ctx context.Context, jobs []PipelineJob, opts PipelineOptions) (*PipelineSubmitted, error) {
	if len(jobs) == 0 {
		return nil, errors.New("submit pipeline: no jobs")
	}
	body := struct {
		Jobs        []PipelineJob `json:"jobs"`
		UniqueKey   string        `json:"unique_key,omitempty"`
		CallbackURL string        `json:"callback_url,omitempty"`
	}{jobs, opts.UniqueKey, opts.CallbackURL}
	var out PipelineSubmitted
	if err := c.do(ctx, "POST", "/api/v1/pipelines", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetPipeline returns a pipeline with each of its jobs.
func (c *Client) GetPipeline(ctx context.Context, id string) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, "GET", jobPath("/api/v1/pipelines/", id, ""), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelPipeline cancels every job of a running pipeline not yet ended.
func (c *Client) CancelPipeline(ctx context.Context, id string) error {
	return c.do(ctx, "POST", jobPath("/api/v1/pipelines/", id, "/cancel"), nil, nil, nil)
}

// RestartPipeline runs the failed and cancelled jobs of a failed or
// cancelled pipeline again.
func (c *Client) RestartPipeline(ctx context.Context, id string) error {
	return c.do(ctx, "POST", jobPath("/api/v1/pipelines/", id, "/restart"), nil, nil, nil)
}

// PipelineEvent is one event of a pipeline's stream: a change of one of
// its jobs (JobID names it), or of the pipeline itself (JobID empty,
// PipelineID set, Status one of the PipelineStatus values).
type PipelineEvent struct {
	// ID is the SSE event id; IDs only grow along the stream.
	ID          int64     `json:"id,omitempty"`
	JobID       string    `json:"job_id,omitempty"`
	PipelineID  string    `json:"pipeline_id,omitempty"`
	Status      string    `json:"status"`
	Progress    float64   `json:"progress"`
	CurrentStep string    `json:"current_step,omitempty"`
	Timestamp   time.Time `json:"timestamp,omitzero"`
}

// OfPipeline reports whether the event is the pipeline's own.
func (e PipelineEvent) OfPipeline() bool { return e.JobID == "" && e.PipelineID != "" }

// StreamPipeline follows a pipeline (GET /api/v1/pipelines/{id}/stream):
// every event of each of its jobs and the pipeline's own status changes,
// until the pipeline ends (its terminal event is the last). It ends, and
// reconnects, as Stream does: a non-nil error is the last element.
func (c *Client) StreamPipeline(ctx context.Context, id string, opts *StreamOptions) iter.Seq2[PipelineEvent, error] {
	var from int64
	if opts != nil {
		from = opts.LastEventID
	}
	return func(yield func(PipelineEvent, error) bool) {
		s := &stream[PipelineEvent]{c: c, id: id, path: jobPath("/api/v1/pipelines/", id, "/stream"), last: from,
			yield: yield,
			decode: func(_, raw string) (ev PipelineEvent, end bool, err error) {
				err = json.Unmarshal([]byte(raw), &ev)
				return ev, false, err
			},
			setID: func(ev *PipelineEvent, id int64) { ev.ID = id },
			terminal: func(ev PipelineEvent) bool {
				return ev.OfPipeline() && PipelineStatus(ev.Status).Ended()
			},
			over: func(ctx context.Context) (bool, error) {
				p, err := c.GetPipeline(ctx, id)
				if err != nil {
					return false, err
				}
				return p.Status.Ended(), nil
			}}
		s.run(ctx)
	}
}
