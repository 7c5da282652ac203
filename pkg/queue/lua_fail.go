package queue

import (
	"context"
	"time"
)

// luaFail runs lua/fail.lua: the run holding job j (token) failed with
// message; the job → retrying, due after backoff, or → failed when the
// error is permanent or its attempts are used up. It returns the state
// the job went to.
func (c *Client) luaFail(ctx context.Context, j *Job, token, message string, permanent bool, backoff time.Duration) (State, error) {
	k := c.shards.of(j.ID)
	perm := "0"
	if permanent {
		perm = "1"
	}
	res, err := c.runScript(ctx, c.scripts.fail,
		[]string{k.job(j.ID), k.leases(), k.counts(), k.typeRunning(),
			k.typeLimits(), k.laneWake(j.Queue, j.Type), k.done(StateFailed), k.retrying(j.Queue), k.queues(),
			k.history(), k.hooks(), k.jobEvents(j.ID)},
		j.ID, token, message, perm, backoff.Milliseconds(), c.keys.eventsChannel(), c.wakeCap, j.Queue)
	if err != nil {
		return "", err
	}
	if err := scriptError(res, j.ID, StateFailed); err != nil {
		return "", err
	}
	to, _ := res[1].(string)
	return State(to), nil
}
