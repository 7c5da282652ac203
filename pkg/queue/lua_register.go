package queue

import (
	"context"
	"time"
)

// luaRegister runs lua/register.lua: worker id's heartbeat in the
// registry of live workers, its hash set to fields (name, value, ...) and
// expiring after ttl without another heartbeat.
func (c *Client) luaRegister(ctx context.Context, id string, ttl time.Duration, fields []any) error {
	args := make([]any, 0, 2+len(fields))
	args = append(args, id, ttl.Milliseconds())
	_, err := c.runScript(ctx, c.scripts.register, []string{c.keys.workers(), c.keys.worker(id)},
		append(args, fields...)...)
	return err
}
