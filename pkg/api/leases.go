package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// The lease protocol: workers in any language take jobs over HTTP
// (POST /api/v1/leases), extend, complete or fail them
// (/api/v1/leases/{job_id}/heartbeat|complete|fail; many completions in
// one call: /api/v1/leases/complete, leasebatch.go) and write their logs
// (/api/v1/leases/{job_id}/log), riding the engine's
// transitions and run tokens: any instance may serve any call of any
// lease. docs/api.md, "Workers over HTTP", is the contract.

// Leaser is what the lease protocol needs of the engine. *queue.Client
// implements it; a Queue that does not leaves the lease routes out.
type Leaser interface {
	Lease(ctx context.Context, p queue.LeaseParams) (*queue.LeaseResult, error)
	Announce(ctx context.Context, id, protocol string, types, queues []string, concurrency int, ttl time.Duration) error
	HeartbeatLease(ctx context.Context, id, token string, lease time.Duration, progress *float64, step string, ttl time.Duration) error
	CompleteLease(ctx context.Context, id, token, result string) error
	CompleteLeases(ctx context.Context, runs []queue.LeaseCompletion) ([]error, error)
	FailLease(ctx context.Context, id, token, message string, retryable bool) (queue.State, error)
	AppendLog(ctx context.Context, id, token string, lines []queue.LogLine) error
}

// laneWatcher is what a waiting lease call needs of Events: a signal when
// work it could take may have come. *queue.Hub implements it.
type laneWatcher interface {
	WatchLanes(queues, types []string) *queue.LaneWatch
}

var (
	_ Leaser      = (*queue.Client)(nil)
	_ laneWatcher = (*queue.Hub)(nil)
)

// Lease call limits and defaults (the contract's).
const (
	DefaultLeaseSeconds = 30
	MaxWaitSeconds      = 60
	// presenceSlack is added to a worker's registry time to live: it
	// counts as live while it calls at least once per lease (or wait).
	presenceSlack = 5 * time.Second
)

type leaseRequest struct {
	WorkerID     *string  `json:"worker_id"`
	Types        []string `json:"types"`
	Queues       []string `json:"queues"`
	MaxJobs      *int     `json:"max_jobs"`
	WaitSeconds  *int     `json:"wait_seconds"`
	LeaseSeconds *int     `json:"lease_seconds"`
}

// leaseView is one job a lease call took.
type leaseView struct {
	JobID        string          `json:"job_id"`
	Type         string          `json:"type"`
	Queue        string          `json:"queue"`
	Payload      json.RawMessage `json:"payload"`
	Attempt      int             `json:"attempt"`
	MaxRetries   int             `json:"max_retries"`
	LeaseToken   string          `json:"lease_token"`
	LeaseSeconds int             `json:"lease_seconds"`
	// Inputs are the results of the job's parents in its pipeline, by
	// their keys; {} for a job without parents.
	Inputs map[string]json.RawMessage `json:"inputs"`
	// TimeoutSeconds bounds the run: its lease is never extended past
	// it (0: no timeout).
	TimeoutSeconds float64 `json:"timeout_seconds"`
	// TraceParent is the W3C trace context of the job's trace, for the
	// worker to continue and to send back as the traceparent header of
	// its calls about the job; left out for an untraced job.
	TraceParent string `json:"traceparent,omitempty"`
}

// parseLease decodes and checks a lease call.
func parseLease(c *gin.Context) (queue.LeaseParams, time.Duration, error) {
	var req leaseRequest
	if err := decodeStrict(c.Request.Body, &req); err != nil {
		return queue.LeaseParams{}, 0, err
	}
	if req.WorkerID == nil {
		return queue.LeaseParams{}, 0, invalidArgf("worker_id is required")
	}
	if req.Types == nil {
		return queue.LeaseParams{}, 0, invalidArgf("types is required: the job types this worker runs")
	}
	p := queue.LeaseParams{WorkerID: *req.WorkerID, Types: req.Types, Queues: req.Queues,
		Max: 1, Lease: DefaultLeaseSeconds * time.Second}
	if req.MaxJobs != nil {
		p.Max = *req.MaxJobs
	}
	if req.LeaseSeconds != nil {
		p.Lease = time.Duration(*req.LeaseSeconds) * time.Second
	}
	wait := 0
	if req.WaitSeconds != nil {
		wait = *req.WaitSeconds
	}
	if wait < 0 || wait > MaxWaitSeconds {
		return p, 0, invalidArgf("wait_seconds %d: want 0-%d", wait, MaxWaitSeconds)
	}
	if err := p.Validate(); err != nil {
		return p, 0, err
	}
	return p, time.Duration(wait) * time.Second, nil
}

