package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
)

// stats --watch reads the stats every interval until interrupted. On a
// terminal it redraws one block in place: each count now, the finished
// counts' rate over the last minute, and a sparkline of the last
// sparkWindow: the finished counts' from the queue's history (GET
// /api/v1/jobs/queue/history, read every historyEvery), so they show the
// minutes before the watch began too; the gauges' from its own samples
// (and the finished counts' too when the history cannot be read).
// Elsewhere (a pipe, a file, a CI log) it prints one line per sample, and
// with --json one JSON object per sample.

const (
	// defaultWatchInterval is the pause between two reads of the stats.
	defaultWatchInterval = 2 * time.Second
	// minWatchInterval keeps a watch from hammering the server.
	minWatchInterval = 100 * time.Millisecond
	// sparkWindow is the time a sparkline spans, now at its right end.
	sparkWindow = 30 * time.Minute
	// maxSpark and minSpark bound a sparkline's columns: one a minute at
	// most, fewer on a narrow terminal.
	maxSpark = 30
	minSpark = 10
	// historyEvery is how often the history behind the finished counts'
	// sparklines is read again.
	historyEvery = 10 * time.Second
)

// sparkLevels are a sparkline's glyphs, lowest first.
var sparkLevels = []rune("▁▂▃▄▅▆▇█")

// sample is one read of the stats.
type sample struct {
	at time.Time
	st *client.Stats
}

// watchRow is one line of the block: a count of the stats and whether it
// is a gauge (its sparkline shows the highest value in each column) or a
// counter of finished jobs (the jobs finished in each column).
type watchRow struct {
	name    string
	counter bool
	value   func(*client.Stats) int64
	// step is a counter's count in one step of the history (nil: none).
	step func(*client.HistoryPoint) int64
}

var watchRows = []watchRow{
	{"pending", false, func(s *client.Stats) int64 { return s.PendingJobs }, nil},
	{"scheduled", false, func(s *client.Stats) int64 { return s.ScheduledJobs }, nil},
	{"running", false, func(s *client.Stats) int64 { return s.RunningJobs }, nil},
	{"retrying", false, func(s *client.Stats) int64 { return s.RetryingJobs }, nil},
	{"completed", true, func(s *client.Stats) int64 { return s.CompletedJobs },
		func(p *client.HistoryPoint) int64 { return p.Completed }},
	{"failed", true, func(s *client.Stats) int64 { return s.FailedJobs },
		func(p *client.HistoryPoint) int64 { return p.Failed }},
	{"cancelled", true, func(s *client.Stats) int64 { return s.CancelledJobs },
		func(p *client.HistoryPoint) int64 { return p.Cancelled }},
}

// statsWatch is one run of stats --watch.
type statsWatch struct {
	a        *app
	interval time.Duration
	samples  []sample // oldest first, within sparkWindow (and one before)
	drawn    int      // lines of the block on the terminal
	failing  bool     // the last read failed (reported once)
	// history is the last sparkWindow of the history (nil when it could
	// not be read), read at historyAt.
	history   *client.History
	historyAt time.Time
}

