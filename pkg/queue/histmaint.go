package queue

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Maintenance of the history (history.go): the queue depths sampled once
// a minute across the fleet, and the minutes rolled up into hours.

// History retention: minutes live 48 hours (lib.lua's HIST_MINUTE_TTL),
// hours 30 days, each with a margin so that the oldest step of the
// longest query is still there.
const (
	histMinuteTTL = 48*time.Hour + 5*time.Minute
	histHourTTL   = 30*24*time.Hour + time.Hour
)

// defaultProcessName names this process: host name and process id.
func defaultProcessName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", cmp.Or(host, "process"), os.Getpid())
}

// SampleHistory records the pending and running jobs of every queue and
// type into the current minute's history, unless another process did
// already: a claim of the minute (HSETNX) makes exactly one process of
// the fleet take each minute's sample. owner names the process in the
// claim. It returns how many shards it sampled.
func (c *Client) SampleHistory(ctx context.Context, owner string) (int, error) {
	n := 0
	for _, k := range c.shards {
		now, err := c.redisNow(ctx, k)
		if err != nil {
			return n, err
		}
		minute := now.Unix() / 60
		won, err := c.rdb.HSetNX(ctx, k.histSampled(), strconv.FormatInt(minute, 10), owner).Result()
		if err != nil {
			return n, storageErr(err)
		}
		if !won {
			continue
		}
		depths, err := c.depths(ctx, k)
		if err != nil {
			return n, err
		}
		pipe := c.rdb.Pipeline()
		for p, d := range depths {
			key := k.histMinute(minute, p.queue, p.typ)
			pipe.HSet(ctx, key, hfPending, d[0], hfRunning, d[1])
			pipe.Expire(ctx, key, histMinuteTTL)
			pipe.HSet(ctx, k.history(), p.queue+":"+p.typ, minute)
		}
		if pipe.Len() > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return n, storageErr(err)
			}
		}
		n++
	}
	return n, nil
}

// HistorySamplers says which process sampled each minute's queue depths,
// by minute, over the minutes kept (with several shards, the last
// shard's sampler of a minute). It is how one checks that a fleet samples
// each minute once.
func (c *Client) HistorySamplers(ctx context.Context) (map[time.Time]string, error) {
	out := map[time.Time]string{}
	for _, k := range c.shards {
		m, err := c.rdb.HGetAll(ctx, k.histSampled()).Result()
		if err != nil {
			return nil, storageErr(err)
		}
		for f, owner := range m {
			if minute, err := strconv.ParseInt(f, 10, 64); err == nil {
				out[time.Unix(minute*60, 0).UTC()] = owner
			}
		}
	}
	return out, nil
}

// depths reads shard k's pending (the lanes' sizes) and running (its
// leases, by their jobs' queue and type) jobs per queue and type, of the
// pairs that have any.
func (c *Client) depths(ctx context.Context, k keyspace) (map[histPair][2]int64, error) {
	out := map[histPair][2]int64{}
	queues, err := c.rdb.SMembers(ctx, k.queues()).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	pipe := c.rdb.Pipeline()
	types := make([]*redis.StringSliceCmd, len(queues))
	for i, q := range queues {
		types[i] = pipe.SMembers(ctx, k.laneTypes(q))
	}
	leases := pipe.ZRange(ctx, k.leases(), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storageErr(err)
	}
	pipe = c.rdb.Pipeline()
	cards := map[histPair]*redis.IntCmd{}
	for i, q := range queues {
		for _, t := range types[i].Val() {
			cards[histPair{q, t}] = pipe.ZCard(ctx, k.lane(q, t))
		}
	}
	if pipe.Len() > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, storageErr(err)
		}
	}
	for p, cmd := range cards {
		if n := cmd.Val(); n > 0 {
			out[p] = [2]int64{n, 0}
		}
	}
	return out, c.countRunning(ctx, k, leases.Val(), out)
}

// countRunning adds the running jobs ids (a shard's leases) to out, by
// their queue and type, reading the jobs a thousand per round trip.
func (c *Client) countRunning(ctx context.Context, k keyspace, ids []string, out map[histPair][2]int64) error {
	for len(ids) > 0 {
		page := ids[:min(len(ids), 1000)]
		ids = ids[len(page):]
		pipe := c.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(page))
		for i, id := range page {
			cmds[i] = pipe.HMGet(ctx, k.job(id), fQueue, fType)
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return storageErr(err)
		}
		for _, cmd := range cmds {
			f := cmd.Val()
			if len(f) != 2 || f[1] == nil {
				continue // not a job any more
			}
			q, _ := f[0].(string)
			t, _ := f[1].(string)
			p := histPair{queue: cmp.Or(q, DefaultQueue), typ: t}
			d := out[p]
			d[1]++
			out[p] = d
		}
	}
	return nil
}

