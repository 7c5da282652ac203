package queue

import (
	"context"
	"fmt"
	"time"
)

// luaExpire runs lua/expire.lua on shard k: of the candidates ids
// (peeked from the finished set of state), whose unique keys are uniques
// ("" for none), those finished longer than keep ago by the Redis clock
// are removed — those with a callback still being delivered only once
// hold (and CallbackSlack) passed too. It returns how many were.
func (c *Client) luaExpire(ctx context.Context, k keyspace, state State, keep, hold time.Duration, ids, uniques []string) (int, error) {
	keys := make([]string, 0, 2+4*len(ids))
	keys = append(keys, k.counts(), k.done(state))
	if hold > 0 {
		hold += CallbackSlack
	}
	args := make([]any, 0, 3+len(ids))
	args = append(args, string(state), keep.Milliseconds(), hold.Milliseconds())
	for i, id := range ids {
		uk := k.job(id) // the script's "no unique key"
		if uniques[i] != "" {
			uk = k.unique(uniques[i])
		}
		keys = append(keys, k.job(id), uk)
		args = append(args, id)
	}
	for _, id := range ids {
		keys = append(keys, k.jobEvents(id), k.log(id))
	}
	res, err := c.runScript(ctx, c.scripts.expire, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("expire %s: %w", state, err)
	}
	n, _ := res[1].(int64)
	return int(n), nil
}
