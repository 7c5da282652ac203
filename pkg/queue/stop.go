package queue

import (
	"context"
	"errors"
)

// StopReason says why a handler's context ended before the handler
// returned. The worker decides what to record from it; a handler, or
// what wraps it (metrics), may want to know it too: a cancel is not a
// failure, and a timeout is.
type StopReason string

// The reasons RunStopped reports.
const (
	// StopCancelled: the job was cancelled; it stays cancelled whatever
	// the handler returns.
	StopCancelled StopReason = "cancelled"
	// StopTimeout: the job's timeout passed; the run fails (and is
	// retried while attempts remain).
	StopTimeout StopReason = "timeout"
	// StopLeaseLost: the run lost its lease and another worker recovered
	// the job; what the handler returns is discarded.
	StopLeaseLost StopReason = "lease_lost"
	// StopShutdown: the worker's shutdown timeout passed; the job is put
	// back to pending without charging the attempt.
	StopShutdown StopReason = "shutdown"
)

// RunStopped reports why ctx, the context a worker gave a handler, was
// ended by the worker; "" while it has not been, or for a context no
// worker made.
func RunStopped(ctx context.Context) StopReason {
	cause := context.Cause(ctx)
	switch {
	case cause == nil:
		return ""
	case errors.Is(cause, errCancelledByUser):
		return StopCancelled
	case errors.Is(cause, errJobTimeout):
		return StopTimeout
	case errors.Is(cause, errRunLeaseLost):
		return StopLeaseLost
	case errors.Is(cause, errShutdown):
		return StopShutdown
	}
	return ""
}