// RollupHistory sums the minutes of every hour that ended (a minute ago
// or more) and was not rolled up yet into the hour's history, and forgets
// what is older than the history keeps. Racing processes write the same
// sums, so it is safe anywhere. It returns how many hours it rolled up.
func (c *Client) RollupHistory(ctx context.Context) (int, error) {
	n := 0
	for _, k := range c.shards {
		m, err := c.rollupShard(ctx, k)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (c *Client) rollupShard(ctx context.Context, k keyspace) (int, error) {
	now, err := c.redisNow(ctx, k)
	if err != nil {
		return 0, err
	}
	minute := now.Unix() / 60
	last := (minute-1)/60 - 1 // the last hour ended a minute ago or more
	rolled, err := c.rdb.Get(ctx, k.histRolled()).Int64()
	if err == redis.Nil {
		rolled = last - 48
	} else if err != nil {
		return 0, storageErr(err)
	}
	from := max(rolled+1, minute/60-47) // older minutes are gone
	if from > last {
		return 0, nil
	}
	pairs, err := c.historyPairs(ctx, k, HistoryQuery{}, from*60)
	if err != nil {
		return 0, err
	}
	sampled, err := c.rdb.HKeys(ctx, k.histSampled()).Result()
	if err != nil {
		return 0, storageErr(err)
	}
	done := 0
	for h := from; h <= last; h++ {
		if err := c.rollupHour(ctx, k, h, pairs, sampledIn(sampled, h)); err != nil {
			return done, err
		}
		done++
	}
	return done, c.pruneHistory(ctx, k, minute, sampled)
}

// sampledIn counts the minutes of hour h among the sampled ones.
func sampledIn(sampled []string, h int64) int64 {
	n := int64(0)
	for _, s := range sampled {
		if m, err := strconv.ParseInt(s, 10, 64); err == nil && m/60 == h {
			n++
		}
	}
	return n
}

// rollupHour writes hour h's history of each pair: the sums of its
// minutes' fields (the depths' sums too, with the number of sampled
// minutes, k, to take their means by), then marks h rolled up.
func (c *Client) rollupHour(ctx context.Context, k keyspace, h int64, pairs []histPair, samples int64) error {
	pipe := c.rdb.Pipeline()
	cmds := make([][]*redis.MapStringStringCmd, len(pairs))
	for i, p := range pairs {
		for m := h * 60; m < (h+1)*60; m++ {
			cmds[i] = append(cmds[i], pipe.HGetAll(ctx, k.histMinute(m, p.queue, p.typ)))
		}
	}
	if len(pairs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return storageErr(err)
		}
	}
	pipe = c.rdb.Pipeline()
	for i, p := range pairs {
		var sum histStep
		for _, cmd := range cmds[i] {
			sum.add(cmd.Val())
		}
		if len(sum.counts) == 0 {
			continue
		}
		args := make([]any, 0, 2*len(sum.counts)+2)
		for f, v := range sum.counts {
			args = append(args, f, v)
		}
		args = append(args, hfSamples, samples)
		key := k.histHour(h, p.queue, p.typ)
		pipe.HSet(ctx, key, args...)
		pipe.Expire(ctx, key, histHourTTL)
	}
	pipe.Set(ctx, k.histRolled(), h, 0)
	_, err := pipe.Exec(ctx)
	return storageErr(err)
}

// pruneHistory forgets the index's pairs with no history left and the
// sampled minutes older than the minutes kept.
func (c *Client) pruneHistory(ctx context.Context, k keyspace, minute int64, sampled []string) error {
	idx, err := c.rdb.HGetAll(ctx, k.history()).Result()
	if err != nil {
		return storageErr(err)
	}
	var stale []string
	for f, v := range idx {
		if last, _ := strconv.ParseInt(v, 10, 64); last < minute-int64(histHourTTL/time.Minute) {
			stale = append(stale, f)
		}
	}
	var old []string
	for _, s := range sampled {
		if m, err := strconv.ParseInt(s, 10, 64); err != nil || m < minute-int64(histMinuteTTL/time.Minute) {
			old = append(old, s)
		}
	}
	pipe := c.rdb.Pipeline()
	if len(stale) > 0 {
		pipe.HDel(ctx, k.history(), stale...)
	}
	if len(old) > 0 {
		pipe.HDel(ctx, k.histSampled(), old...)
	}
	if pipe.Len() == 0 {
		return nil
	}
	_, err = pipe.Exec(ctx)
	return storageErr(err)
}
