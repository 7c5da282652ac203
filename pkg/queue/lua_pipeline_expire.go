package queue

import (
	"context"
	"fmt"
	"time"
)

// luaPipelineExpire runs lua/pipeline_expire.lua: pipeline pid, ended
// longer than keep ago by the Redis clock, is removed with its jobs (ids;
// uniqueKey is its unique key, "" for none). It returns how many jobs it
// removed, -1 when the pipeline was kept.
func (c *Client) luaPipelineExpire(ctx context.Context, pid, uniqueKey string, keep time.Duration, ids []string) (int, error) {
	k := c.shards.of(pid)
	uk := k.pipeline(pid) // the script's "no unique key"
	if uniqueKey != "" {
		uk = k.unique(uniqueKey)
	}
	keys := make([]string, 0, 7+len(ids))
	keys = append(keys, k.pipeline(pid), k.pipelinesDone(), k.counts(), uk,
		k.done(StateCompleted), k.done(StateFailed), k.done(StateCancelled))
	args := make([]any, 0, 2+len(ids))
	args = append(args, pid, keep.Milliseconds())
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
