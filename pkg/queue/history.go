package queue

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The history: per minute (kept 48 hours) and per hour (kept 30 days), per
// queue and type, what the transitions did and how long runs and waits
// took. The transition scripts write the minutes (lib.lua: hist_write),
// once per call whatever its batch; maintenance samples the queue depths
// once a minute and rolls the minutes up into hours (histmaint.go); this
// file reads them back.

// Bounds of a history query.
const (
	HistoryMaxMinutes = 2880 // 48 hours of minutes
	HistoryMaxHours   = 720  // 30 days of hours
)

// Hash fields of a minute's or an hour's history (lib.lua names them).
const (
	hfSubmitted  = "s"
	hfStarted    = "b"
	hfCompleted  = "c"
	hfFailed     = "f"
	hfRetried    = "r"
	hfCancelled  = "x"
	hfPending    = "p" // a minute's sample; an hour's sum of its minutes' samples
	hfRunning    = "n"
	hfSamples    = "k" // an hour's number of sampled minutes
	hfRunPrefix  = "R" // R<bucket>: runs whose duration fell in the bucket
	hfWaitPrefix = "W"
)

// bucketsPerDoubling is the resolution of the run and wait histograms:
// bucket b ≥ 1 holds durations in [2^((b-1)/4), 2^(b/4)) ms, 19% wide;
// bucket 0 those under 1 ms.
const bucketsPerDoubling = 4

// bucketOf is the histogram bucket of a duration in ms (lib.lua's
// hist_bucket).
func bucketOf(ms float64) int {
	if ms < 1 {
		return 0
	}
	return 1 + int(math.Floor(math.Log(ms)*bucketsPerDoubling/math.Ln2))
}

// bucketValue is the duration a bucket stands for, in ms: the geometric
// middle of its bounds, so that it is within half a bucket of any
// duration the bucket holds.
func bucketValue(b int) float64 {
	if b <= 0 {
		return 0
	}
	return math.Exp2((float64(b) - 0.5) / bucketsPerDoubling)
}

// HistoryQuery asks for the last Points steps of the history.
type HistoryQuery struct {
	// Step is time.Minute or time.Hour.
	Step time.Duration
	// Points is how many steps, the current one last: 1 to
	// HistoryMaxMinutes minutes or 1 to HistoryMaxHours hours.
	Points int
	// Queue and Type keep only the jobs of a queue and of a type ("": all).
	Queue, Type string
}

// Percentiles are the 50th, 95th and 99th percentiles of durations in ms,
// each read from a histogram, so within one bucket (19%) of the truth; 0
// when nothing was measured.
type Percentiles struct {
	P50, P95, P99 float64
}

// HistoryPoint is what happened in one step of the history.
type HistoryPoint struct {
	// At is when the step began.
	At time.Time
	// How many jobs were submitted, started (each attempt), completed,
	// failed for good, failed with attempts left or recovered from a
	// dead worker (retried), and cancelled in the step.
	Submitted, Started, Completed, Failed, Retried, Cancelled int64
	// Pending and Running are the queue depths sampled in the step (a
	// minute's sample; an hour's mean of its minutes' samples).
	Pending, Running int64
	// Run is how long the runs that ended in the step took (completed,
	// failed or retried); Wait how long the jobs started in the step had
	// waited since they last became pending.
	Run, Wait Percentiles
}

// History reads the last q.Points steps of the history, oldest first,
// every step present (zeros where nothing happened).
func (c *Client) History(ctx context.Context, q HistoryQuery) ([]HistoryPoint, error) {
	most := map[time.Duration]int{time.Minute: HistoryMaxMinutes, time.Hour: HistoryMaxHours}[q.Step]
	if most == 0 {
		return nil, invalidf("history step: want a minute or an hour")
	}
	if q.Points < 1 || q.Points > most {
		return nil, invalidf("history: want 1 to %d points of %s", most, q.Step)
	}
	if q.Queue != "" && !namePattern.MatchString(q.Queue) {
		return nil, invalidf("queue %q: want 1-64 of [A-Za-z0-9_.-]", q.Queue)
	}
	if q.Type != "" {
		if err := CheckType(q.Type); err != nil {
			return nil, err
		}
	}
	now, err := c.redisNow(ctx, c.shards[0])
	if err != nil {
		return nil, err
	}
	per := int64(q.Step / time.Minute) // minutes per step
	last := now.Unix() / 60 / per      // the current step
	first := last - int64(q.Points) + 1
	steps := make([]histStep, q.Points)
	for _, k := range c.shards {
		if err := c.readHistory(ctx, k, q, first, last, now.Unix()/60, steps); err != nil {
			return nil, err
		}
	}
	out := make([]HistoryPoint, len(steps))
	for i := range steps {
		out[i] = steps[i].point(time.Unix((first+int64(i))*per*60, 0).UTC(), q.Step == time.Hour)
	}
	return out, nil
}

// histStep gathers one step's fields, summed over the hashes read.
type histStep struct {
	counts map[string]int64
}

