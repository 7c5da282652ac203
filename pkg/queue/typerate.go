package queue

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rate limits per job type: at most Rate starts in any Per, fleet-wide,
// exact. The limit is a field beside the type limits (rateField), in the
// global source and every shard's copy, which claim.lua reads with the
// limits it reads anyway; a limited type's claims keep a log of its
// starts in the last period (keyspace.typeStarts) and take no more than
// the log leaves, atomically. Jobs over the limit stay pending, first in
// line, and are taken as the window slides. As for type limits, a
// limited type's jobs are created in its home shard, so with several
// shards the limit is exact once the jobs created before it was set
// (and by submitters whose view of the limits was up to limitRefresh
// old) have run.

// Bounds of a rate limit.
const (
	MaxRatePeriod = 24 * time.Hour
	MinRatePeriod = time.Millisecond
	MaxRate       = 1_000_000
)

// TypeRate is a job type's rate limit: at most Rate starts in any Per.
type TypeRate struct {
	Type string
	Rate int
	Per  time.Duration
}

// Validate checks r.
func (r TypeRate) Validate() error {
	if err := CheckType(r.Type); err != nil {
		return err
	}
	if r.Rate < 1 || r.Rate > MaxRate {
		return invalidf("rate %d: want 1 to %d starts per period", r.Rate, MaxRate)
	}
	if r.Per < MinRatePeriod || r.Per > MaxRatePeriod || r.Per%time.Millisecond != 0 {
		return invalidf("period %s: want whole milliseconds from %s to %s", r.Per, MinRatePeriod, MaxRatePeriod)
	}
	return nil
}

// String spells r as "10/1m0s".
func (r TypeRate) String() string { return fmt.Sprintf("%d/%s", r.Rate, r.Per) }

// SetTypeRate sets (or replaces) the rate limit of r.Type, for every
// claim that starts after it returns.
func (c *Client) SetTypeRate(ctx context.Context, r TypeRate) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return c.writeControl(ctx, rateField(r.Type), fmt.Sprintf("%d:%d", r.Rate, r.Per.Milliseconds()))
}

// ClearTypeRate removes jobType's rate limit; it reports whether there
// was one.
func (c *Client) ClearTypeRate(ctx context.Context, jobType string) (bool, error) {
	if err := CheckType(jobType); err != nil {
		return false, err
	}
	had, err := c.rdb.HExists(ctx, c.keys.typeLimits(), rateField(jobType)).Result()
	if err != nil {
		return false, storageErr(err)
	}
	if err := c.writeControl(ctx, rateField(jobType), ""); err != nil {
		return false, err
	}
	pipe := c.rdb.Pipeline()
	for _, k := range c.shards {
		pipe.Del(ctx, k.typeStarts(jobType))
	}
	_, err = pipe.Exec(ctx)
	return had, storageErr(err)
}

// writeControl sets field of the type limits hashes, the global source
// and every shard's copy, to value ("" deletes it), and makes the next
// submission read the limited types again.
func (c *Client) writeControl(ctx context.Context, field, value string) error {
	pipe := c.rdb.Pipeline()
	for _, k := range append(shards{c.keys}, c.shards...) {
		if value == "" {
			pipe.HDel(ctx, k.typeLimits(), field)
		} else {
			pipe.HSet(ctx, k.typeLimits(), field, value)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return storageErr(err)
	}
	c.limited.mu.Lock()
	c.limited.at = time.Time{}
	c.limited.mu.Unlock()
	return nil
}

// parseRate reads a rate field's value ("n:period ms").
func parseRate(typ, v string) (TypeRate, bool) {
	n, per, ok := strings.Cut(v, ":")
	rate, err1 := strconv.Atoi(n)
	ms, err2 := strconv.ParseInt(per, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return TypeRate{}, false
	}
	return TypeRate{Type: typ, Rate: rate, Per: time.Duration(ms) * time.Millisecond}, true
}

// RateState is a rate limit and how it stands: the starts in the last
// period (fleet-wide) and the type's pending jobs; Waiting when the
// period's starts are used up and jobs wait for the window to slide.
type RateState struct {
	TypeRate
	Started int64
	Pending int64
	Waiting bool
}

// rateStates reads how each rate limit of rates stands: one round trip.
func (c *Client) rateStates(ctx context.Context, rates []TypeRate, pendingByType map[string]int64) ([]RateState, error) {
	if len(rates) == 0 {
		return nil, nil
	}
	pipe := c.rdb.Pipeline()
	now := pipe.Time(ctx)
	cmds := make([][]*redis.ZSliceCmd, len(rates))
	for i, r := range rates {
		for _, k := range c.shards {
			cmds[i] = append(cmds[i], pipe.ZRangeWithScores(ctx, k.typeStarts(r.Type), 0, -1))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	out := make([]RateState, len(rates))
	for i, r := range rates {
		from := now.Val().Add(-r.Per).UnixMilli()
		out[i] = RateState{TypeRate: r, Pending: pendingByType[r.Type]}
		for _, cmd := range cmds[i] {
			for _, z := range cmd.Val() {
				if int64(z.Score) > from {
					out[i].Started++
				}
			}
		}
		out[i].Waiting = out[i].Started >= int64(r.Rate) && out[i].Pending > 0
	}
	return out, nil
}

// TypeRates lists every rate limit, by type, with how it stands.
func (c *Client) TypeRates(ctx context.Context) ([]RateState, error) {
	st, err := c.Stats(ctx)
	if err != nil {
		return nil, err
	}
	return st.RateLimits, nil
}

// ratesOf reads the rate limits from the fields of a type limits hash,
// sorted by type.
func ratesOf(fields map[string]string) []TypeRate {
	var out []TypeRate
	for f, v := range fields {
		if t, ok := strings.CutPrefix(f, ratePrefix); ok {
			if r, ok := parseRate(t, v); ok {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b TypeRate) int { return strings.Compare(a.Type, b.Type) })
	return out
}

// ParseTypeRates reads rate limits spelled "type=N/period,..." (period a
// Go duration, or s, m or h for one of them): "ocr=20/s,report=10/1m".
func ParseTypeRates(s string) ([]TypeRate, error) {
	var out []TypeRate
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		typ, spec, ok := strings.Cut(item, "=")
		r, err := ParseRate(spec)
		if !ok || err != nil {
			return nil, invalidf("rate limit %q: want type=N/period, e.g. ocr=20/1s", item)
		}
		r.Type = strings.TrimSpace(typ)
		if err := r.Validate(); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// ParseRate reads "N/period" (period a Go duration, or s, m or h); the
// type is left empty.
func ParseRate(spec string) (TypeRate, error) {
	n, per, ok := strings.Cut(strings.TrimSpace(spec), "/")
	rate, err := strconv.Atoi(n)
	if !ok || err != nil {
		return TypeRate{}, invalidf("rate %q: want N/period, e.g. 20/1s", spec)
	}
	switch per {
	case "s", "m", "h":
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil {
		return TypeRate{}, invalidf("rate %q: want N/period, e.g. 20/1s", spec)
	}
	return TypeRate{Rate: rate, Per: d}, nil
}
