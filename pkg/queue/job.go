package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Job is one job's record as stored in its Redis hash.
type Job struct {
	ID          string
	Type        string
	Queue       string
	Payload     json.RawMessage
	Priority    int
	Status      State
	Progress    float64
	CurrentStep string
	Result      json.RawMessage
	Error       string
	// Attempts counts the runs started since submit or the last restart.
	Attempts int
	// MaxRetries is how many runs may follow a failed first run.
	MaxRetries int
	// Timeout bounds one run (the handler's context deadline); 0 is none.
	Timeout time.Duration
	// Deadline, when set, is when the job fails with DeadlineExceeded
	// unless it started; no claim takes it after it.
	Deadline    time.Time
	RunAt       time.Time
	CreatedAt   time.Time
	StartedAt   time.Time
	CompletedAt time.Time
	UpdatedAt   time.Time
	WorkerID    string
	Restarts    int
	// Version grows by one on every change of the record.
	Version   int64
	UniqueKey string
	// Pipeline is the id of the pipeline the job belongs to ("" for
	// none), PipelineKey its key in it: known for a job claimed or leased
	// (read from its pipeline's graph); a job read by Get or List has it
	// only if its pipeline predates layout 3 (GetPipeline names every
	// job's key).
	Pipeline    string
	PipelineKey string
	// CallbackURL is where the job's end is POSTed (webhook); "" for none.
	CallbackURL string
	// Delivery is the callback of the job's last end: nil until a job
	// with a CallbackURL ends (deliveries.go).
	Delivery *Delivery
	// TraceParent is the W3C trace context of the submission (tracing.go):
	// "" unless tracing is on or the submitter sent one.
	TraceParent string

	// token identifies the run holding the lease; empty unless running.
	token string
	// A pipeline job's edges (pipegraphs.go): its parents (key → job id)
	// and its children; edges tells that they are known (from its
	// pipeline's graph, or stored in its hash before layout 3).
	parents  map[string]string
	children []pipeChild
	edges    bool
}

// Hash field names of a job. Lua scripts use the same literals.
const (
	fType       = "type"
	fQueue      = "queue"
	fPayload    = "payload"
	fPriority   = "priority"
	fStatus     = "status"
	fProgress   = "progress"
	fStep       = "step"
	fResult     = "result"
	fError      = "error"
	fAttempts   = "attempts"
	fMaxRetries = "max_retries"
	fTimeout    = "timeout_ms"
	fDeadline   = "deadline"
	fRunAt      = "run_at"
	fCreatedAt  = "created_at"
	fStartedAt  = "started_at"
	fDoneAt     = "completed_at"
	fUpdatedAt  = "updated_at"
	fWorker     = "worker"
	fRestarts   = "restarts"
	fVersion    = "version"
	fToken      = "token"
	fUnique     = "unique_key"
	fPipeline   = "pipeline"
	fPipeKey    = "pipeline_key"
	fWaits      = "waits"
	fParents    = "parents"
	fChildren   = "children"
	fCallback   = "callback_url"
	fTrace      = "trace"
	// fClaimEvent holds the last claim's history entry until the next push
	// to the job's history (jobevents.go, lua/lib.lua CLAIM_EVENT).
	fClaimEvent = "claim_event"
	// The delivery of a job's callback (deliveries.go).
	fHookID       = "hook_id"
	fHookState    = "hook_state"
	fHookTries    = "hook_tries"
	fHookAttempts = "hook_attempts"
	fHookToken    = "hook_token"
)

// completedStep is the current step of every completed job.
const completedStep = "Job completed successfully"