func (s *histStep) add(fields map[string]string) {
	if len(fields) == 0 {
		return
	}
	if s.counts == nil {
		s.counts = make(map[string]int64, len(fields))
	}
	for f, v := range fields {
		n, _ := strconv.ParseInt(v, 10, 64)
		if f == hfSamples {
			s.counts[f] = max(s.counts[f], n) // the same for every pair of a shard
			continue
		}
		s.counts[f] += n
	}
}

// point is the step as a HistoryPoint; an hour's depths are the means of
// its sampled minutes.
func (s *histStep) point(at time.Time, hour bool) HistoryPoint {
	c := s.counts
	p := HistoryPoint{At: at, Submitted: c[hfSubmitted], Started: c[hfStarted],
		Completed: c[hfCompleted], Failed: c[hfFailed], Retried: c[hfRetried],
		Cancelled: c[hfCancelled], Pending: c[hfPending], Running: c[hfRunning],
		Run: percentiles(c, hfRunPrefix), Wait: percentiles(c, hfWaitPrefix)}
	if hour {
		if k := c[hfSamples]; k > 0 {
			p.Pending = int64(math.Round(float64(p.Pending) / float64(k)))
			p.Running = int64(math.Round(float64(p.Running) / float64(k)))
		} else {
			p.Pending, p.Running = 0, 0
		}
	}
	return p
}

// percentiles reads the 50th, 95th and 99th percentiles off the
// histogram whose fields start with prefix.
func percentiles(counts map[string]int64, prefix string) Percentiles {
	var buckets []int
	total := int64(0)
	for f, n := range counts {
		if b, ok := strings.CutPrefix(f, prefix); ok && n > 0 {
			i, err := strconv.Atoi(b)
			if err != nil {
				continue
			}
			buckets = append(buckets, i)
			total += n
		}
	}
	if total == 0 {
		return Percentiles{}
	}
	slices.Sort(buckets)
	at := func(q float64) float64 {
		rank := int64(math.Ceil(q * float64(total)))
		seen := int64(0)
		for _, b := range buckets {
			if seen += counts[prefix+strconv.Itoa(b)]; seen >= rank {
				return math.Round(bucketValue(b)*100) / 100
			}
		}
		return 0
	}
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99)}
}

// histPair is a queue and type with history, as the index names it.
type histPair struct{ queue, typ string }

// historyPairs reads a shard's history index: the pairs matching q active
// since minute since.
func (c *Client) historyPairs(ctx context.Context, k keyspace, q HistoryQuery, since int64) ([]histPair, error) {
	idx, err := c.rdb.HGetAll(ctx, k.history()).Result()
	if err != nil {
		return nil, storageErr(err)
	}
	var out []histPair
	for f, v := range idx {
		queue, typ, ok := strings.Cut(f, ":")
		last, _ := strconv.ParseInt(v, 10, 64)
		if !ok || last < since || (q.Queue != "" && q.Queue != queue) || (q.Type != "" && q.Type != typ) {
			continue
		}
		out = append(out, histPair{queue, typ})
	}
	return out, nil
}

// readHistory adds shard k's history of steps first..last to steps, in
// one round trip after the index: minutes from their hashes; hours from
// theirs when rolled up, else from their minutes up to the current one.
func (c *Client) readHistory(ctx context.Context, k keyspace, q HistoryQuery, first, last, minuteNow int64, steps []histStep) error {
	per := int64(q.Step / time.Minute)
	pairs, err := c.historyPairs(ctx, k, q, first*per)
	if err != nil || len(pairs) == 0 {
		return err
	}
	rolled := int64(-1)
	if per > 1 {
		r, err := c.rdb.Get(ctx, k.histRolled()).Int64()
		if err != nil && err != redis.Nil {
			return storageErr(err)
		}
		if err == nil {
			rolled = r
		}
	}
	pipe := c.rdb.Pipeline()
	type read struct {
		step int
		cmd  *redis.MapStringStringCmd
	}
	var reads []read
	samples := make([]*redis.SliceCmd, len(steps)) // by step: an unrolled hour's sampled minutes
	for i := range steps {
		s := first + int64(i)
		if per > 1 && s <= rolled {
			for _, p := range pairs {
				reads = append(reads, read{i, pipe.HGetAll(ctx, k.histHour(s, p.queue, p.typ))})
			}
			continue
		}
		var minutes []string
		for m := s * per; m < (s+1)*per && m <= minuteNow; m++ {
			minutes = append(minutes, strconv.FormatInt(m, 10))
			for _, p := range pairs {
				reads = append(reads, read{i, pipe.HGetAll(ctx, k.histMinute(m, p.queue, p.typ))})
			}
		}
		if per > 1 && len(minutes) > 0 {
			samples[i] = pipe.HMGet(ctx, k.histSampled(), minutes...)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return storageErr(err)
	}
	for _, r := range reads {
		steps[r.step].add(r.cmd.Val())
	}
	for i, cmd := range samples {
		if cmd == nil {
			continue
		}
		n := 0
		for _, v := range cmd.Val() {
			if v != nil {
				n++
			}
		}
		steps[i].add(map[string]string{hfSamples: strconv.Itoa(n)})
	}
	return nil
}
