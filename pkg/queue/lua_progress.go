package queue

import (
	"context"
	"time"
)

// luaProgress runs lua/progress.lua: a running job's progress and current
// step, written only for the run holding it (token), whose lease it also
// extends by lease.
func (c *Client) luaProgress(ctx context.Context, id, token string, percent float64, step string, lease time.Duration) error {
	k := c.shards.of(id)
	res, err := c.runScript(ctx, c.scripts.progress, []string{k.job(id), k.leases()},
		id, token, percent, step, lease.Milliseconds(), c.keys.eventsChannel())
	if err != nil {
		return err
	}
	return scriptError(res, id, StateRunning)
}
