package queue

import (
	"cmp"
	"context"
	"fmt"
)

// What a job's owner does to it: cancel, restart, delete. Each reads the
// fields its script needs to name its keys, then runs the script, which
// re-checks the job's state. bulk.go does the same to the jobs of a list.

// jobFields reads the fields a transition needs to name its keys.
func (c *Client) jobFields(ctx context.Context, id string, fields ...string) ([]string, error) {
	vals, err := c.rdb.HMGet(ctx, c.shards.of(id).job(id), fields...).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		if v == nil && i == 0 {
			return nil, fmt.Errorf("job %s: %w", id, ErrJobNotFound)
		}
		out[i], _ = v.(string)
	}
	return out, nil
}

// Cancel moves a pending, scheduled, retrying or running job to cancelled.
// A running job is cancelled in Redis at once and its handler is stopped
// on whichever worker runs it. A finished job gives *TransitionError.
func (c *Client) Cancel(ctx context.Context, id string) error {
	f, err := c.jobFields(ctx, id, fStatus, fQueue, fType)
	if err != nil {
		return err
	}
	return c.luaCancel(ctx, []jobRef{{id: id, queue: cmp.Or(f[1], DefaultQueue), typ: f[2]}})[0] // the queue is not stored when it is the default
}

// Restart moves a failed or cancelled job back to pending under the same
// id, resetting its run history. Other states give *TransitionError.
func (c *Client) Restart(ctx context.Context, id string) error {
	f, err := c.jobFields(ctx, id, fStatus, fQueue, fType)
	if err != nil {
		return err
	}
	return c.luaRestart(ctx, []jobRef{{id: id, queue: cmp.Or(f[1], DefaultQueue), typ: f[2]}})[0] // the queue is not stored when it is the default
}

// Delete removes a finished job. Unfinished jobs give *TransitionError
// (cancel them first).
func (c *Client) Delete(ctx context.Context, id string) error {
	f, err := c.jobFields(ctx, id, fStatus, fUnique)
	if err != nil {
		return err
	}
	return c.luaDelete(ctx, []jobRef{{id: id, uniqueKey: f[1]}})[0]
}

// jobRef is a job as a transition names its keys: its id, its queue, its
// type (which with the queue names its lane) and its unique key ("" for
// none), as its caller read them (the scripts re-check what they depend
// on).
type jobRef struct{ id, queue, typ, uniqueKey string }

// refOf is the jobRef of a job read from Redis.
func refOf(j *Job) jobRef {
	return jobRef{id: j.ID, queue: j.Queue, typ: j.Type, uniqueKey: j.UniqueKey}
}
