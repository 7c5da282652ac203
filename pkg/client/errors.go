package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes: the stable "code" of the API's error bodies (docs/api.md).
// Match on them, or on the sentinels below with errors.Is.
const (
	CodeInvalidArgument   = "invalid_argument"   // 400: malformed id, parameter or body
	CodeUnknownJobType    = "unknown_job_type"   // 400: nothing runs the submitted type
	CodeNotFound          = "not_found"          // 404: no such job
	CodeMethodNotAllowed  = "method_not_allowed" // 405
	CodeInvalidTransition = "invalid_transition" // 409: the job's state does not allow the action
	CodeDuplicate         = "duplicate"          // 409: the unique_key is held by another job
	CodeTooManyQueues     = "too_many_queues"    // 409: a new queue, and the server holds its most queue names
	CodeScheduleExists    = "schedule_exists"    // 409: a schedule of that name exists
	CodeTooManySchedules  = "too_many_schedules" // 409: the server holds its most schedules
	CodePayloadTooLarge   = "payload_too_large"  // 413
	CodeQuotaExceeded     = "quota_exceeded"     // 429: the key has its quota of unfinished jobs
	CodeTooManyStreams    = "too_many_streams"   // 429: the key holds its most streams and long polls on that server
	CodeUnavailable       = "unavailable"        // 503: the server's Redis is away; retry
	CodeInternal          = "internal"           // 500
)

// Sentinels matched by *Error with errors.Is: one per HTTP status the
// API answers with, and one per 409 and 400 code worth telling apart.
var (
	ErrBadRequest        = errors.New("bad request")                     // 400
	ErrUnauthorized      = errors.New("unauthorized")                    // 401: no or bad API key
	ErrForbidden         = errors.New("forbidden")                       // 403: the key's role does not allow it
	ErrNotFound          = errors.New("not found")                       // 404
	ErrConflict          = errors.New("conflict")                        // 409
	ErrPayloadTooLarge   = errors.New("payload too large")               // 413
	ErrRateLimited       = errors.New("rate limited")                    // 429
	ErrUnavailable       = errors.New("service unavailable")             // 503
	ErrInvalidTransition = errors.New("state does not allow the action") // 409 invalid_transition
	ErrDuplicate         = errors.New("duplicate unique key")            // 409 duplicate
	ErrUnknownJobType    = errors.New("unknown job type")                // 400 unknown_job_type
)

// sentinelStatus and sentinelCode say which *Error each sentinel matches.
var (
	sentinelStatus = map[error]int{
		ErrBadRequest: 400, ErrUnauthorized: 401, ErrForbidden: 403, ErrNotFound: 404,
		ErrConflict: 409, ErrPayloadTooLarge: 413, ErrRateLimited: 429, ErrUnavailable: 503,
	}
	sentinelCode = map[error]string{
		ErrInvalidTransition: CodeInvalidTransition, ErrDuplicate: CodeDuplicate,
		ErrUnknownJobType: CodeUnknownJobType,
	}
	// statusOfCode gives a batch item's error (which has no status of its
	// own) the status the same error has on a single submission.
	statusOfCode = map[string]int{
		CodeInvalidArgument: 400, CodeUnknownJobType: 400, CodeDuplicate: 409,
		CodePayloadTooLarge: 413, CodeUnavailable: 503, CodeInternal: 500,
	}
)

// Error is an error answer of the API: its HTTP status and the body's
// {"error": {"code", "message"}}.
type Error struct {
	StatusCode int
	// Code is the API's stable error code (the Code constants); "" when
	// the answer was not the API's JSON (say, a proxy's error page).
	Code    string
	Message string
	// JobID names the job holding the unique key of a duplicate.
	JobID string
	// RetryAfter is the server's Retry-After (429, 503), else 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = strings.ToLower(http.StatusText(e.StatusCode))
	}
	if e.JobID != "" {
		return fmt.Sprintf("%s (%d %s, job %s)", e.Message, e.StatusCode, code, e.JobID)
	}
	return fmt.Sprintf("%s (%d %s)", e.Message, e.StatusCode, code)
}

// Is reports whether target is the sentinel of e's status or code, so
// errors.Is(err, ErrNotFound) holds for every 404.
func (e *Error) Is(target error) bool {
	if status, ok := sentinelStatus[target]; ok {
		return e.StatusCode == status
	}
	if code, ok := sentinelCode[target]; ok {
		return e.Code == code
	}
	return false
}

// Temporary reports whether the same request may succeed later: 429, 502,
// 503 and 504 (a load balancer's answer while an instance restarts).
func (e *Error) Temporary() bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout:
		return true
	}
	return false
}

// errorDetail is the inside of an error body.
type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	JobID   string `json:"job_id,omitempty"`
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// errorOf reads an error answer (status ≥ 400) into an *Error.
func errorOf(resp *http.Response) *Error {
	e := &Error{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var body struct {
		Error *errorDetail `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != nil && body.Error.Code != "" {
		e.Code, e.Message, e.JobID = body.Error.Code, body.Error.Message, body.Error.JobID
		return e
	}
	// Not the API's body: a proxy or load balancer answered.
	e.Message = strings.TrimSpace(string(data))
	if len(e.Message) > 200 || e.Message == "" || strings.HasPrefix(e.Message, "<") {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return e
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		return max(time.Duration(n)*time.Second, 0)
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
