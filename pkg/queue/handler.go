package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// Handler runs jobs of one type. It returns the job's result (marshalled
// to JSON; a json.RawMessage is stored as is) or an error: a plain error is
// retried while attempts remain, Permanent(err) fails the job at once.
//
// ctx is cancelled when the job is cancelled, when its timeout passes, when
// the run loses its lease, and at the end of a worker's graceful shutdown;
// handlers should return promptly then.
type Handler interface {
	Handle(ctx context.Context, job *ActiveJob) (any, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job *ActiveJob) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, job *ActiveJob) (any, error) { return f(ctx, job) }

// Mux maps job types to handlers. It is safe for concurrent use.
type Mux struct {
	mu sync.RWMutex
	m  map[string]Handler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{m: make(map[string]Handler)} }

// Handle registers h for jobs of type typ, replacing any earlier one.
func (m *Mux) Handle(typ string, h Handler) {
	if !typePattern.MatchString(typ) {
		panic(fmt.Sprintf("queue: invalid job type %q", typ)) // a programming error
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m[typ] = h
}

// HandleFunc registers f for jobs of type typ.
func (m *Mux) HandleFunc(typ string, f func(ctx context.Context, job *ActiveJob) (any, error)) {
	m.Handle(typ, HandlerFunc(f))
}

// Lookup returns the handler of typ.
func (m *Mux) Lookup(typ string) (Handler, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	h, ok := m.m[typ]
	return h, ok
}

// Types lists the registered types, sorted.
func (m *Mux) Types() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.m))
	for t := range m.m {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// ActiveJob is a job as its handler sees it: the record as claimed, plus
// the run's progress reporting and its log.
type ActiveJob struct {
	*Job
	progress func(percent float64, step string)
	log      *slog.Logger
	run      *run // nil outside a worker

	// inputs are the job's parents' results once read (Inputs), guarded
	// by imu.
	imu        sync.Mutex
	inputs     map[string]json.RawMessage
	inputsRead bool
}

// NewActiveJob builds an ActiveJob outside a worker, for testing handlers:
// onProgress receives every Progress call (nil ignores them).
func NewActiveJob(job *Job, onProgress func(percent float64, step string)) *ActiveJob {
	if onProgress == nil {
		onProgress = func(float64, string) {}
	}
	return &ActiveJob{Job: job, progress: onProgress}
}

// Log is the logger for the handler's own lines. Each line goes to the
// worker's logger, with the job's id, type and attempt, and — at Info and
// above, or any level the worker's logger takes — to the job's log, kept
// with the job (level, message with its attributes as key=value, time;
// log.go). Like Progress it never blocks on Redis: lines are written in
// batches, and all of a run's are written before its final state.
func (a *ActiveJob) Log() *slog.Logger {
	l := a.log
	if l == nil {
		l = slog.Default()
	}
	l = l.With("job_id", a.ID, "type", a.Type, "attempt", a.Attempts)
	if a.run == nil {
		return l
	}
	return slog.New(&jobLogHandler{inner: l.Handler(), r: a.run})
}

// Inputs returns the results of the job's parents in its pipeline, by
// their keys (a parent that returned nothing: JSON null); nil for a job
// without parents. They are read at the first call and kept: a handler
// that never asks for them costs Redis nothing. Concurrent calls of a
// worker's handlers (those of one claim start together) share a round
// trip, and a parent of several of them is read once.
func (a *ActiveJob) Inputs(ctx context.Context) (map[string]json.RawMessage, error) {
	a.imu.Lock()
	defer a.imu.Unlock()
	if a.inputsRead || a.run == nil {
		return a.inputs, nil
	}
	if j := a.Job; len(j.parents) > 0 || j.Pipeline != "" && !j.edges {
		out, err := a.run.w.c.inputReads.do(ctx, []*Job{j})
		if err == nil {
			err = out[0].err
		}
		if err != nil {
			return nil, fmt.Errorf("read the results of its parents: %w", err)
		}
		a.inputs = out[0].inputs
	}
	a.inputsRead = true
	return a.inputs, nil
}

// WithInputs sets what Inputs returns, for testing a handler outside a
// worker (NewActiveJob), and returns a.
func (a *ActiveJob) WithInputs(inputs map[string]json.RawMessage) *ActiveJob {
	a.imu.Lock()
	defer a.imu.Unlock()
	a.inputs, a.inputsRead = inputs, true
	return a
}

// Progress reports the run's progress (percent, clamped to 0-100) and
// current step. It never blocks on Redis: writes are coalesced to at most
// one per the worker's progress interval, and the last value reported is
// always written before the job's final state.
func (a *ActiveJob) Progress(percent float64, step string) {
	a.progress(percent, step)
}

// Decode unmarshals the payload into v, as a permanent error when it does
// not fit (a retry cannot fix a bad payload).
func (a *ActiveJob) Decode(v any) error {
	if err := json.Unmarshal(a.Payload, v); err != nil {
		return Permanent(fmt.Errorf("invalid payload: %w", err))
	}
	return nil
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the job fails at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
