package queue

import "context"

// luaRequeue runs lua/requeue.lua: the run holding job j (token) is given
// up; the job → pending, at the front of its priority, its attempt not
// charged.
func (c *Client) luaRequeue(ctx context.Context, j *Job, token string) error {
	k := c.shards.of(j.ID)
	res, err := c.runScript(ctx, c.scripts.requeue,
		[]string{k.job(j.ID), k.leases(), k.counts(), k.typeRunning(),
			k.typeLimits(), k.laneWake(j.Queue, j.Type), k.lane(j.Queue, j.Type), k.seq(), k.queues(),
			k.laneTypes(j.Queue), k.jobEvents(j.ID)},
		j.ID, token, c.keys.eventsChannel(), c.wakeCap, j.Queue, j.Type)
	if err != nil {
		return err
	}
	return scriptError(res, j.ID, StatePending)
}