// jobFromHash builds a Job from the field/value pairs of its hash. Absent
// fields keep their zero value, but for the queue and max_retries, absent
// when they are the defaults, and updated_at, absent until the first
// change: scripts store only what is set, which keeps a pending job small.
// A completed job's progress is 100 and its step completedStep, whatever
// a progress report left in the hash: a completion does not write them.
func jobFromHash(id string, h map[string]string) *Job {
	j := &Job{ID: id, Queue: DefaultQueue, MaxRetries: DefaultMaxRetries}
	defer func() {
		if j.UpdatedAt.IsZero() {
			j.UpdatedAt = j.CreatedAt
		}
		if j.Status == StateCompleted {
			j.Progress, j.CurrentStep = 100, completedStep
		}
	}()
	for f, v := range h {
		switch f {
		case fType:
			j.Type = v
		case fQueue:
			j.Queue = v
		case fPayload:
			j.Payload = json.RawMessage(v)
		case fPriority:
			j.Priority, _ = strconv.Atoi(v)
		case fStatus:
			j.Status = State(v)
		case fProgress:
			j.Progress, _ = strconv.ParseFloat(v, 64)
		case fStep:
			j.CurrentStep = v
		case fResult:
			j.Result = json.RawMessage(v)
		case fError:
			j.Error = v
		case fAttempts:
			j.Attempts, _ = strconv.Atoi(v)
		case fMaxRetries:
			j.MaxRetries, _ = strconv.Atoi(v)
		case fTimeout:
			ms, _ := strconv.ParseInt(v, 10, 64)
			j.Timeout = time.Duration(ms) * time.Millisecond
		case fDeadline:
			j.Deadline = msTime(v)
		case fRunAt:
			j.RunAt = msTime(v)
		case fCreatedAt:
			j.CreatedAt = msTime(v)
		case fStartedAt:
			j.StartedAt = msTime(v)
		case fDoneAt:
			j.CompletedAt = msTime(v)
		case fUpdatedAt:
			j.UpdatedAt = msTime(v)
		case fWorker:
			j.WorkerID = v
		case fRestarts:
			j.Restarts, _ = strconv.Atoi(v)
		case fVersion:
			j.Version, _ = strconv.ParseInt(v, 10, 64)
		case fToken:
			j.token = v
		case fUnique:
			j.UniqueKey = v
		case fPipeline:
			j.Pipeline = v
		case fPipeKey:
			j.PipelineKey = v
		case fParents:
			_ = json.Unmarshal([]byte(v), &j.parents) // written by pipeline_submit.lua's caller only
			j.edges = true
		case fChildren:
			j.children = decodeChildren(v)
			j.edges = true
		case fCallback:
			j.CallbackURL = v
		case fTrace:
			j.TraceParent = v
		case fHookID, fHookState, fHookTries, fHookAttempts, fHookToken:
			deliveryField(&j.Delivery, f, v)
		}
	}
	return j
}

// jobFromPairs is jobFromHash for a flat [field, value, ...] Lua reply.
func jobFromPairs(id string, pairs []any) *Job {
	h := make(map[string]string, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		f, _ := pairs[i].(string)
		v, _ := pairs[i+1].(string)
		h[f] = v
	}
	return jobFromHash(id, h)
}

// claimedJob applies claim.lua's writes to j, the job as it was before
// the claim, so that the script need not send the row back rewritten.
func claimedJob(j *Job, workerID, token string, now time.Time) *Job {
	j.token = token
	j.Status, j.WorkerID, j.StartedAt, j.UpdatedAt = StateRunning, workerID, now, now
	j.Attempts++
	j.Version++
	j.Progress, j.CurrentStep = 0, ""
	return j
}

// msTime parses Unix milliseconds; "" or "0" is the zero time.
func msTime(v string) time.Time {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Get reads one job.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	h, err := c.rdb.HGetAll(ctx, c.shards.of(id).job(id)).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("job %s: %w", id, ErrJobNotFound)
	}
	return jobFromHash(id, h), nil
}

// GetMany reads several jobs in one round trip; missing jobs are nil.
func (c *Client) GetMany(ctx context.Context, ids []string) ([]*Job, error) {
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, c.shards.of(id).job(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	out := make([]*Job, len(ids))
	for i, cmd := range cmds {
		if h := cmd.Val(); len(h) > 0 {
			out[i] = jobFromHash(ids[i], h)
		}
	}
	return out, nil
}
