package queue

import (
	"context"
	"strconv"
	"strings"
	"testing"

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
