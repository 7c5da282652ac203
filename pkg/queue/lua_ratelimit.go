package queue

import (
	"context"
	"fmt"
	"time"
)

// luaRatelimit runs lua/ratelimit.lua: takes one request from caller's
// budget of one request per emission interval (in ms), in bursts of up to
// burst.
func (c *Client) luaRatelimit(ctx context.Context, caller string, emissionMS float64, burst int) (RateDecision, error) {
	res, err := c.runScript(ctx, c.scripts.ratelimit, []string{c.keys.rate(caller)}, emissionMS, burst)
	if err != nil {
		return RateDecision{}, fmt.Errorf("rate limit %s: %w", caller, err)
	}
	if len(res) != 4 {
		return RateDecision{}, fmt.Errorf("rate limit: unexpected reply %v", res)
	}
	allowed, _ := res[1].(int64)
	remaining, _ := res[2].(int64)
	retryMS, _ := res[3].(int64)
	return RateDecision{Allowed: allowed == 1, Remaining: int(remaining),
		RetryAfter: time.Duration(retryMS) * time.Millisecond}, nil
}
