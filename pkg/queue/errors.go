package queue

import (
	"errors"
	"fmt"
)

var (
	// ErrJobNotFound: no job has this id (never submitted, deleted, or
	// removed by retention).
	ErrJobNotFound = errors.New("job not found")
	// ErrLeaseLost: a run tried to write to a job it no longer holds — the
	// job was cancelled, or its lease expired and it was recovered. The
	// write was refused.
	ErrLeaseLost = errors.New("lease lost")
	// ErrDuplicate: a submission's unique key is held by another job.
	ErrDuplicate = errors.New("duplicate job")
	// ErrInvalid: a submission or option is malformed; the error text says how.
	ErrInvalid = errors.New("invalid")
	// ErrQueueLimit: a submission to a queue the registry does not hold
	// yet, which holds Config.MaxQueues names already (queues.go).
	ErrQueueLimit = errors.New("too many queues")
	// ErrQuota: a submitter would have more unfinished jobs than its
	// quota allows (quota.go).
	ErrQuota = errors.New("quota of unfinished jobs exceeded")
	// ErrScheduleNotFound: no schedule has this name.
	ErrScheduleNotFound = errors.New("schedule not found")
	// ErrScheduleExists: a schedule of this name exists already.
	ErrScheduleExists = errors.New("schedule exists")
	// ErrScheduleLimit: a new schedule, and there are
	// Config.MaxSchedules already.
	ErrScheduleLimit = errors.New("too many schedules")
)

// TransitionError is a refused state change: the job is in state From,
// which does not lead to To. Its text is written for the person who
// asked for the change (an API client shows it as it is).
type TransitionError struct {
	ID   string
	From State
	To   State // "deleted" for a refused deletion
}

func (e *TransitionError) Error() string {
	switch {
	case e.To == StateCancelled && e.From == StateCancelled:
		return fmt.Sprintf("job %s is already cancelled", e.ID)
	case e.To == StateCancelled && e.From.Terminal():
		return fmt.Sprintf("job %s has already finished (%s); only unfinished jobs can be cancelled", e.ID, e.From)
	case e.To == StatePending:
		// Restart is the one user action that leads to pending.
		return fmt.Sprintf("only failed or cancelled jobs can be restarted; job %s is %s", e.ID, e.From)
	case e.To == "deleted":
		return fmt.Sprintf("only finished jobs can be deleted; job %s is %s (cancel it first)", e.ID, e.From)
	}
	return fmt.Sprintf("job %s is %s, so it cannot become %s", e.ID, e.From, e.To)
}

// LeaseLostError is ErrLeaseLost with the job's status at the time.
type LeaseLostError struct {
	ID     string
	Status State
}

func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("job %s: run no longer holds the job (status %s)", e.ID, e.Status)
}

func (e *LeaseLostError) Unwrap() error { return ErrLeaseLost }

// DuplicateError is ErrDuplicate with the job that holds the unique key.
type DuplicateError struct {
	UniqueKey string
	JobID     string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("unique key %q is held by job %s", e.UniqueKey, e.JobID)
}

func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// invalidError is ErrInvalid with a message that says what is wrong; its
// text is the message alone, so it reads well where it is shown.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}
