package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A job's events — its state changes, its progress, its log lines — are
// kept in Redis with the job, in order, so that a client that lost its
// stream can be given every event it missed, by any apiserver. Every
// event's id is the job's version after it (a log line takes a version
// too, log.go), so ids are increasing and one number says how far a
// client got.
//
// The state events are kept in the job's history list ({T}:jobevents:<id>),
// written by the transition scripts themselves (lua/lib.lua add_history)
// from the job's first claim on: a job that never ran has none, its
// record says all there is. Two events of each run are kept without a push
// of their own, the hot path's claim and completion (lua/lib.lua
// CLAIM_EVENT): the claim's entry waits in the job's record (fClaimEvent)
// until the next push takes it into the list, and a completed job's record
// is its last event (stateEvents puts them back in place). The log lines are kept in their own list
// ({T}:log:<id>), so that a chatty handler cannot push the state changes
// out of the history. Both are bounded (MaxEventHistory,
// Config.LogLines) and removed with the job (delete.lua, expire.lua).

// MaxEventHistory bounds a job's history of state events: its newest
// events are kept (lua/lib.lua HISTORY_LIMIT; a test keeps them equal).
const MaxEventHistory = 1000

// HistoryKinds selects the events Events reads.
type HistoryKinds int

// The kinds of a job's events.
const (
	// HistoryStates are the state changes and progress reports.
	HistoryStates HistoryKinds = 1 << iota
	// HistoryLogs are the log lines.
	HistoryLogs
	// HistoryAll is both, merged in order.
	HistoryAll = HistoryStates | HistoryLogs
)

// JobEvents is a job's kept events after some event id, read at one instant
// together with the job.
type JobEvents struct {
	// Job is the job as it is at the read.
	Job *Job
	// Events are the kept events after the id asked for, oldest first: a
	// state event has Status set, a log line Log. Type and Queue are not
	// set (the Job has them).
	Events []Event
	// LogsDropped is how many of the job's log lines were let go: the
	// oldest, beyond Config.LogLines, and those a worker could not send.
	LogsDropped int64
	// LastState is the newest kept state event, whether after the id
	// asked for or not (nil when none is kept, or states were not read):
	// a client that has it knows the job's state even when the job's
	// version moved on since (a log line takes a version).
	LastState *Event
}

// fLogsDropped is the job hash field counting the log lines let go.
const fLogsDropped = "logs_dropped"

// Events reads job id with its kept events of the given kinds whose ids
// are above after (0 for all), in one transaction: nothing written in
// between is seen half. A job further behind than the bounds gets what is
// kept; its record has the latest state all the same.
func (c *Client) Events(ctx context.Context, id string, after int64, kinds HistoryKinds) (*JobEvents, error) {
	k := c.shards.of(id)
	var job *redis.MapStringStringCmd
	var states, logs *redis.StringSliceCmd
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		job = p.HGetAll(ctx, k.job(id))
		if kinds&HistoryStates != 0 {
			states = p.LRange(ctx, k.jobEvents(id), 0, -1)
		}
		if kinds&HistoryLogs != 0 {
			logs = p.LRange(ctx, k.log(id), 0, -1)
		}
		return nil
	})
	if err != nil {
		return nil, storageErr(err)
	}
	h := job.Val()
	if len(h) == 0 {
		return nil, fmt.Errorf("job %s: %w", id, ErrJobNotFound)
	}
	out := &JobEvents{Job: jobFromHash(id, h)}
	out.LogsDropped, _ = strconv.ParseInt(h[fLogsDropped], 10, 64)
	var se, le []Event
	if states != nil {
		all := stateEvents(id, states.Val(), h)
		if n := len(all); n > 0 {
			out.LastState = &all[n-1]
		}
		for _, ev := range all {
			if ev.Version > after {
				se = append(se, ev)
			}
		}
	}
	if logs != nil {
		le = parseEntries(id, logs.Val(), after, parseLogEntry)
	}
	out.Events = mergeEvents(se, le)
	return out, nil
}

// parseEntries decodes the entries of a list whose ids are above after;
// an entry that does not decode is skipped (none should).
func parseEntries(id string, entries []string, after int64, parse func(string) (Event, bool)) []Event {
	out := make([]Event, 0, len(entries))
	for _, e := range entries {
		ev, ok := parse(e)
		if ok && ev.Version > after {
			ev.JobID = id
			out = append(out, ev)
		}
	}
	return out
}

// stateEvents is a job's kept state events, oldest first, the newest
// MaxEventHistory: its history list, then the entry its last claim keeps
// in its record until the next push (fClaimEvent), then a completed job's
// record, its completion's event (lua/lib.lua CLAIM_EVENT). They are put
// in id order, each id once: a pipeline's completion pushes its event
// too, after a claim's entry still in the record.
func stateEvents(id string, list []string, h map[string]string) []Event {
	out := parseEntries(id, list, 0, parseStateEntry)
	if c := h[fClaimEvent]; c != "" {
		out = parseAppend(out, id, c)
	}
	if h[fStatus] == string(StateCompleted) && len(out) > 0 {
		ev := Event{JobID: id, Status: StateCompleted, Progress: 100, CurrentStep: completedStep}
		ev.Version, _ = strconv.ParseInt(h[fVersion], 10, 64)
		ev.UpdatedAtMS, _ = strconv.ParseInt(h[fUpdatedAt], 10, 64)
		out = append(out, ev)
	}
	slices.SortStableFunc(out, func(a, b Event) int { return cmp.Compare(a.Version, b.Version) })
	out = slices.CompactFunc(out, func(a, b Event) bool { return a.Version == b.Version })
	if len(out) > MaxEventHistory {
		out = out[len(out)-MaxEventHistory:]
	}
	return out
}

// parseAppend appends the state entry e of job id to out (none should
// fail to decode; one that does is skipped).
func parseAppend(out []Event, id, e string) []Event {
	if ev, ok := parseStateEntry(e); ok {
		ev.JobID = id
		out = append(out, ev)
	}
	return out
}

// parseStateEntry decodes "<version> <status> <progress> <updated_at> <step JSON>".
func parseStateEntry(e string) (Event, bool) {
	f := strings.SplitN(e, " ", 5)
	if len(f) != 5 {
		return Event{}, false
	}
	var ev Event
	var err [4]error
	ev.Version, err[0] = strconv.ParseInt(f[0], 10, 64)
	ev.Status = State(f[1])
	ev.Progress, err[1] = strconv.ParseFloat(f[2], 64)
	ev.UpdatedAtMS, err[2] = strconv.ParseInt(f[3], 10, 64)
	err[3] = json.Unmarshal([]byte(f[4]), &ev.CurrentStep)
	return ev, err == [4]error{}
}

// parseLogEntry decodes "<version> <level> <time ms> <message JSON>".
func parseLogEntry(e string) (Event, bool) {
	f := strings.SplitN(e, " ", 4)
	if len(f) != 4 {
		return Event{}, false
	}
	var ev Event
	var ms int64
	var err [3]error
	ev.Version, err[0] = strconv.ParseInt(f[0], 10, 64)
	ms, err[1] = strconv.ParseInt(f[2], 10, 64)
	line := &LogLine{Level: f[1], TimeMS: ms}
	err[2] = json.Unmarshal([]byte(f[3]), &line.Message)
	ev.Log = line
	return ev, err == [3]error{}
}

// mergeEvents merges two lists in event id order.
func mergeEvents(a, b []Event) []Event {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]Event, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Version < b[0].Version {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}
