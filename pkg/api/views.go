package api

import (
	"encoding/json"
	"time"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/queue"
)

// The JSON shapes of responses. Every time is RFC 3339 in UTC with
// millisecond precision ("2024-01-21T10:30:05.123Z"), or null when unset;
// every optional string is null when unset.

// timeLayout is RFC 3339 with a fixed three-digit fraction, so every
// timestamp has the same shape (the engine keeps milliseconds).
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// timestamp marshals as timeLayout in UTC, or null for the zero time.
type timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t timestamp) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + tt.UTC().Format(timeLayout) + `"`), nil
}

// nullable is s, or nil (JSON null) when s is empty.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// jsonValue is raw, or nil (JSON null) when it is empty, not JSON or not
// UTF-8 (a record damaged outside the engine, or stored before the API
// refused such payloads, must not break the response: encoding/json
// copies a raw value's bytes as they are).
func jsonValue(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !utf8.Valid(raw) || !json.Valid(raw) {
		return nil
	}
	return raw
}

// progressOf is a progress as the API serves it: to one decimal (a
// handler's 100/3 is 33.3, not 33.33333333333333), and below 100 until it
// is 100 (99.97 is 99.9: a job shown at 100 has finished its work).
func progressOf(p float64) float64 {
	if r := round1(p); r < 100 || p >= 100 {
		return r
	}
	return 99.9
}

// statusView is a job's status in the Jobs API: exactly these ten
// fields, and the callback's when the job has one.
type statusView struct {
	JobID       string          `json:"job_id"`
	Status      queue.State     `json:"status"`
	Progress    float64         `json:"progress"`
	CurrentStep string          `json:"current_step"`
	Result      json.RawMessage `json:"result"`
	Error       *string         `json:"error"`
	CreatedAt   timestamp       `json:"created_at"`
	StartedAt   timestamp       `json:"started_at"`
	CompletedAt timestamp       `json:"completed_at"`
	UpdatedAt   timestamp       `json:"updated_at"`
	Callback    *callbackView   `json:"callback,omitempty"`
}

func statusOf(j *queue.Job) statusView {
	return statusView{JobID: j.ID, Status: j.Status, Progress: progressOf(j.Progress), CurrentStep: j.CurrentStep,
		Result: jsonValue(j.Result), Error: nullable(j.Error), CreatedAt: timestamp(j.CreatedAt),
		StartedAt: timestamp(j.StartedAt), CompletedAt: timestamp(j.CompletedAt),
		UpdatedAt: timestamp(j.UpdatedAt), Callback: callbackOf(j)}
}

// jobView is a job's whole record (GET /api/v1/jobs/{id} and the list).
type jobView struct {
	JobID          string          `json:"job_id"`
	Type           string          `json:"type"`
	Queue          string          `json:"queue"`
	Payload        json.RawMessage `json:"payload"`
	Priority       int             `json:"priority"`
	Status         queue.State     `json:"status"`
	Progress       float64         `json:"progress"`
	CurrentStep    string          `json:"current_step"`
	Result         json.RawMessage `json:"result"`
	Error          *string         `json:"error"`
	Attempts       int             `json:"attempts"`
	MaxRetries     int             `json:"max_retries"`
	TimeoutSeconds float64         `json:"timeout_seconds"`
	Deadline       timestamp       `json:"deadline"`
	RunAt          timestamp       `json:"run_at"`
	CreatedAt      timestamp       `json:"created_at"`
	StartedAt      timestamp       `json:"started_at"`
	CompletedAt    timestamp       `json:"completed_at"`
	UpdatedAt      timestamp       `json:"updated_at"`
	WorkerID       *string         `json:"worker_id"`
	Restarts       int             `json:"restarts"`
	Version        int64           `json:"version"`
	UniqueKey      *string         `json:"unique_key"`
	// PipelineID is the pipeline the job belongs to; null for none.
	PipelineID *string       `json:"pipeline_id"`
	Callback   *callbackView `json:"callback,omitempty"`
}

func jobOf(j *queue.Job) jobView {
	return jobView{JobID: j.ID, Type: j.Type, Queue: j.Queue, Payload: jsonValue(j.Payload),
		Priority: j.Priority, Status: j.Status, Progress: progressOf(j.Progress), CurrentStep: j.CurrentStep,
		Result: jsonValue(j.Result), Error: nullable(j.Error), Attempts: j.Attempts,
		MaxRetries: j.MaxRetries, TimeoutSeconds: j.Timeout.Seconds(), Deadline: timestamp(j.Deadline), RunAt: timestamp(j.RunAt),
		CreatedAt: timestamp(j.CreatedAt), StartedAt: timestamp(j.StartedAt),
		CompletedAt: timestamp(j.CompletedAt), UpdatedAt: timestamp(j.UpdatedAt),
		WorkerID: nullable(j.WorkerID), Restarts: j.Restarts, Version: j.Version,
		UniqueKey: nullable(j.UniqueKey), PipelineID: nullable(j.Pipeline), Callback: callbackOf(j)}
}

// callbackView is a job's callback: its URL and, once the job ended,
// its delivery and the delivery's last attempts.
type callbackView struct {
	URL        string        `json:"url"`
	DeliveryID *string       `json:"delivery_id"`
	State      *string       `json:"state"`
	Tries      int           `json:"tries"`
	Attempts   []attemptView `json:"attempts"`
}

// attemptView is one POST of a callback.
type attemptView struct {
	At         timestamp `json:"at"`
	StatusCode *int      `json:"status_code"`
	Error      *string   `json:"error"`
}

