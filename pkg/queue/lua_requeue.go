package queue

import "context"

// luaRequeue runs lua/requeue.lua: the run holding job j (token) is given
// up; the job → pending, at the front of its priority, its attempt not
// charged.
func (c *Client) luaRequeue(ctx context.Context, j *Job, token string) error {
	k := c.shards.of(j.ID)
	res, err := c.runScript(ctx, c.scripts.requeue,
		[]string{k.job(j.ID), k.leases(), k.counts(), k.typeRunning(),
			k.typeLimits(), k.wake(j.Queue), k.pending(j.Queue), k.seq(), k.queues()},
		j.ID, token, c.keys.eventsChannel(), c.wakeCap, j.Queue)
	if err != nil {
		return err
	}
	return scriptError(res, j.ID, StatePending)
}
