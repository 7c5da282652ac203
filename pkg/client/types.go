package client

import (
	"encoding/json"
	"math"
	"time"
)

// The types below mirror the API's JSON (docs/api.md) field for field.
// They are the SDK's own, not the server's, so that a program importing
// this package pulls in neither gin nor Redis. A JSON null becomes the
// zero value: "" for strings, the zero time.Time, a nil json.RawMessage;
// encoded again, such a field is left out rather than written as null.

// State is a job's place in its lifecycle.
type State string

// The states a job can be in. Completed, failed and cancelled are terminal.
const (
	StateWaiting   State = "waiting"   // a job of a pipeline waiting for its parents
	StatePending   State = "pending"   // waiting in its queue
	StateScheduled State = "scheduled" // submitted to run later
	StateRunning   State = "running"   // a worker runs it
	StateRetrying  State = "retrying"  // waiting out a backoff after a failed run
	StateCompleted State = "completed" // finished successfully
	StateFailed    State = "failed"    // failed permanently or out of attempts
	StateCancelled State = "cancelled" // cancelled by a user
)

// States lists every state, in lifecycle order.
func States() []State {
	return []State{StateWaiting, StatePending, StateScheduled, StateRunning, StateRetrying,
		StateCompleted, StateFailed, StateCancelled}
}

// Terminal reports whether a job in state s is finished: it changes no
// more unless restarted.
func (s State) Terminal() bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

// Status is a job's status (GET /api/v1/jobs/status/{id}): its ten
// fields, and its callback when it was submitted with one.
type Status struct {
	JobID       string  `json:"job_id"`
	Status      State   `json:"status"`
	Progress    float64 `json:"progress"` // 0 to 100
	CurrentStep string  `json:"current_step"`
	// Result is the handler's JSON result once completed, else nil.
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the last error message, else "".
	Error       string    `json:"error,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	StartedAt   time.Time `json:"started_at,omitzero"` // start of the current run
	CompletedAt time.Time `json:"completed_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	// Callback is the job's callback and its delivery's attempts.
	Callback *Callback `json:"callback,omitempty"`
}

// UnmarshalJSON implements json.Unmarshaler: a null result becomes nil.
func (s *Status) UnmarshalJSON(data []byte) error {
	type plain Status
	if err := json.Unmarshal(data, (*plain)(s)); err != nil {
		return err
	}
	s.Result = nilIfNull(s.Result)
	return nil
}

// Job is a job's whole record (GET /api/v1/jobs/{id}, and the list).
type Job struct {
	JobID       string          `json:"job_id"`
	Type        string          `json:"type"`
	Queue       string          `json:"queue"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Priority    int             `json:"priority"`
	Status      State           `json:"status"`
	Progress    float64         `json:"progress"`
	CurrentStep string          `json:"current_step"`
	Result      json.RawMessage `json:"result,omitempty"`
	Error       string          `json:"error,omitempty"`
	// Attempts counts the runs so far; MaxRetries the runs allowed after
	// a failed first one.
	Attempts       int     `json:"attempts"`
	MaxRetries     int     `json:"max_retries"`
	TimeoutSeconds float64 `json:"timeout_seconds"` // 0: no bound on a run
	// Deadline, when set, is when the job fails unless it started.
	Deadline    time.Time `json:"deadline,omitzero"`
	RunAt       time.Time `json:"run_at,omitzero"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	// WorkerID names the worker of the current or last run.
	WorkerID string `json:"worker_id,omitempty"`
	Restarts int    `json:"restarts"`
	// Version grows with every change of the record; it is the id of the
	// stream event of the job's current state.
	Version   int64  `json:"version"`
	UniqueKey string `json:"unique_key,omitempty"`
	// PipelineID is the pipeline the job belongs to, "" for none.
	PipelineID string `json:"pipeline_id,omitempty"`
	// Callback is the job's callback, when it was submitted with one.
	Callback *Callback `json:"callback,omitempty"`
}

// Callback is a job's callback URL and the delivery of its last end.
type Callback struct {
	URL string `json:"url"`
	// DeliveryID is the Jobqueue-Delivery header of every attempt;
	// "" until the job ends.
	DeliveryID string `json:"delivery_id,omitempty"`
	// State is pending, delivered, failed (given up) or dropped (the job
	// was restarted first); "" until the job ends.
	State string `json:"state,omitempty"`
	// Tries counts the attempts; Attempts are the last ones.
	Tries    int               `json:"tries"`
	Attempts []CallbackAttempt `json:"attempts"`
}

// CallbackAttempt is one POST of a callback.
type CallbackAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"` // 0: no answer
	Error      string    `json:"error,omitempty"`
}

// UnmarshalJSON implements json.Unmarshaler: a null payload or result
// becomes nil.
func (j *Job) UnmarshalJSON(data []byte) error {
	type plain Job
	if err := json.Unmarshal(data, (*plain)(j)); err != nil {
		return err
	}
	j.Payload, j.Result = nilIfNull(j.Payload), nilIfNull(j.Result)
	return nil
}