// callbackOf is j's callback, or nil when it has none.
func callbackOf(j *queue.Job) *callbackView {
	if j.CallbackURL == "" {
		return nil
	}
	v := &callbackView{URL: j.CallbackURL, Attempts: []attemptView{}}
	if d := j.Delivery; d != nil {
		v.DeliveryID, v.State, v.Tries = nullable(d.ID), nullable(string(d.State)), d.Tries
		for _, a := range d.Attempts {
			av := attemptView{At: timestamp(a.At), Error: nullable(a.Error)}
			if a.StatusCode != 0 {
				av.StatusCode = &a.StatusCode
			}
			v.Attempts = append(v.Attempts, av)
		}
	}
	return v
}

// JobRecord is the body of j's callback: its record as GET
// /api/v1/jobs/{job_id} serves it, less the callback's delivery (which
// changes from one attempt to the next, while the body must not). The
// delivery of a pipeline's end (Delivery.Pipeline set) carries the
// pipeline's record as GET /api/v1/pipelines/{pipeline_id} serves it,
// likewise less its callback.
func JobRecord(j *queue.Job) ([]byte, error) {
	if j.Delivery != nil && j.Delivery.Pipeline != nil {
		v := pipelineOf(j.Delivery.Pipeline)
		v.Callback = nil
		return json.Marshal(v)
	}
	v := jobOf(j)
	v.Callback = nil
	return json.Marshal(v)
}

// eventView is the data of one SSE event: exactly these five fields.
type eventView struct {
	JobID       string      `json:"job_id"`
	Status      queue.State `json:"status"`
	Progress    float64     `json:"progress"`
	CurrentStep string      `json:"current_step"`
	// Timestamp is when the change happened (the engine's clock).
	Timestamp timestamp `json:"timestamp"`
}

// change is one state of a job as a stream sends it: the event and the
// job version that orders it (the SSE id).
type change struct {
	version int64
	data    eventView
}

func changeOfEvent(ev queue.Event) change {
	var at time.Time // null rather than 1970 should an event lack its time
	if ev.UpdatedAtMS > 0 {
		at = ev.UpdatedAt()
	}
	return change{ev.Version, eventView{JobID: ev.JobID, Status: ev.Status, Progress: progressOf(ev.Progress),
		CurrentStep: ev.CurrentStep, Timestamp: timestamp(at)}}
}

func changeOfJob(j *queue.Job) change {
	return change{j.Version, eventView{JobID: j.ID, Status: j.Status, Progress: progressOf(j.Progress),
		CurrentStep: j.CurrentStep, Timestamp: timestamp(j.UpdatedAt)}}
}

// workerView is a live worker (GET /api/v1/workers): queue.WorkerInfo's
// fields, with this API's timestamps.
type workerView struct {
	ID string `json:"id"`
	// Protocol is how the worker takes jobs: "native" (a Go worker) or
	// "http" (the lease protocol).
	Protocol       string    `json:"protocol"`
	Host           string    `json:"host"`
	PID            int       `json:"pid"`
	Queues         []string  `json:"queues"`
	Types          []string  `json:"types"`
	Concurrency    int       `json:"concurrency"`
	Running        int       `json:"running_jobs"`
	CPUPercent     float64   `json:"cpu_percent"`
	RSSMB          float64   `json:"rss_mb"`
	StartedAt      timestamp `json:"started_at"`
	LastSeen       timestamp `json:"last_seen"`
	Throttled      bool      `json:"throttled"`
	MaxCPUPercent  float64   `json:"max_cpu_percent"`
	MaxMemoryMB    float64   `json:"max_memory_mb"`
	LimitsEnforced bool      `json:"limits_enforced"`
	// ProcessCPUPercent is the worker process's own CPU (CPUPercent is
	// its host's).
	ProcessCPUPercent float64 `json:"process_cpu_percent"`
}

func workerOf(w queue.WorkerInfo) workerView {
	return workerView{ID: w.ID, Protocol: w.Protocol, Host: w.Host, PID: w.PID, Queues: nonNil(w.Queues),
		Types: nonNil(w.Types), Concurrency: w.Concurrency, Running: w.Running,
		CPUPercent: w.CPUPercent, RSSMB: w.RSSMB, StartedAt: timestamp(w.StartedAt),
		LastSeen: timestamp(w.LastSeen), Throttled: w.Throttled, MaxCPUPercent: w.MaxCPUPercent,
		MaxMemoryMB: w.MaxMemoryMB, LimitsEnforced: w.LimitsEnforced(), ProcessCPUPercent: w.ProcessCPUPercent}
}

// nonNil makes an absent list render as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// listItemView is a job in a list page: its summary, every field of
// jobView but the payload and the result, which it holds only when the
// request asked for them (include=payload,result). A summary stays small
// however large the job's payload, so a page costs its reader little.
type listItemView struct {
	jobView
	// These hide jobView's fields of the same names (encoding/json takes
	// the shallower): set only when asked for; a page shows no callback.
	Payload  *json.RawMessage `json:"payload,omitempty"`
	Result   *json.RawMessage `json:"result,omitempty"`
	Callback *callbackView    `json:"callback,omitempty"`
}

func listItemOf(j *queue.Job, p queue.ListParams) listItemView {
	item := listItemView{jobView: jobOf(j)}
	if p.WithPayload {
		item.Payload = &item.jobView.Payload
	}
	if p.WithResult {
		item.Result = &item.jobView.Result
	}
	return item
}
