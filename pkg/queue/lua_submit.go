package queue

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// submitJob is one job of a submit.lua call: its new id, its parameters
// (validated, defaults filled) and its index in the caller's list.
type submitJob struct {
	at int
	id string
	p  *EnqueueParams
}

// submitCall is one submit.lua call: jobs of one queue, created in one
// shard.
type submitCall struct {
	shard int
	queue string
	jobs  []submitJob
}

// luaSubmit runs lua/submit.lua, one call per submitCall, in one durable
// round trip (write.go): each call creates its jobs, pending, or scheduled
// when their run_at is ahead; the ids of owned jobs go into their owners'
// owned sets (quota.go) in the same round trip. It returns each job's
// outcome, by call then job: the job, or *DuplicateError for a unique key
// another job holds, or ErrQueueLimit for all of a call to a new queue
// when the queue registry is full, with an error wrapping
// ErrNotReplicated beside the job when fewer replicas than
// Config.WaitReplicas acknowledged it.
func (c *Client) luaSubmit(ctx context.Context, calls []*submitCall, owned map[string][]string) [][]BatchResult {
	lcs := make([]*luaCall, len(calls))
	for i, sc := range calls {
		k, q := c.shards[sc.shard], sc.queue
		types := laneTypesOf(sc.jobs)
		keys := make([]string, 0, 7+2*len(types)+len(sc.jobs))
		keys = append(keys, k.scheduled(q), k.counts(), k.queues(), k.seq(), k.laneTypes(q))
		args := make([]any, 0, 5+len(types)+4*len(sc.jobs))
		args = append(args, q, c.keys.eventsChannel(), c.wakeCap, c.maxQueues, len(types))
		for _, t := range types {
			keys = append(keys, k.lane(q, t), k.laneWake(q, t))
			args = append(args, t)
		}
		for _, j := range sc.jobs {
			keys, args = submitJobArgs(k, j, keys, args)
		}
		keys = append(keys, k.deadlines())
		keys = append(keys, k.history())
		lcs[i] = &luaCall{script: c.scripts.submit, keys: keys, args: args}
	}
	var record func(context.Context, *write) error
	if len(owned) > 0 {
		record = func(ctx context.Context, w *write) error { return c.recordOwned(ctx, w, owned) }
	}
	c.runScriptsWith(ctx, true, record, lcs...)
	out := make([][]BatchResult, len(calls))
	for i, sc := range calls {
		out[i] = c.submitted(sc, lcs[i])
	}
	return out
}

// submitJobArgs appends job j's keys and arguments to a submit.lua
// call's: its hash, and its unique key if it has one; its id, type and
// payload, then an empty string for a job whose other parameters are
// all defaults, or "1" and each of them.
func submitJobArgs(k keyspace, j submitJob, keys []string, args []any) ([]string, []any) {
	p := j.p
	keys = append(keys, k.job(j.id))
	args = append(args, j.id, p.Type, string(p.Payload))
	more := p.moreFields()
	if p.Priority == 0 && *p.MaxRetries == DefaultMaxRetries && p.Timeout == 0 && p.RunAt.IsZero() &&
		p.UniqueKey == "" && more == "" && p.Deadline.IsZero() {
		return keys, append(args, "")
	}
	var runAt, deadline int64
	if !p.RunAt.IsZero() {
		runAt = p.RunAt.UnixMilli()
	}
	if !p.Deadline.IsZero() {
		deadline = p.Deadline.UnixMilli()
	}
	if p.UniqueKey != "" {
		keys = append(keys, k.unique(p.UniqueKey))
	}
	return keys, append(args, "1", p.Priority, *p.MaxRetries, p.Timeout.Milliseconds(), runAt,
		p.UniqueKey, more, deadline)
}

// laneTypesOf lists the types of jobs, each once, in the order they first
// come: the lanes of one submit.lua call. (Most calls hold one type.)
func laneTypesOf(jobs []submitJob) []string {
	types := make([]string, 0, 1)
	for _, j := range jobs {
		if !slices.Contains(types, j.p.Type) {
			types = append(types, j.p.Type)
		}
	}
	return types
}

// submitted decodes one submit.lua reply, {OK, created_at ms, row per
// job} or {QUEUE_LIMIT, bound}, into the jobs' outcomes.
func (c *Client) submitted(sc *submitCall, lc *luaCall) []BatchResult {
	out := make([]BatchResult, len(sc.jobs))
	err := lc.err
	var rows []any
	if err == nil {
		if code, _ := lc.reply[0].(int64); code != codeOK { // the queue registry is full
			err = fmt.Errorf("queue %s: %w", sc.queue, scriptError(lc.reply, "", StatePending))
		}
	}
	if err == nil {
		rows, err = batchRows(lc.reply, 2, len(sc.jobs), "submit")
	}
	if err != nil {
		for k := range out {
			out[k].Err = err
		}
		return out
	}
	replicated := c.replicated(lc.wait)
	created, _ := lc.reply[1].(string)
	for k, j := range sc.jobs {
		if err := rowError(rows[k], j.id, StatePending); err != nil {
			var dup *DuplicateError
			if errors.As(err, &dup) {
				dup.UniqueKey = j.p.UniqueKey
			}
			out[k].Err = err
			continue
		}
		var status string
		if row := rows[k].([]any); len(row) > 1 {
			status, _ = row[1].(string)
		}
		out[k].Job = &Enqueued{ID: j.id, Status: State(status), CreatedAt: msTime(created)}
		if replicated != nil {
			out[k].Err = fmt.Errorf("submit %s: %w", j.id, replicated)
		}
	}
	return out
}
