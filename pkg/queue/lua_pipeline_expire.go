package queue

import (
	"context"
	"fmt"
	"time"
)

// luaPipelineExpire runs lua/pipeline_expire.lua: pipeline pid, ended
// longer than keep ago by the Redis clock, is removed with its jobs (ids;
// uniqueKey is its unique key, "" for none), unless a callback of it or
// of a job of it is still pending and it ended less than hold (plus
// CallbackSlack; 0: no hold) ago. It returns how many jobs it removed,
// -1 when the pipeline was kept.
func (c *Client) luaPipelineExpire(ctx context.Context, pid, uniqueKey string, keep, hold time.Duration, ids []string) (int, error) {
	k := c.shards.of(pid)
	uk := k.pipeline(pid) // the script's "no unique key"
	if uniqueKey != "" {
		uk = k.unique(uniqueKey)
	}
	keys := make([]string, 0, 7+len(ids))
	keys = append(keys, k.pipeline(pid), k.pipelinesDone(), k.counts(), uk,
		k.done(StateCompleted), k.done(StateFailed), k.done(StateCancelled))
	if hold > 0 {
		hold += CallbackSlack
	}
	args := make([]any, 0, 3+len(ids))
	args = append(args, pid, keep.Milliseconds(), hold.Milliseconds())
	for _, id := range ids {
		keys = append(keys, k.job(id))
		args = append(args, id)
	}
	res, err := c.runScript(ctx, c.scripts.pipelineExpire, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("expire pipeline %s: %w", pid, err)
	}
	n, _ := res[1].(int64)
	return int(n), nil
}
