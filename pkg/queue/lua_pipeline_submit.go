package queue

import (
	"context"
	"errors"
	"fmt"
)

// pipeSubmitJob is one job of a pipeline_submit.lua call, with what it
// stores beside a plain job's fields.
type pipeSubmitJob struct {
	id       string
	p        *PipelineJob
	parents  string // JSON {"<key>": "<id>"}, "" for none
	children string // encodeChildren, "" for none
}

// luaPipelineSubmit runs lua/pipeline_submit.lua in shard n, durably
// (write.go): pipeline id and its jobs are created at once, or nothing is
// (*DuplicateError for a unique key held, ErrQueueLimit). The owner's
// owned set records the jobs in the same round trip. It returns the
// creation time. callback is the pipeline's callback URL ("" for none).
func (c *Client) luaPipelineSubmit(ctx context.Context, n int, id, uniqueKey, graph, callback string, jobs []pipeSubmitJob, owner string) (string, error) {
	k := c.shards[n]
	uk := k.pipeline(id) // the script's "no unique key"
	if uniqueKey != "" {
		uk = k.unique(uniqueKey)
	}
	keys := make([]string, 0, 6+4*len(jobs))
	keys = append(keys, k.pipeline(id), uk, k.counts(), k.queues(), k.seq(), k.waiting())
	args := make([]any, 0, 7+12*len(jobs))
	args = append(args, id, uniqueKey, c.keys.eventsChannel(), c.wakeCap, c.maxQueues, graph)
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		p := &j.p.EnqueueParams
		keys = append(keys, k.job(j.id), k.lane(p.Queue, p.Type), k.laneWake(p.Queue, p.Type), k.laneTypes(p.Queue))
		args = append(args, j.id, p.Type, p.Queue, string(p.Payload), p.Priority, *p.MaxRetries,
			p.Timeout.Milliseconds(), j.p.Key, len(j.p.DependsOn), j.parents, j.children)
		ids[i] = j.id
	}
	args = append(args, callback)
	for _, j := range jobs {
		args = append(args, j.p.CallbackURL)
	}
	keys = append(keys, k.history())
	var record func(context.Context, *write) error
	if owner != "" {
		record = func(ctx context.Context, w *write) error {
			return c.recordOwned(ctx, w, map[string][]string{owner: ids})
		}
	}
	cl := &luaCall{script: c.scripts.pipelineSubmit, keys: keys, args: args}
	c.runScriptsWith(ctx, true, record, cl)
	if cl.err != nil {
		return "", fmt.Errorf("submit pipeline %s: %w", id, cl.err)
	}
	if err := scriptError(cl.reply, id, StatePending); err != nil {
		var dup *DuplicateError
		if errors.As(err, &dup) {
			dup.UniqueKey = uniqueKey
		}
		return "", err
	}
	created, _ := cl.reply[1].(string)
	if err := c.replicated(cl.wait); err != nil {
		return created, fmt.Errorf("submit pipeline %s: %w", id, err)
	}
	return created, nil
}
