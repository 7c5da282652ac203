package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// Error codes: the stable, machine-readable "code" of every error body.
// docs/api.md lists them with their HTTP statuses.
const (
	CodeInvalidArgument      = "invalid_argument"       // 400: malformed id, parameter or body
	CodeUnknownJobType       = "unknown_job_type"       // 400: no built-in handler or live worker runs the type
	CodeUnauthenticated      = "unauthenticated"        // 401: API keys are configured and none valid was sent
	CodeForbidden            = "forbidden"              // 403: the key's role does not allow the action
	CodeNotFound             = "not_found"              // 404: no such job, or no such route
	CodeMethodNotAllowed     = "method_not_allowed"     // 405: the route exists for other methods
	CodeRequestTimeout       = "request_timeout"        // 408: the request body did not arrive within Config.BodyTimeout
	CodeInvalidTransition    = "invalid_transition"     // 409: the job's state does not allow the action
	CodeDuplicate            = "duplicate"              // 409: the unique_key is held by another job
	CodeLeaseLost            = "lease_lost"             // 409: the lease token no longer holds the job (error.status says what it is)
	CodeTooManyQueues        = "too_many_queues"        // 409: a new queue, and the queue registry is full
	CodeScheduleExists       = "schedule_exists"        // 409: a schedule of that name exists
	CodeTooManySchedules     = "too_many_schedules"     // 409: there are as many schedules as allowed
	CodePayloadTooLarge      = "payload_too_large"      // 413: the body is over Config.BodyLimit
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: a JSON body sent without Content-Type: application/json
	CodeRateLimited          = "rate_limited"           // 429: over the caller's rate limit; see Retry-After
	CodeTooManyStreams       = "too_many_streams"       // 429: the caller or the instance holds its most streams and long polls
	CodeQuotaExceeded        = "quota_exceeded"         // 429: the caller has its quota of unfinished jobs
	CodeUnavailable          = "unavailable"            // 503: Redis cannot be reached; retry
	CodeInternal             = "internal"               // 500: a bug; the details are in the log
)

// errorBody is the inside of every error response, {"error": errorBody}.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// JobID names the job holding a duplicate unique_key.
	JobID string `json:"job_id,omitempty"`
	// Status is the job's status when a lease token no longer holds it.
	Status queue.State `json:"status,omitempty"`
}

// requestError is an error the API raises itself, before or instead of
// asking the engine: it carries its own status and code.
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func invalidArgf(format string, args ...any) error {
	return &requestError{http.StatusBadRequest, CodeInvalidArgument, fmt.Sprintf(format, args...)}
}

var (
	errNoRoute  = &requestError{http.StatusNotFound, CodeNotFound, "no such route"}
	errNoMethod = &requestError{http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed on this route"}
	errSlowBody = &requestError{http.StatusRequestTimeout, CodeRequestTimeout, "the request body did not arrive in time"}
)

// closesConnection are the statuses after which the connection is closed
// (Connection: close): the client is refused or too slow, and keeping its
// connection open would only let it try again without paying for a new one.
var closesConnection = map[int]bool{
	http.StatusUnauthorized: true, http.StatusForbidden: true,
	http.StatusRequestTimeout: true, http.StatusRequestEntityTooLarge: true,
}

// The messages of 5xx bodies are fixed, so they never leak internals
// (addresses, stack traces); the log has the cause.
const (
	msgUnavailable = "the job store (Redis) is unreachable; retry shortly"
	msgInternal    = "internal error"
)

// errorTable is the one mapping from engine (and transport) errors to an
// HTTP status and code. The first matching row wins; an error matching no
// row is a 500.
var errorTable = []struct {
	match  func(error) bool
	status int
	code   string
}{
	{is(queue.ErrJobNotFound), http.StatusNotFound, CodeNotFound},
	{is(queue.ErrScheduleNotFound), http.StatusNotFound, CodeNotFound},
	{is(queue.ErrScheduleExists), http.StatusConflict, CodeScheduleExists},
	{is(queue.ErrScheduleLimit), http.StatusConflict, CodeTooManySchedules},
	{as[*queue.TransitionError], http.StatusConflict, CodeInvalidTransition},
	{is(queue.ErrLeaseLost), http.StatusConflict, CodeLeaseLost},
	{is(queue.ErrDuplicate), http.StatusConflict, CodeDuplicate},
	{is(queue.ErrQueueLimit), http.StatusConflict, CodeTooManyQueues},
	{is(queue.ErrInvalid), http.StatusBadRequest, CodeInvalidArgument},
	{as[*http.MaxBytesError], http.StatusRequestEntityTooLarge, CodePayloadTooLarge},
	{is(queue.ErrUnavailable), http.StatusServiceUnavailable, CodeUnavailable},
	// A Redis call that outlived Config.RequestTimeout.
	{is(context.DeadlineExceeded), http.StatusServiceUnavailable, CodeUnavailable},
	// The client went away mid-call; nobody reads this answer.
	{is(context.Canceled), http.StatusServiceUnavailable, CodeUnavailable},
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

func as[T error](err error) bool {
	var t T
	return errors.As(err, &t)
}

// classify maps err to its HTTP status and the body clients see. Only
// 4xx errors show their own text: 5xx bodies never leak internals.
func classify(err error) (int, errorBody) {
	var re *requestError
	if errors.As(err, &re) {
		return re.status, errorBody{Code: re.code, Message: re.msg}
	}
	for _, row := range errorTable {
		if !row.match(err) {
			continue
		}
		body := errorBody{Code: row.code, Message: err.Error()}
		switch {
		case row.status == http.StatusServiceUnavailable:
			body.Message = msgUnavailable
		case row.code == CodePayloadTooLarge:
			var tooLarge *http.MaxBytesError
			errors.As(err, &tooLarge)
			body.Message = fmt.Sprintf("the body is larger than the limit of %d bytes", tooLarge.Limit)
		case row.code == CodeDuplicate:
			var dup *queue.DuplicateError
			if errors.As(err, &dup) {
				body.JobID = dup.JobID
			}
		case row.code == CodeLeaseLost:
			var lost *queue.LeaseLostError
			if errors.As(err, &lost) {
				body.Status = lost.Status
				body.Message = fmt.Sprintf("the lease token no longer holds job %s; it is %s", lost.ID, lost.Status)
			}
		}
		return row.status, body
	}
	return http.StatusInternalServerError, errorBody{Code: CodeInternal, Message: msgInternal}
}

// writeError is the single exit point for errors: it writes err as the
// JSON error body with its status (and Retry-After on 503), logs 5xx, and
// aborts the handler chain.
func (s *server) writeError(c *gin.Context, err error) {
	status, body := classify(err)
	if id := c.Param("job_id"); id != "" && errors.Is(err, queue.ErrJobNotFound) {
		// The engine says "job <id>: job not found"; the route knows the id.
		body.Message = "no job has id " + id
	}
	if name := c.Param("name"); name != "" && errors.Is(err, queue.ErrScheduleNotFound) {
		body.Message = "no schedule is named " + name
	}
	s.logFailure(c, status, err)
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "1")
	}
	if closesConnection[status] {
		c.Header("Connection", "close")
	}
	c.AbortWithStatusJSON(status, gin.H{"error": body})
}

// logFailure logs the server-side failures (5xx) with their cause.
func (s *server) logFailure(c *gin.Context, status int, err error) {
	r := c.Request
	switch {
	case status == http.StatusServiceUnavailable && r.Context().Err() == nil:
		s.logFor(c).Warn("redis unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	case status >= 500 && status != http.StatusServiceUnavailable:
		s.logFor(c).Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}
