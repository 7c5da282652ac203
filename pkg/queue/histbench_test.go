package queue

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

// BenchmarkHistoryMemory measures the Redis memory of a full history:
// 30 days of 20 types in one queue, every minute of the last 48 hours
// busy (each type's minute with five counters, two samples and eight run
// and eight wait buckets, as a steady load of mixed durations writes
// them), rolled up into hours by RollupHistory, and the older hours
// alike. It runs once, on a redis-server of its own:
//
//	go test -run '^$' -bench HistoryMemory -benchtime 1x ./pkg/queue/
func BenchmarkHistoryMemory(b *testing.B) {
	srv := redistest.New(b, nil)
	c, bu := setupOn(b, srv)
	ctx := context.Background()
	k := c.shards[0]
	before := usedMemory(b, bu)
	now, err := c.redisNow(ctx, k)
	if err != nil {
		b.Fatal(err)
	}
	const types = 20
	minute := now.Unix() / 60
	// Write each minute through the scripts' own hist_write.
	script := mustRead("lib.lua") + `
local h = {}
for t = 1, 20 do
  local typ = 'type.' .. t
  hist_add(h, 'default', typ, 's', 100)
  hist_add(h, 'default', typ, 'c', 95)
  hist_add(h, 'default', typ, 'f', 2)
  hist_add(h, 'default', typ, 'r', 3)
  hist_add(h, 'default', typ, 'b', 100)
  hist_add(h, 'default', typ, 'p', 1500)
  hist_add(h, 'default', typ, 'n', 32)
  for i = 0, 7 do
    hist_add(h, 'default', typ, 'c', 0, 'R', 40 * 2 ^ (i / 2))
    hist_add(h, 'default', typ, 'c', 0, 'W', 3 * 2 ^ (i / 2))
  end
end
hist_write(h, KEYS[1], tonumber(ARGV[1]) * 60000)
return 0`
	pipe := bu.rdb.Pipeline()
	for m := minute - HistoryMaxMinutes + 1; m <= minute; m++ {
		pipe.Eval(ctx, script, []string{k.history()}, m)
		if pipe.Len() == 200 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	minutes := usedMemory(b, bu)
	if _, err := c.RollupHistory(ctx); err != nil {
		b.Fatal(err)
	}
	// The hours beyond the minutes kept: copies of a rolled-up hour.
	last := (minute-1)/60 - 1
	for t := 1; t <= types; t++ {
		typ := "type." + strconv.Itoa(t)
		fields, err := bu.rdb.HGetAll(ctx, k.histHour(last, DefaultQueue, typ)).Result()
		if err != nil || len(fields) == 0 {
			b.Fatalf("hour %d of %s: %v %v", last, typ, fields, err)
		}
		for h := minute/60 - HistoryMaxHours; h < minute/60-47; h++ {
			pipe.HSet(ctx, k.histHour(h, DefaultQueue, typ), fields)
			pipe.Expire(ctx, k.histHour(h, DefaultQueue, typ), histHourTTL)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	after := usedMemory(b, bu)
	b.ReportMetric(float64(minutes-before)/1e6, "minutes-MB")
	b.ReportMetric(float64(after-minutes)/1e6, "hours-MB")
	b.ReportMetric(float64(after-before)/1e6, "total-MB")
	b.ReportMetric(float64(after-before)/float64(types*(HistoryMaxMinutes+HistoryMaxHours)), "bytes/key")
	// What reading it back takes, every type summed: the last hour, day
	// and 30 days.
	for _, q := range []struct {
		name string
		q    HistoryQuery
	}{{"hour", HistoryQuery{Step: time.Minute, Points: 60}}, {"day", HistoryQuery{Step: time.Minute, Points: 1440}},
		{"month", HistoryQuery{Step: time.Hour, Points: HistoryMaxHours}}} {
		t0 := time.Now()
		pts, err := c.History(ctx, q.q)
		if err != nil || len(pts) != q.q.Points || pts[len(pts)/2].Completed != types*95*int64(q.q.Step/time.Minute) {
			b.Fatalf("%s: %d points, %v", q.name, len(pts), err)
		}
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "read-"+q.name+"-ms")
	}
}

func usedMemory(b *testing.B, bu *bundle) int64 {
	b.Helper()
	info := bu.rdb.Info(context.Background(), "memory").Val()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("INFO memory has no used_memory")
	return 0
}

// BenchmarkHistoryWrite measures the Redis CPU the history adds to the
// transitions, per job, apart from the rest of their scripts: one EVAL
// runs b.N times what a call of each transition adds (hist_add per job,
// then hist_write), and INFO cpu is read around it. submit, claim and
// complete take batches of 32 (a claim's waits spread over four buckets,
// a completion's run times over eight); fail is a lone job's call.
// Measured inside one script, it is little moved by the load of other
// processes on the machine, which blurs BenchmarkTransitions' totals.
//
//	go test -run '^$' -bench HistoryWrite -benchtime 2000x ./pkg/queue/
func BenchmarkHistoryWrite(b *testing.B) {
	srv := redistest.New(b, nil)
	c, bu := setupOn(b, srv)
	ctx := context.Background()
	script := mustRead("lib.lua") + `
local now = now_ms()
local batch, field, prefix, spread = tonumber(ARGV[2]), ARGV[3], ARGV[4], tonumber(ARGV[5])
local ms = {}
for i = 1, batch do ms[i] = 50 * 2 ^ ((i % spread) / 4) end
for n = 1, tonumber(ARGV[1]) do
  local h = {}
  for i = 1, batch do
    if prefix == '' then hist_add(h, 'default', 'x', field)
    else hist_add(h, 'default', 'x', field, 1, prefix, ms[i]) end
  end
  hist_write(h, KEYS[1], now)
end
return 0`
	for _, tc := range []struct {
		name          string
		batch         int
		field, prefix string
		spread        int
	}{
		{"submit", 32, hfSubmitted, "", 1},
		{"claim", 32, hfStarted, hfWaitPrefix, 4},
		{"complete", 32, hfCompleted, hfRunPrefix, 8},
		{"fail", 1, hfFailed, hfRunPrefix, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m := &redisMeter{b: b, rdb: bu}
			m.start()
			err := bu.rdb.Eval(ctx, script, []string{c.shards[0].history()}, b.N, tc.batch, tc.field, tc.prefix, tc.spread).Err()
			if err != nil {
				b.Fatal(err)
			}
			cpu, _ := m.read()
			b.ReportMetric((cpu-m.cpu)*1e6/float64(b.N*tc.batch), "redis-µs/job")
		})
	}
}
