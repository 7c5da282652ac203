package queue

// State is a job's place in its lifecycle. docs/state_machine.md draws the
// transitions; every one of them is a Lua script in lua/.
type State string

const (
	// StatePending: runnable, waiting in its queue's pending set. Entered
	// by submit, promote (scheduled/retrying when due), reap (lease expired
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
	return []State{StatePending, StateScheduled, StateRunning, StateRetrying,
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
