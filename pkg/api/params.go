package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/google/uuid"
)

// Parsing and validation of everything a request carries: job ids, query
// parameters, headers and bodies. Each parser returns a *requestError (or
// an engine ErrInvalid, or *http.MaxBytesError) that maps to a 4xx.

// Submission limits beyond the engine's own (queue.EnqueueParams.Validate).
const maxDelaySeconds = int64(365 * 24 * 3600) // 31536000

// submitLimits are the server's bounds on what a submission may ask for.
type submitLimits struct {
	// maxTimeout bounds a run, and is the timeout of a job without one.
	maxTimeout time.Duration
}

// parseJobID accepts only the form the engine issues: a UUID in its
// canonical lowercase 36-character spelling. Other spellings of the same
// UUID (uppercase, braces, urn:) are refused rather than normalised, so a
// job has exactly one URL.
func parseJobID(s string) error {
	if len(s) != 36 {
		return invalidArgf("job id %q: want a UUID like 123e4567-e89b-12d3-a456-426614174000", s)
	}
	u, err := uuid.Parse(s)
	if err != nil || u.String() != s {
		return invalidArgf("job id %q: want a lowercase UUID like 123e4567-e89b-12d3-a456-426614174000", s)
	}
	return nil
}

// pollParams are the long poll's query parameters.
type pollParams struct {
	timeout time.Duration
	// current is the status the client knows; "" when not given.
	current queue.State
}

// parsePollParams reads timeout (whole seconds, 1-300, default 30) and
// current_status (a state name). A parameter that is present must be
// valid, empty values included.
func parsePollParams(q url.Values) (pollParams, error) {
	p := pollParams{timeout: DefaultPollTimeout}
	if vs, ok := q["timeout"]; ok {
		// Compared in seconds: converting first could overflow to a
		// negative duration.
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > int(MaxPollTimeout/time.Second) {
			return p, invalidArgf("timeout %q: want whole seconds from 1 to %d", vs[0], int(MaxPollTimeout/time.Second))
		}
		p.timeout = time.Duration(n) * time.Second
	}
	if vs, ok := q["current_status"]; ok {
		p.current = queue.State(vs[0])
		if !p.current.Valid() {
			return p, invalidArgf("current_status %q: want one of %s", vs[0], stateList())
		}
	}
	return p, nil
}

// parseLastEventID reads an SSE Last-Event-ID header: the version of the
// last event the client saw, or -1 without one.
func parseLastEventID(h string) (int64, error) {
	if h == "" {
		return -1, nil
	}
	v, err := strconv.ParseInt(h, 10, 64)
	if err != nil || v < 0 {
		return 0, invalidArgf("Last-Event-ID %q: want an event id this server sent", h)
	}
	return v, nil
}

