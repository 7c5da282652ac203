package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// luaHookAck runs lua/hookack.lua: the claim of j's delivery records attempt, and the
// delivery goes to state, due again at next when it is pending. (A
// pipeline's delivery is on the pipeline's hash, under its hooks entry.)
func (c *Client) luaHookAck(ctx context.Context, j *Job, attempt DeliveryAttempt, state DeliveryState, next time.Time) error {
	id, d := j.ID, j.Delivery
	k := c.shards.of(id)
	member, key := id, k.job(id)
	if d.Pipeline != nil {
		member, key = pipelineHookPrefix+id, k.pipeline(id)
	}
	a, err := json.Marshal(attempt)
	if err != nil {
		return err
	}
	res, err := c.runScript(ctx, c.scripts.hookack, []string{k.hooks(), key},
		member, d.token, string(state), next.UnixMilli(), MaxDeliveryAttemptsKept, string(a))
	if err != nil {
		return fmt.Errorf("delivery %s: %w", d.ID, err)
	}
	return scriptError(res, id, "")
}
