package queue

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Type limits and where jobs are placed.
//
// A claim checks a type's running count against its limit atomically, in
// its shard's script, so on one shard a limit is exact. With several
// shards, the jobs of a limited type are all created in one shard, the
// type's home (shards.home), whose running count then is the fleet's. Every
// shard holds a copy of the limits, so jobs of the type already elsewhere
// (submitted before the limit was set, or by a submitter whose view of
// the limits was up to limitRefresh old) are held to the limit in their
// shard too: the fleet runs at most the limit plus those stragglers' share,
// and exactly the limit once they have run. docs/cluster.md says more.

// limitRefresh is how old a submitter's view of the limited types may get.
const limitRefresh = time.Second

// limitedTypes caches the names of the types that have a limit.
type limitedTypes struct {
	mu    sync.Mutex
	types map[string]bool
	at    time.Time
}

// SetTypeLimit sets the fleet-wide limit of running jobs of one type;
// limit <= 0 removes it.
func (c *Client) SetTypeLimit(ctx context.Context, jobType string, limit int) error {
	pipe := c.rdb.Pipeline()
	for _, k := range append(shards{c.keys}, c.shards...) {
		if limit <= 0 {
			pipe.HDel(ctx, k.typeLimits(), jobType)
		} else {
			pipe.HSet(ctx, k.typeLimits(), jobType, limit)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return storageErr(err)
	}
	c.limited.mu.Lock()
	c.limited.at = time.Time{} // read again at the next submission
	c.limited.mu.Unlock()
	return nil
}

// batchShard is the shard for the next submission's jobs: each in turn.
func (c *Client) batchShard() int {
	return int(c.nextShard.Add(1) % uint32(len(c.shards)))
}

// submitShard is the shard a job is created in: its unique key's, its
// type's when the type is limited, else the batch's.
func (c *Client) submitShard(ctx context.Context, p *EnqueueParams, batch int) (int, error) {
	if len(c.shards) == 1 {
		return 0, nil
	}
	if p.UniqueKey != "" {
		return c.shards.home("unique:" + p.UniqueKey), nil
	}
	limited, err := c.isLimited(ctx, p.Type)
	if err != nil {
		return 0, err
	}
	if limited {
		return c.shards.home("type:" + p.Type), nil
	}
	return batch, nil
}

// isLimited reports whether jobType has a limit, from a view of the
// limits at most limitRefresh old.
func (c *Client) isLimited(ctx context.Context, jobType string) (bool, error) {
	l := &c.limited
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.at) > limitRefresh {
		names, err := c.rdb.HKeys(ctx, c.keys.typeLimits()).Result()
		if err != nil {
			return false, storageErr(err)
		}
		l.types = make(map[string]bool, len(names))
		for _, n := range names {
			l.types[strings.TrimPrefix(n, ratePrefix)] = true // a rate limit homes a type too
		}
		l.at = time.Now()
	}
	return l.types[jobType], nil
}