// run samples until ctx ends (Ctrl-C ends a watch: exit 0) or the server
// refuses the request; an unreachable server is retried.
func (w *statsWatch) run(ctx context.Context) error {
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		st, err := w.a.c.Stats(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && refused(err):
			return err
		case err != nil:
			w.report(err)
		default:
			w.failing = false
			w.readHistory(ctx)
			if err := w.show(sample{at: time.Now(), st: st}); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// readHistory reads the history of the last sparkWindow when the terminal
// shows sparklines and the last read is historyEvery old. A server that
// cannot answer leaves the sparklines to the samples.
func (w *statsWatch) readHistory(ctx context.Context) {
	if !w.a.tty || w.a.json || time.Since(w.historyAt) < historyEvery {
		return
	}
	w.historyAt = time.Now()
	h, err := w.a.c.History(ctx, &client.HistoryQuery{Minutes: int(sparkWindow / time.Minute)})
	if err != nil {
		h = nil
	}
	w.history = h
}

// refused reports whether err is the server's answer to a request it
// will refuse again (a 4xx that is not a rate limit): retrying is no use.
func refused(err error) bool {
	var apiErr *client.Error
	return errors.As(err, &apiErr) && apiErr.StatusCode < 500 && !apiErr.Temporary()
}

// report says once that reads fail, until one succeeds again.
func (w *statsWatch) report(err error) {
	if !w.failing {
		fmt.Fprintf(w.a.errOut, "jobctl: %v; retrying every %s\n", err, w.interval)
		w.drawn = 0 // the message moved the block up: draw it anew below
	}
	w.failing = true
}

// show records s and prints it.
func (w *statsWatch) show(s sample) error {
	w.samples = append(w.samples, s)
	for len(w.samples) > 2 && s.at.Sub(w.samples[1].at) > sparkWindow {
		w.samples = w.samples[1:]
	}
	switch {
	case w.a.json:
		return w.a.printJSON(s.st)
	case !w.a.tty:
		_, err := fmt.Fprintln(w.a.out, sampleLine(s))
		return err
	}
	lines := w.block(s.at)
	var b strings.Builder
	if w.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF\x1b[J", w.drawn) // back to the block's first line, cleared to the end
	}
	for _, l := range lines {
		// A line wider than the terminal would wrap, and the next redraw
		// would then start too low.
		b.WriteString(truncate(l, w.a.width-1) + "\n")
	}
	w.drawn = len(lines)
	_, err := io.WriteString(w.a.out, b.String())
	return err
}

// sampleLine is a sample as one line of key=value pairs.
func sampleLine(s sample) string {
	var b strings.Builder
	b.WriteString(s.at.Format(time.RFC3339))
	for _, r := range watchRows {
		fmt.Fprintf(&b, " %s=%d", r.name, r.value(s.st))
	}
	fmt.Fprintf(&b, " workers=%d health=%s", s.st.ActiveWorkers, s.st.QueueHealth.Status)
	return b.String()
}

// block is what the terminal shows at now: a header, then a row per
// count with its sparkline.
func (w *statsWatch) block(now time.Time) []string {
	last := w.samples[len(w.samples)-1].st
	cols := min(max(w.a.width-36, minSpark), maxSpark)
	lines := []string{
		fmt.Sprintf("health %s   workers %d (concurrency %d)   %s",
			last.QueueHealth.Status, last.ActiveWorkers, last.WorkersConcurrency, now.Format("15:04:05")),
		fmt.Sprintf("%-10s %9s %10s  last %s, one column per %s",
			"", "now", "per min", span(sparkWindow), span(sparkWindow/time.Duration(cols))),
	}
	for _, r := range watchRows {
		rate := ""
		if r.counter {
			rate = fmt.Sprintf("%.1f", perMinute(w.samples, r.value, now))
		}
		cs := columns(w.samples, r, now, cols)
		if r.step != nil && w.history != nil {
			cs = historyColumns(w.history, r.step, cols)
		}
		lines = append(lines, fmt.Sprintf("%-10s %9d %10s  %s", r.name, r.value(last), rate, sparkline(cs)))
	}
	return append(lines, fmt.Sprintf("every %s; Ctrl-C stops", w.interval))
}

// span writes a sparkline's duration for people: "30 min", "45 s".
func span(d time.Duration) string {
	if d >= time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}

// perMinute is a counter's increase over the last minute of samples, per
// minute (0 before two samples). The counts are of the finished jobs the
// server keeps, which fall when old ones expire: a fall counts as 0.
func perMinute(samples []sample, value func(*client.Stats) int64, now time.Time) float64 {
	if len(samples) < 2 {
		return 0
	}
	base := len(samples) - 2
	for base > 0 && now.Sub(samples[base-1].at) <= time.Minute {
		base--
	}
	last, first := samples[len(samples)-1], samples[base]
	span := last.at.Sub(first.at).Minutes()
	if span <= 0 {
		return 0
	}
	return float64(max(0, value(last.st)-value(first.st))) / span
}

// column is one column of a sparkline: its value, if any sample fell in it.
type column struct {
	v  float64
	ok bool
}

// columns splits the sparkWindow up to now into cols columns: for a gauge
// the highest value sampled in each, for a counter the increase between
// the samples that fall in it and those just before (falls count 0).
func columns(samples []sample, r watchRow, now time.Time, cols int) []column {
	out := make([]column, cols)
	start := now.Add(-sparkWindow)
	width := sparkWindow / time.Duration(cols)
	for i, s := range samples {
		if s.at.Before(start) || s.at.After(now) || (r.counter && i == 0) {
			continue
		}
		c := min(int(s.at.Sub(start)/width), cols-1)
		v := float64(r.value(s.st))
		if r.counter {
			v = float64(max(0, r.value(s.st)-r.value(samples[i-1].st)))
			out[c].v += v
		} else {
			out[c].v = max(out[c].v, v)
		}
		out[c].ok = true
	}
	return out
}

// historyColumns splits the steps of h, oldest first, into cols columns
// of equal spans: each the sum of its steps' counts (step reads one).
func historyColumns(h *client.History, step func(*client.HistoryPoint) int64, cols int) []column {
	out := make([]column, cols)
	n := len(h.Points)
	for i := range h.Points {
		c := i * cols / max(n, 1)
		out[c].v += float64(step(&h.Points[i]))
		out[c].ok = true
	}
	return out
}

// sparkline draws columns: a blank where nothing was sampled, the lowest
// glyph for 0, and the rest scaled to the highest column.
func sparkline(cols []column) string {
	top := 0.0
	for _, c := range cols {
		top = max(top, c.v)
	}
	var b strings.Builder
	for _, c := range cols {
		switch {
		case !c.ok:
			b.WriteRune(' ')
		case c.v <= 0 || top == 0:
			b.WriteRune(sparkLevels[0])
		default:
			i := 1 + int(c.v/top*float64(len(sparkLevels)-2)+0.5)
			b.WriteRune(sparkLevels[min(i, len(sparkLevels)-1)])
		}
	}
	return strings.TrimRight(b.String(), " ")
}
