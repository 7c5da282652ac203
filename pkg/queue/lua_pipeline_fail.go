package queue

import (
	"context"
	"fmt"
	"time"
)

// luaPipelineFail runs lua/pipeline_fail.lua: the run holding job j
// (token; "" for the reaper, whose job must have an expired lease and no
// attempts left) failed with message; the job → retrying, or → failed
// with every job of below (ids, all of its pipeline) → cancelled in the
// same step. It returns the state the job went to.
func (c *Client) luaPipelineFail(ctx context.Context, j *Job, token, message string, permanent bool, backoff time.Duration, below []string) (State, error) {
	k := c.shards.of(j.ID)
	perm := "0"
	if permanent {
		perm = "1"
	}
	keys := make([]string, 0, 13+len(below))
	keys = append(keys, k.job(j.ID), k.leases(), k.counts(), k.typeRunning(), k.typeLimits(),
		k.laneWake(j.Queue, j.Type), k.done(StateFailed), k.retrying(j.Queue), k.queues(),
		k.pipeline(j.Pipeline), k.done(StateCancelled), k.waiting(), k.pipelinesDone())
	args := make([]any, 0, 10+len(below))
	args = append(args, j.ID, token, message, perm, backoff.Milliseconds(), c.keys.eventsChannel(),
		c.wakeCap, j.Queue, j.Pipeline, j.PipelineKey)
	for _, id := range below {
		keys = append(keys, k.job(id))
		args = append(args, id)
	}
	keys = append(keys, k.hooks(), k.history())
	res, err := c.runScript(ctx, c.scripts.pipelineFail, keys, args...)
	if err != nil {
		return "", fmt.Errorf("fail %s: %w", j.ID, err)
	}
	if err := scriptError(res, j.ID, StateFailed); err != nil {
		return "", err
	}
	to, _ := res[1].(string)
	return State(to), nil
}
