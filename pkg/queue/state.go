package queue

// State is a job's place in its lifecycle. docs/state_machine.md draws the
// transitions; every one of them is a Lua script in lua/.
type State string

const (
	// StateWaiting: a job of a pipeline whose parents have not all
	// completed. Entered by the pipeline's submit and restart (and a
	// restart of the job) while a parent is unfinished. Left for pending
	// by the completion of its last unfinished parent, in that very
	// script (pipeline_complete), and for cancelled by a cancel or by the
	// failure of an ancestor.
	StateWaiting State = "waiting"
	// StatePending: runnable, waiting in its queue's pending set. Entered
	// by submit, the completion of a waiting job's last parent, promote (scheduled/retrying when due), reap (lease expired
	// with attempts left), requeue (graceful worker shutdown) and restart.
	// Left by claim (→ running) and cancel.
	StatePending State = "pending"
	// StateScheduled: submitted with a future run_at. Left by promote
	// (→ pending) and cancel.
	StateScheduled State = "scheduled"
	// StateRunning: claimed by a worker that holds its lease and run token.
	// Left by complete, fail (→ failed or retrying), cancel, reap and requeue.
	StateRunning State = "running"
	// StateRetrying: the last run failed with attempts left; waits out a
	// backoff. Left by promote (→ pending) and cancel.
	StateRetrying State = "retrying"
	// StateCompleted: finished successfully. Terminal; removed by the
	// retention janitor or by delete.
	StateCompleted State = "completed"
	// StateFailed: failed permanently or out of attempts. Left by restart
	// (→ pending), the janitor and delete.
	StateFailed State = "failed"
	// StateCancelled: cancelled by a user. Left by restart (→ pending), the
	// janitor and delete.
	StateCancelled State = "cancelled"
)

// States lists every state, in lifecycle order.
func States() []State {
	return []State{StateWaiting, StatePending, StateScheduled, StateRunning, StateRetrying,
		StateCompleted, StateFailed, StateCancelled}
}

// Terminal reports whether no worker will ever move the job again on its
// own: only a user's restart or deletion changes a terminal job.
func (s State) Terminal() bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

// Valid reports whether s is one of States().
func (s State) Valid() bool {
	for _, v := range States() {
		if s == v {
			return true
		}
	}
	return false
}
