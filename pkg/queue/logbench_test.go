package queue

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"testing"
	"time"
)

// logFollowPace is how often BenchmarkLogFollow's handler logs a line.
const logFollowPace = time.Millisecond

// BenchmarkLogFollow measures how soon a follower sees a log line: a
// handler writes b.N lines through ActiveJob.Log, one per logFollowPace,
// each stamped with the time it was logged; a Hub subscriber (what an
// SSE follower of GET .../logs?follow=1 reads) takes the time each line
// arrives (reading what the Hub's buffer dropped from the history, as the
// follower does). It reports the latency's p50, p99 and maximum, the path
// being the worker's log writer (batching), log.lua, pub/sub and the Hub:
//
//	go test ./pkg/queue -run '^$' -bench BenchmarkLogFollow -benchtime 3000x
func BenchmarkLogFollow(b *testing.B) {
	c, _ := setup(b)
	ctx := context.Background()
	hub := startHub(b, c)
	lines := b.N
	mux := NewMux()
	mux.HandleFunc("chatty", func(ctx context.Context, job *ActiveJob) (any, error) {
		log := job.Log()
		next := time.Now()
		for range lines {
			log.Info(strconv.FormatInt(time.Now().UnixNano(), 10))
			next = next.Add(logFollowPace)
			time.Sleep(time.Until(next))
		}
		return nil, nil
	})
	e, err := c.Enqueue(ctx, EnqueueParams{Type: "chatty"})
	if err != nil {
		b.Fatal(err)
	}
	sub := hub.Subscribe(e.ID)
	defer sub.Close()
	w, err := NewWorker(c, mux, WorkerConfig{Concurrency: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	lat := make([]time.Duration, 0, lines)
	var last int64 // the last line's id
	missed := 0    // times the Hub's buffer overflowed
	for len(lat) < lines {
		ev, ok := <-sub.C
		if !ok || ev.Status.Terminal() {
			break
		}
		got := []Event{ev}
		if sub.Missed() { // as a follower does: what the buffer lost, from the history
			h, err := c.Events(ctx, e.ID, last, HistoryLogs)
			if err != nil {
				b.Fatal(err)
			}
			got, missed = h.Events, missed+1
		}
		for _, ev := range got {
			if ev.Log == nil || ev.Version <= last {
				continue
			}
			last = ev.Version
			ns, err := strconv.ParseInt(ev.Log.Message, 10, 64)
			if err != nil {
				b.Fatalf("line %q", ev.Log.Message)
			}
			lat = append(lat, time.Since(time.Unix(0, ns)))
		}
	}
	b.StopTimer()
	if len(lat) != lines {
		b.Fatalf("%d of %d lines seen", len(lat), lines)
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(missed), "overflows")
}
