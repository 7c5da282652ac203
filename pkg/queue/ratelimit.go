package queue

import (
	"cmp"
	"context"
	"time"
)

// RateLimit is a request budget: Rate requests per Period on average, with
// bursts of up to Burst at once. The zero value (Rate 0) means no limit.
type RateLimit struct {
	Rate   int
	Period time.Duration
	// Burst is how many requests may come at once after a quiet spell;
	// 0 means Rate.
	Burst int
}

// Enabled reports whether l limits anything.
func (l RateLimit) Enabled() bool { return l.Rate > 0 }

// Validate checks a limit that is enabled.
func (l RateLimit) Validate() error {
	if !l.Enabled() {
		return nil
	}
	if l.Period <= 0 || l.Burst < 0 {
		return invalidf("rate limit %d per %s, burst %d: want a positive period and a burst of 0 or more", l.Rate, l.Period, l.Burst)
	}
	if l.Period/time.Duration(l.Rate) < time.Microsecond {
		return invalidf("rate limit %d per %s: too fine to count", l.Rate, l.Period)
	}
	return nil
}

// RateDecision is the outcome of one Allow.
type RateDecision struct {
	Allowed bool
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is how long a refused caller should wait.
	RetryAfter time.Duration
}

// Allow takes one request from caller's budget under l. The budget lives
// in Redis, so every process on the same Redis shares it (GCRA, on the
// server's clock: lua/ratelimit.lua). A disabled limit allows everything
// without asking Redis.
func (c *Client) Allow(ctx context.Context, caller string, l RateLimit) (RateDecision, error) {
	if !l.Enabled() {
		return RateDecision{Allowed: true}, nil
	}
	if err := l.Validate(); err != nil {
		return RateDecision{}, err
	}
	emissionMS := float64(l.Period) / float64(l.Rate) / float64(time.Millisecond)
	return c.luaRatelimit(ctx, caller, emissionMS, cmp.Or(l.Burst, l.Rate))
}
