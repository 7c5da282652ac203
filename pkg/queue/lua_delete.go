package queue

import (
	"context"
	"fmt"
)

// luaDelete runs lua/delete.lua: removes a finished job, and its unique
// key (uniqueKey, "" for none) while the key still names it.
func (c *Client) luaDelete(ctx context.Context, id, uniqueKey string) error {
	k := c.shards.of(id)
	uk := k.job(id) // the script's "no unique key"
	if uniqueKey != "" {
		uk = k.unique(uniqueKey)
	}
	res, err := c.runScript(ctx, c.scripts.delete,
		[]string{k.job(id), k.counts(), k.done(StateCompleted),
			k.done(StateFailed), k.done(StateCancelled), uk, k.history(id), k.log(id)}, id)
	if err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return scriptError(res, id, "deleted")
}