func nilIfNull(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// Event is one event of a job's stream: the job's whole visible state at
// one change.
type Event struct {
	// ID is the SSE event id: the job's version at this change. IDs only
	// grow; a stream resumed after ID sees only later changes. (It is the
	// event's "id:" line, not part of its data.)
	ID          int64     `json:"id,omitempty"`
	JobID       string    `json:"job_id"`
	Status      State     `json:"status"`
	Progress    float64   `json:"progress"`
	CurrentStep string    `json:"current_step"`
	Timestamp   time.Time `json:"timestamp,omitzero"` // when the change happened
}

// Submission is a job to submit. Only Type is required; zero fields take
// the server's defaults.
type Submission struct {
	// Type names the handler: a built-in type or one a live worker runs.
	Type string
	// Payload is any value encoding/json can marshal (a json.RawMessage
	// passes as is); nil means {}.
	Payload any
	// Queue defaults to "default".
	Queue string
	// Priority is 0 to 100; higher runs first.
	Priority int
	// MaxRetries is the number of runs allowed after a failed first run;
	// nil means the server's default (3). Use Retries(0) for none.
	MaxRetries *int
	// Timeout bounds each run; 0 means none. Sent in whole seconds,
	// rounded up.
	Timeout time.Duration
	// RunAt schedules the job for later. Give RunAt or Delay, not both.
	RunAt time.Time
	// Delay schedules the job this long after submission, in whole
	// seconds, rounded up.
	Delay time.Duration
	// UniqueKey, while a job holding it exists, makes another submission
	// with it fail with ErrDuplicate.
	UniqueKey string
	// Deadline, when set, is when the job ends failed with error
	// "deadline_exceeded" unless it started: no worker takes it after it.
	Deadline time.Time
	// CallbackURL is POSTed the job's record when the job ends
	// (VerifyCallback checks what arrives there).
	CallbackURL string
}

// Retries returns a pointer to n, for Submission.MaxRetries.
func Retries(n int) *int { return &n }

// MarshalJSON implements json.Marshaler: the request body of a submission.
func (s Submission) MarshalJSON() ([]byte, error) {
	var runAt, deadline string
	if !s.RunAt.IsZero() {
		runAt = s.RunAt.UTC().Format(time.RFC3339Nano)
	}
	if !s.Deadline.IsZero() {
		deadline = s.Deadline.UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(struct {
		Type           string `json:"type"`
		Payload        any    `json:"payload,omitempty"`
		Queue          string `json:"queue,omitempty"`
		Priority       int    `json:"priority,omitempty"`
		MaxRetries     *int   `json:"max_retries,omitempty"`
		TimeoutSeconds int64  `json:"timeout_seconds,omitempty"`
		RunAt          string `json:"run_at,omitempty"`
		DelaySeconds   int64  `json:"delay_seconds,omitempty"`
		UniqueKey      string `json:"unique_key,omitempty"`
		Deadline       string `json:"deadline,omitempty"`
		CallbackURL    string `json:"callback_url,omitempty"`
	}{s.Type, s.Payload, s.Queue, s.Priority, s.MaxRetries, ceilSeconds(s.Timeout), runAt,
		ceilSeconds(s.Delay), s.UniqueKey, deadline, s.CallbackURL})
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}

// Submitted is a job the server accepted.
type Submitted struct {
	JobID     string    `json:"job_id"`
	Status    State     `json:"status"` // pending, or scheduled
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// BatchResult is the outcome of a batch submission: one item per job,
// in the order submitted.
type BatchResult struct {
	Items   []BatchItem `json:"jobs"`
	Created int         `json:"created"`
	Failed  int         `json:"failed"`
}

// BatchItem is one job of a batch: either Job or Err is set.
type BatchItem struct {
	Job *Submitted
	Err *Error
}

// UnmarshalJSON implements json.Unmarshaler.
func (it *BatchItem) UnmarshalJSON(data []byte) error {
	var raw struct {
		Submitted
		Error *errorDetail `json:"error,omitempty"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw.Error != nil {
		it.Err = &Error{StatusCode: statusOfCode[raw.Error.Code], Code: raw.Error.Code,
			Message: raw.Error.Message, JobID: raw.Error.JobID}
		return nil
	}
	it.Job = &raw.Submitted
	return nil
}

// MarshalJSON implements json.Marshaler, in the server's shape.
func (it BatchItem) MarshalJSON() ([]byte, error) {
	if it.Err != nil {
		return json.Marshal(map[string]any{"error": errorDetail{Code: it.Err.Code,
			Message: it.Err.Message, JobID: it.Err.JobID}})
	}
	return json.Marshal(it.Job)
}

// ListParams filters and pages a listing; every field is optional.
type ListParams struct {
	Status State
	Type   string
	Queue  string
	// CreatedAfter and CreatedBefore, when set, keep the jobs created at
	// or after the one and before the other.
	CreatedAfter, CreatedBefore time.Time
	// Limit is 1 to 500; 0 means the server's default (50).
	Limit int
	// Cursor is a previous page's NextCursor. It carries that page's
	// filters: leave them out, or give the same (others get a 400).
	Cursor string
	// WithPayload and WithResult ask for each job's payload and result:
	// without them a page holds job summaries, whose Payload and Result
	// are nil (the server's include parameter).
	WithPayload, WithResult bool
}

// JobList is one page of a listing. The server ends a page early, with a
// NextCursor, once its jobs' fields pass its byte budget.
type JobList struct {
	Jobs []Job `json:"jobs"`
	// NextCursor fetches the next page; "" on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Stats is the queue's state (GET /api/v1/jobs/queue/stats).
type Stats struct {
	PendingJobs   int64  `json:"pending_jobs"`
	RunningJobs   int64  `json:"running_jobs"`
	ScheduledJobs int64  `json:"scheduled_jobs"`
	CompletedJobs int64  `json:"completed_jobs"`
	FailedJobs    int64  `json:"failed_jobs"`
	CancelledJobs int64  `json:"cancelled_jobs"`
	RetryingJobs  int64  `json:"retrying_jobs"`
	WaitingJobs   int64  `json:"waiting_jobs"` // jobs of pipelines waiting for their parents
	TotalJobs     int64  `json:"total_jobs"`
	QueueType     string `json:"queue_type"`
	// CacheSize counts the finished jobs whose results are still kept.
	CacheSize int64 `json:"cache_size"`
	// CPUUsagePercent is the mean of the live workers' host CPU samples
	// (every process of the host counted).
	CPUUsagePercent float64 `json:"cpu_usage_percent"`
	// WorkersCPUPercent is the sum of the worker processes' own CPU, in
	// percent of one core.
	WorkersCPUPercent float64 `json:"workers_cpu_percent"`
	// MemoryUsageMB is the sum of the live workers' RSS.
	MemoryUsageMB      float64          `json:"memory_usage_mb"`
	ActiveWorkers      int              `json:"active_workers"`
	QueueHealth        QueueHealth      `json:"queue_health"`
	Queues             []QueueStats     `json:"queues"`
	RunningByType      map[string]int64 `json:"running_by_type"`
	WorkersConcurrency int              `json:"workers_concurrency"`
	// RateLimits are the job types' rate limits and how they stand.
	RateLimits []RateLimit `json:"rate_limits"`
	// HealthReasons says in words why QueueHealth's fields have their
	// values.
	HealthReasons HealthReasons `json:"health_reasons"`
}

// QueueHealth is the server's assessment of the queue (docs/api.md has
// the rules).
type QueueHealth struct {
	Status              string `json:"status"`               // healthy, degraded or unhealthy
	ResourceUtilization string `json:"resource_utilization"` // optimal, high or critical
	LimitEnforcement    string `json:"limit_enforcement"`    // active or inactive
}

// HealthReasons says, for people, why each field of QueueHealth has its
// value ("3 jobs wait to run and no worker is alive to run them").
type HealthReasons struct {
	Status              string `json:"status"`
	ResourceUtilization string `json:"resource_utilization"`
	LimitEnforcement    string `json:"limit_enforcement"`
}

// QueueStats is one queue's waiting jobs.
type QueueStats struct {
	Name      string `json:"name"`
	Pending   int64  `json:"pending"`
	Scheduled int64  `json:"scheduled"`
	Retrying  int64  `json:"retrying"`
	// OldestPendingAge is how long the job next in line has waited, in
	// seconds (0: none pending).
	OldestPendingAge float64 `json:"oldest_pending_age_seconds"`
	// Paused: no worker takes the queue's jobs.
	Paused bool `json:"paused"`
}

// Worker is a live worker (GET /api/v1/workers).
type Worker struct {
	ID string `json:"id"`
	// Protocol is how the worker takes jobs: "native" (a Go worker) or
	// "http" (the lease protocol, a worker in any language).
	Protocol       string    `json:"protocol"`
	Host           string    `json:"host"`
	PID            int       `json:"pid"`
	Queues         []string  `json:"queues"`
	Types          []string  `json:"types"`
	Concurrency    int       `json:"concurrency"`
	RunningJobs    int       `json:"running_jobs"`
	CPUPercent     float64   `json:"cpu_percent"`
	RSSMB          float64   `json:"rss_mb"`
	StartedAt      time.Time `json:"started_at,omitzero"`
	LastSeen       time.Time `json:"last_seen,omitzero"`
	Throttled      bool      `json:"throttled"`
	MaxCPUPercent  float64   `json:"max_cpu_percent"`
	MaxMemoryMB    float64   `json:"max_memory_mb"`
	LimitsEnforced bool      `json:"limits_enforced"`
	// ProcessCPUPercent is the worker process's own CPU, in percent of
	// one core (CPUPercent is its host's).
	ProcessCPUPercent float64 `json:"process_cpu_percent"`
}