// parseListParams reads the list's filters (status, type, queue,
// created_after, created_before), paging and include (a
// comma-separated list of payload and result: the fields a summary leaves
// out); the engine checks the filters' values (queue.ErrInvalid).
func parseListParams(q url.Values) (queue.ListParams, error) {
	p := queue.ListParams{Status: queue.State(q.Get("status")), Type: q.Get("type"),
		Queue: q.Get("queue"), Cursor: q.Get("cursor")}
	var err error
	if p.CreatedAfter, err = timeParam(q, "created_after"); err != nil {
		return p, err
	}
	if p.CreatedBefore, err = timeParam(q, "created_before"); err != nil {
		return p, err
	}
	if vs, ok := q["include"]; ok {
		for _, f := range strings.Split(vs[0], ",") {
			switch strings.TrimSpace(f) {
			case "payload":
				p.WithPayload = true
			case "result":
				p.WithResult = true
			default:
				return p, invalidArgf("include %q: want payload, result or payload,result", vs[0])
			}
		}
	}
	if vs, ok := q["limit"]; ok {
		n, err := strconv.Atoi(vs[0])
		if err != nil || n < 1 || n > queue.MaxListLimit {
			return p, invalidArgf("limit %q: want 1 to %d", vs[0], queue.MaxListLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// timeParam reads an optional RFC 3339 time parameter (zero when absent).
func timeParam(q url.Values, name string) (time.Time, error) {
	vs, ok := q[name]
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, vs[0])
	if err != nil || t.UnixMilli() <= 0 {
		return time.Time{}, invalidArgf("%s %q: want an RFC 3339 time like 2024-01-21T10:30:00Z", name, vs[0])
	}
	return t, nil
}

// submitRequest is one job as a client submits it.
type submitRequest struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Queue   string          `json:"queue"`
	// Pointers tell "absent" from zero.
	Priority       *int    `json:"priority"`
	MaxRetries     *int    `json:"max_retries"`
	TimeoutSeconds *int64  `json:"timeout_seconds"`
	RunAt          *string `json:"run_at"`
	DelaySeconds   *int64  `json:"delay_seconds"`
	UniqueKey      string  `json:"unique_key"`
	CallbackURL    string  `json:"callback_url"`
	// Deadline is an RFC 3339 time (a JSON string) or seconds from now
	// (a JSON number).
	Deadline json.RawMessage `json:"deadline"`
}

// batchRequest is a batch submission; each job is decoded on its own, so
// one bad job fails alone.
type batchRequest struct {
	Jobs []json.RawMessage `json:"jobs"`
}

// decodeStrict decodes exactly one JSON value from r into v: unknown
// fields and trailing data are refused. A body over the limit stays a
// *http.MaxBytesError (413).
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return bodyError(err)
		}
		return invalidArgf("request body: unexpected data after the JSON value")
	}
	return nil
}

func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded): // limitBody's deadline
		return errSlowBody
	case errors.Is(err, io.EOF):
		return invalidArgf("request body is empty: want a JSON object")
	}
	return invalidArgf("request body: %v", err)
}

// parseSubmit decodes and validates one submission.
func parseSubmit(body io.Reader, now time.Time, lim submitLimits) (queue.EnqueueParams, error) {
	var req submitRequest
	if err := decodeStrict(body, &req); err != nil {
		return queue.EnqueueParams{}, err
	}
	return req.params(now, lim)
}

// parseBatch decodes a batch submission: the envelope must be valid as a
// whole; each job gets its own result, a decoding or validation error
// included.
func parseBatch(body io.Reader, now time.Time, lim submitLimits) ([]queue.EnqueueParams, []error, error) {
	var req batchRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, nil, err
	}
	if len(req.Jobs) == 0 || len(req.Jobs) > MaxBatch {
		return nil, nil, invalidArgf("jobs: want 1 to %d jobs, got %d", MaxBatch, len(req.Jobs))
	}
	params := make([]queue.EnqueueParams, len(req.Jobs))
	errs := make([]error, len(req.Jobs))
	for i, raw := range req.Jobs {
		var one submitRequest
		if err := decodeStrict(bytes.NewReader(raw), &one); err != nil {
			errs[i] = err
			continue
		}
		params[i], errs[i] = one.params(now, lim)
	}
	return params, errs, nil
}

