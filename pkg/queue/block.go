package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bars: a subject (for the API, a client address that failed to
// authenticate too often) barred for a while, in Redis so that every
// process on the same Redis sees the bar. A bar is a key that expires
// when the bar ends: nothing to clean up.

// Block bars subject for d (at least a millisecond), replacing any bar it
// has.
func (c *Client) Block(ctx context.Context, subject string, d time.Duration) error {
	if subject == "" {
		return invalidf("block: empty subject")
	}
	err := c.rdb.Set(ctx, c.keys.block(subject), "1", max(d, time.Millisecond)).Err()
	if err != nil {
		return fmt.Errorf("block %s: %w", subject, storageErr(err))
	}
	return nil
}

// BlockedFor tells how much longer subject is barred: 0 when it is not.
func (c *Client) BlockedFor(ctx context.Context, subject string) (time.Duration, error) {
	d, err := c.rdb.PTTL(ctx, c.keys.block(subject)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("blocked %s: %w", subject, storageErr(err))
	}
	// PTTL answers -2 for a missing key and -1 for one without expiry
	// (which Block never writes).
	return max(d, 0), nil
}