// lease answers POST /api/v1/leases: up to max_jobs jobs of the worker's
// types, waiting up to wait_seconds for some to come. A waiting call is
// woken by the job events of its lanes (LaneWatch), not by polling, and
// stops taking jobs once its client is gone.
func (s *server) lease(c *gin.Context) {
	p, wait, err := parseLease(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if err := s.announce(c, p, wait); err != nil {
		s.writeError(c, err)
		return
	}
	watcher, canWait := s.events.(laneWatcher)
	var watch *queue.LaneWatch
	deadline := time.Now().Add(wait)
	done := c.Request.Context().Done()
	for {
		if c.Request.Context().Err() != nil {
			return // the client is gone: take nothing for it
		}
		ctx, cancel := s.redisCtx(c)
		res, err := s.leaser.Lease(ctx, p)
		cancel()
		if err != nil {
			s.writeError(c, err)
			return
		}
		left := time.Until(deadline)
		if len(res.Jobs) > 0 || !canWait || left <= 0 {
			c.JSON(http.StatusOK, gin.H{"leases": leaseViews(res.Jobs, p.Lease)})
			return
		}
		if watch == nil {
			// Watched only once the call may wait, so that a call taking
			// jobs at once costs the Hub nothing (a watch makes it decode
			// every event); claimed again once watched, so that nothing
			// submitted before the watch began is missed.
			watch = watcher.WatchLanes(p.Queues, p.Types)
			defer watch.Close()
			continue
		}
		watch.WakeOnRunEnds(res.Blocked)
		if res.RetryAfter > 0 { // a rate limit holds jobs back until then
			left = min(left, res.RetryAfter)
		}
		t := time.NewTimer(left)
		select {
		case <-watch.C:
		case <-t.C:
		case <-done:
		}
		t.Stop()
	}
}

func leaseViews(jobs []queue.Leased, lease time.Duration) []leaseView {
	out := make([]leaseView, len(jobs))
	for i, l := range jobs {
		j := l.Job
		payload := json.RawMessage(j.Payload)
		if len(payload) == 0 {
			payload = json.RawMessage("null")
		}
		out[i] = leaseView{JobID: j.ID, Type: j.Type, Queue: j.Queue, Payload: payload,
			Attempt: j.Attempts, MaxRetries: j.MaxRetries, LeaseToken: l.Token,
			LeaseSeconds: int(lease / time.Second), Inputs: l.Inputs,
			TimeoutSeconds: j.Timeout.Seconds(), TraceParent: l.TraceParent}
		if out[i].Inputs == nil {
			out[i].Inputs = map[string]json.RawMessage{}
		}
		for k, v := range out[i].Inputs {
			out[i].Inputs[k] = jsonValue(v) // null should a stored result not be JSON
			if out[i].Inputs[k] == nil {
				out[i].Inputs[k] = json.RawMessage("null")
			}
		}
	}
	return out
}

// announce records the calling worker in the registry of live workers
// (protocol http, its types, queues, max_jobs) for a lease and a wait more, at most
// once per third of that per instance, and makes its types known here at
// once (other instances learn them from the registry).
func (s *server) announce(c *gin.Context, p queue.LeaseParams, wait time.Duration) error {
	ttl := p.Lease + wait + presenceSlack
	// Its concurrency, for the health rules, is the most jobs it asks for.
	most, due := s.announced.due(p.WorkerID, p.Types, p.Queues, p.Max, ttl/3)
	if !due {
		return nil
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := s.leaser.Announce(ctx, p.WorkerID, queue.ProtocolHTTP, p.Types, p.Queues, most, ttl); err != nil {
		s.announced.forget(p.WorkerID)
		return err
	}
	s.types.learn(p.Types)
	return nil
}

// announcements remembers when this instance last announced each worker
// (and with what), so that a busy worker's lease calls cost the registry
// one write per third of its time to live, not one per call.
type announcements struct {
	mu   sync.Mutex
	last map[string]announced
}

type announced struct {
	at   time.Time
	what string // types and queues, as announced
	most int    // the most jobs it asked for, as announced
}

// maxAnnouncements bounds the workers remembered; past it the memory starts over.
const maxAnnouncements = 10000

// due reports whether worker id, asking for asked jobs, must be announced
// now, and if so records that it is, with the most jobs it asked for: a
// worker asks for its free slots, fewer than its concurrency while busy,
// and that is no news (a call per lease, were it announced).
func (a *announcements) due(id string, types, queues []string, asked int, every time.Duration) (most int, ok bool) {
	what := strings.Join(types, ",") + "|" + strings.Join(queues, ",")
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	prev, seen := a.last[id]
	if !seen || prev.what != what {
		prev.most = 0
	} else if asked <= prev.most && now.Sub(prev.at) < every {
		return 0, false
	}
	if a.last == nil || len(a.last) >= maxAnnouncements {
		a.last = map[string]announced{}
	}
	most = max(asked, prev.most)
	a.last[id] = announced{at: now, what: what, most: most}
	return most, true
}

func (a *announcements) forget(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.last, id)
}

type heartbeatRequest struct {
	LeaseToken  *string  `json:"lease_token"`
	Progress    *float64 `json:"progress"`
	CurrentStep *string  `json:"current_step"`
}

type completeRequest struct {
	LeaseToken *string         `json:"lease_token"`
	Result     json.RawMessage `json:"result"`
}

type failRequest struct {
	LeaseToken *string `json:"lease_token"`
	Error      *string `json:"error"`
	Retryable  *bool   `json:"retryable"`
}

// leaseCall decodes the body of a call about one lease into req and
// checks the job id and the token; it returns the id, the token and the
// lease's duration.
func leaseCall(c *gin.Context, req any, token func() *string) (string, string, time.Duration, error) {
	id := c.Param("job_id")
	if err := parseJobID(id); err != nil {
		return "", "", 0, err
	}
	if err := decodeStrict(c.Request.Body, req); err != nil {
		return "", "", 0, err
	}
	t := token()
	if t == nil || *t == "" {
		return "", "", 0, invalidArgf("lease_token is required")
	}
	d, ok := queue.LeaseOfToken(*t)
	if !ok {
		return "", "", 0, invalidArgf("lease_token %q is not one this service issued", truncate(*t, 64))
	}
	return id, *t, d, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// heartbeat answers POST /api/v1/leases/{job_id}/heartbeat: the lease
// extended, and the progress written as a Go handler's is.
func (s *server) heartbeat(c *gin.Context) {
	var req heartbeatRequest
	id, token, lease, err := leaseCall(c, &req, func() *string { return req.LeaseToken })
	if err != nil {
		s.writeError(c, err)
		return
	}
	step := ""
	if req.CurrentStep != nil {
		step = *req.CurrentStep
	}
	if req.Progress != nil && (*req.Progress < 0 || *req.Progress > 100) {
		s.writeError(c, invalidArgf("progress %g: want 0-100", *req.Progress))
		return
	}
	if req.Progress == nil && req.CurrentStep != nil {
		s.writeError(c, invalidArgf("current_step needs progress"))
		return
	}
	if len(step) > maxStepBytes {
		s.writeError(c, invalidArgf("current_step: at most %d bytes", maxStepBytes))
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := s.leaser.HeartbeatLease(ctx, id, token, lease, req.Progress, step, lease+presenceSlack); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"lease_seconds": int(lease / time.Second)})
}

// complete answers POST /api/v1/leases/{job_id}/complete.
func (s *server) complete(c *gin.Context) {
	var req completeRequest
	id, token, _, err := leaseCall(c, &req, func() *string { return req.LeaseToken })
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := s.leaser.CompleteLease(ctx, id, token, compactResult(req.Result)); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": queue.StateCompleted})
}

// fail answers POST /api/v1/leases/{job_id}/fail.
func (s *server) fail(c *gin.Context) {
	var req failRequest
	id, token, _, err := leaseCall(c, &req, func() *string { return req.LeaseToken })
	if err != nil {
		s.writeError(c, err)
		return
	}
	if req.Error == nil {
		s.writeError(c, invalidArgf("error is required: what went wrong"))
		return
	}
	retryable := req.Retryable == nil || *req.Retryable
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	to, err := s.leaser.FailLease(ctx, id, token, truncate(*req.Error, maxErrorBytes), retryable)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": to})
}

// maxErrorBytes bounds the error text a failed run stores.
const maxErrorBytes = 4096

// maxStepBytes bounds a heartbeat's current_step.
const maxStepBytes = 1024

type logRequest struct {
	LeaseToken *string          `json:"lease_token"`
	Lines      []logLineRequest `json:"lines"`
}

type logLineRequest struct {
	Level   *string    `json:"level"`
	Message *string    `json:"message"`
	Time    *time.Time `json:"time"`
}

// appendLog answers POST /api/v1/leases/{job_id}/log: lines added to the
// job's log, as a Go handler's ActiveJob.Log writes them.
func (s *server) appendLog(c *gin.Context) {
	var req logRequest
	id, token, _, err := leaseCall(c, &req, func() *string { return req.LeaseToken })
	if err != nil {
		s.writeError(c, err)
		return
	}
	if len(req.Lines) == 0 || len(req.Lines) > queue.MaxLogBatch {
		s.writeError(c, invalidArgf("lines: want 1-%d", queue.MaxLogBatch))
		return
	}
	lines := make([]queue.LogLine, len(req.Lines))
	for i, l := range req.Lines {
		if l.Message == nil {
			s.writeError(c, invalidArgf("lines[%d].message is required", i))
			return
		}
		lines[i] = queue.LogLine{Level: queue.LogInfo, Message: *l.Message}
		if l.Level != nil {
			lines[i].Level = *l.Level
		}
		if !queue.ValidLogLevel(lines[i].Level) {
			s.writeError(c, invalidArgf("lines[%d].level %q: want debug, info, warn or error", i, truncate(lines[i].Level, 16)))
			return
		}
		if l.Time != nil {
			lines[i].TimeMS = l.Time.UnixMilli()
		}
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := s.leaser.AppendLog(ctx, id, token, lines); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"lines": len(lines)})
}