// params validates a submission and turns it into the engine's
// parameters, defaults filled in.
func (r submitRequest) params(now time.Time, lim submitLimits) (queue.EnqueueParams, error) {
	p := queue.EnqueueParams{Type: r.Type, Queue: r.Queue, UniqueKey: r.UniqueKey, CallbackURL: r.CallbackURL}
	if r.Type == "" {
		return p, invalidArgf("type is required")
	}
	if len(r.Payload) > 0 && string(r.Payload) != "null" {
		// encoding/json keeps a raw value's bytes as they came: stored so,
		// invalid UTF-8 would be served to every client, and break the
		// strict ones (a list page with one such job, for all its jobs).
		if !utf8.Valid(r.Payload) {
			return p, invalidArgf("payload is not valid UTF-8 (JSON text must be)")
		}
		p.Payload = r.Payload
	}
	if err := checkUniqueKey(r.UniqueKey); err != nil {
		return p, err
	}
	if r.Priority != nil {
		if *r.Priority < 0 || *r.Priority > queue.MaxPriority {
			return p, invalidArgf("priority %d: want 0 to %d", *r.Priority, queue.MaxPriority)
		}
		p.Priority = *r.Priority
	}
	if r.MaxRetries != nil {
		if *r.MaxRetries < 0 || *r.MaxRetries > queue.MaxMaxRetries {
			return p, invalidArgf("max_retries %d: want 0 to %d", *r.MaxRetries, queue.MaxMaxRetries)
		}
		p.MaxRetries = r.MaxRetries
	}
	// No run is unbounded: no timeout (or 0) is the server's maximum.
	p.Timeout = lim.maxTimeout
	if maxSecs := int64(lim.maxTimeout / time.Second); r.TimeoutSeconds != nil {
		if *r.TimeoutSeconds < 0 || *r.TimeoutSeconds > maxSecs {
			return p, invalidArgf("timeout_seconds %d: want 0 to %d (the server's maximum run time; 0 means it)", *r.TimeoutSeconds, maxSecs)
		}
		if *r.TimeoutSeconds > 0 {
			p.Timeout = time.Duration(*r.TimeoutSeconds) * time.Second
		}
	}
	switch {
	case r.RunAt != nil && r.DelaySeconds != nil:
		return p, invalidArgf("give run_at or delay_seconds, not both")
	case r.RunAt != nil:
		t, err := time.Parse(time.RFC3339, *r.RunAt)
		if err != nil {
			return p, invalidArgf("run_at %q: want an RFC 3339 time like 2024-01-21T10:30:00Z", *r.RunAt)
		}
		p.RunAt = t
	case r.DelaySeconds != nil:
		if *r.DelaySeconds < 0 || *r.DelaySeconds > maxDelaySeconds {
			return p, invalidArgf("delay_seconds %d: want 0 to %d", *r.DelaySeconds, maxDelaySeconds)
		}
		if *r.DelaySeconds > 0 {
			p.RunAt = now.Add(time.Duration(*r.DelaySeconds) * time.Second)
		}
	}
	if len(r.Deadline) > 0 && string(r.Deadline) != "null" {
		d, err := parseDeadline(r.Deadline, now)
		if err != nil {
			return p, err
		}
		p.Deadline = d
	}
	if err := p.Validate(); err != nil {
		return p, err // queue.ErrInvalid: type, queue, unique_key or deadline malformed
	}
	return p, nil
}

// maxDeadlineSeconds bounds a deadline given in seconds from now (a year).
const maxDeadlineSeconds = 366 * 24 * 3600

// parseDeadline reads a submission's deadline: an RFC 3339 time, or a
// number of seconds from now.
func parseDeadline(raw json.RawMessage, now time.Time) (time.Time, error) {
	var at string
	if json.Unmarshal(raw, &at) == nil {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return t, invalidArgf("deadline %q: want an RFC 3339 time like 2024-01-21T10:30:00Z, or seconds from now", at)
		}
		return t, nil
	}
	var secs float64
	if err := json.Unmarshal(raw, &secs); err != nil || secs <= 0 || secs > maxDeadlineSeconds {
		return time.Time{}, invalidArgf("deadline %s: want an RFC 3339 time, or seconds from now (more than 0, at most %d)",
			raw, maxDeadlineSeconds)
	}
	return now.Add(time.Duration(secs * float64(time.Second))), nil
}

// checkUniqueKey accepts printable ASCII only (space to tilde): the key
// names a Redis key and is echoed in responses and logs, where control
// characters or look-alike letters have no business.
func checkUniqueKey(k string) error {
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return invalidArgf("unique_key: want printable ASCII only (space to ~), found byte 0x%02x at %d", k[i], i)
		}
	}
	return nil
}

func stateList() string {
	var b []byte
	for i, s := range queue.States() {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, s...)
	}
	return string(b)
}
