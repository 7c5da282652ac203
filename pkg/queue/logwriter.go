package queue

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"
)

// A run's log lines (ActiveJob.Log) are written like its progress
// (progress.go): never on the handler's goroutine, in batches per worker
// — the log writer sends the lines of every run that has some waiting in
// one log.lua call per shard — so that a chatty handler costs a share of
// a round trip per batch, not one per line. A run keeps at most
// Config.LogLines unwritten lines (the log would keep no more): older
// ones are dropped and counted. Before a run's final transition its
// lines are written, so that a log never ends after its job did.

// runLog is a run's log lines not yet written, guarded by mu.
type runLog struct {
	mu      sync.Mutex
	lines   []LogLine
	dropped int  // lines dropped for want of room, not yet counted in Redis
	queued  bool // the log writer has the run in its due list
	busy    bool // a batch with some of its lines is being written
}

// logWriter writes the waiting log lines of a worker's runs. It is a
// service: while it does not run, each run's lines are written on their
// own.
type logWriter struct {
	service
	w *Worker

	mu   sync.Mutex
	due  []*run
	kick chan struct{}

	// writing is held during every write, so that a run's own final
	// write (flushLogs) comes after the batch carrying its older lines.
	writing sync.Mutex
}

func newLogWriter(w *Worker) *logWriter {
	return &logWriter{w: w, kick: make(chan struct{}, 1)}
}

// Start starts the writing loop.
func (l *logWriter) Start(ctx context.Context) error { return l.start(ctx, nil, l.loop) }

// Stop ends the writing loop; later lines are written run by run.
func (l *logWriter) Stop() { l.stop(nil) }

func (l *logWriter) enqueue(r *run) {
	if l.stopped() == nil || isClosed(l.stopped()) {
		go l.writeRun(r)
		return
	}
	l.mu.Lock()
	l.due = append(l.due, r)
	first := len(l.due) == 1
	l.mu.Unlock()
	if first {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

func (l *logWriter) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			for l.writeDue() {
			}
			return
		case <-l.kick:
		}
		for range progressYields { // lines about to be logged join the batch
			runtime.Gosched()
		}
		for l.writeDue() {
		}
	}
}

// writeDue takes due runs, up to about MaxLogBatch lines, once no write
// is in flight, and writes their lines. It reports whether there were any.
func (l *logWriter) writeDue() bool {
	l.writing.Lock()
	defer l.writing.Unlock()
	l.mu.Lock()
	n, lines := 0, 0
	for n < len(l.due) && lines < MaxLogBatch {
		lines += l.due[n].pendingLines()
		n++
	}
	runs := l.due[:n:n]
	l.due = l.due[n:]
	l.mu.Unlock()
	if n == 0 {
		return false
	}
	l.write(runs)
	return true
}

// write takes the lines of runs and writes them. The caller holds l.writing.
func (l *logWriter) write(runs []*run) {
	batches := make([]logBatch, 0, len(runs))
	taken := runs[:0:0]
	for _, r := range runs {
		if b, ok := r.takeLines(); ok {
			batches = append(batches, b)
			taken = append(taken, r)
		}
	}
	if len(batches) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, err := range l.w.c.luaLog(ctx, batches) {
		taken[i].linesWritten(err, len(batches[i].lines))
	}
}

// writeRun writes r's waiting lines now, after any batch in flight.
func (l *logWriter) writeRun(r *run) {
	l.writing.Lock()
	defer l.writing.Unlock()
	l.write([]*run{r})
}

// addLog keeps one line of the run's log and makes sure it is written soon.
func (r *run) addLog(line LogLine) {
	line.Message = r.w.c.cutLogLine(line.Message)
	lg := &r.logs
	lg.mu.Lock()
	if len(lg.lines) >= r.w.c.logLines {
		lg.lines = append(lg.lines[:0], lg.lines[1:]...)
		lg.dropped++
	}
	lg.lines = append(lg.lines, line)
	enqueue := !lg.queued
	lg.queued = true
	lg.mu.Unlock()
	if enqueue {
		r.w.logs.enqueue(r)
	}
}

func (r *run) pendingLines() int {
	r.logs.mu.Lock()
	defer r.logs.mu.Unlock()
	return len(r.logs.lines)
}

// takeLines takes up to MaxLogBatch of the waiting lines; the run stays
// due when more wait.
func (r *run) takeLines() (logBatch, bool) {
	lg := &r.logs
	lg.mu.Lock()
	if len(lg.lines) == 0 && lg.dropped == 0 {
		lg.queued = false
		lg.mu.Unlock()
		return logBatch{}, false
	}
	n := min(len(lg.lines), MaxLogBatch)
	b := logBatch{id: r.job.ID, token: r.token, dropped: lg.dropped, lines: lg.lines[:n:n]}
	lg.lines, lg.dropped, lg.busy = lg.lines[n:], 0, true
	more := len(lg.lines) > 0
	if !more {
		lg.lines, lg.queued = nil, false
	}
	lg.mu.Unlock()
	if more {
		r.w.logs.enqueue(r)
	}
	return b, true
}

// linesWritten acts on a write's outcome. A run that lost its job is
// stopped by its progress or heartbeat writes; its lines are refused.
func (r *run) linesWritten(err error, n int) {
	r.logs.mu.Lock()
	r.logs.busy = false
	r.logs.mu.Unlock()
	if err != nil && !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrJobNotFound) {
		r.w.log.Warn("log write failed", "job_id", r.job.ID, "lines", n, "err", err)
	}
}

// flushLogs writes the run's waiting lines, if any, before its final
// transition; a run that logged nothing pays one uncontended lock.
func (r *run) flushLogs() {
	r.logs.mu.Lock()
	idle := len(r.logs.lines) == 0 && r.logs.dropped == 0 && !r.logs.busy
	r.logs.mu.Unlock()
	if !idle {
		r.w.logs.writeRun(r)
	}
}

// jobLogHandler is the slog.Handler of ActiveJob.Log in a worker: every
// line goes to the worker's own handler (when it takes the level) and to
// the job's log (at Info and above, or any level the worker's takes).
type jobLogHandler struct {
	inner  slog.Handler // the worker's, with the job's attributes
	r      *run
	attrs  string // " k=v" of With, for the job's log
	prefix string // the open groups, "g.h."
}

// Enabled takes what either destination takes.
func (h *jobLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.inner.Enabled(ctx, level)
}

// Handle writes the record to both destinations.
func (h *jobLogHandler) Handle(ctx context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	b.WriteString(h.attrs)
	rec.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.prefix, a)
		return true
	})
	t := rec.Time
	if t.IsZero() {
		t = time.Now()
	}
	h.r.addLog(LogLine{Level: logLevel(rec.Level), Message: b.String(), TimeMS: t.UnixMilli()})
	if h.inner.Enabled(ctx, rec.Level) {
		return h.inner.Handle(ctx, rec)
	}
	return nil
}

// WithAttrs adds attributes to both destinations.
func (h *jobLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		writeAttr(&b, h.prefix, a)
	}
	return &jobLogHandler{inner: h.inner.WithAttrs(attrs), r: h.r, attrs: b.String(), prefix: h.prefix}
}

// WithGroup opens a group in both destinations.
func (h *jobLogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &jobLogHandler{inner: h.inner.WithGroup(name), r: h.r, attrs: h.attrs, prefix: h.prefix + name + "."}
}

// writeAttr writes " key=value" (groups flattened into dotted keys).
func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			writeAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(a.Value.String())
}

// logLevel names a slog level as a log line's level.
func logLevel(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return LogDebug
	case l < slog.LevelWarn:
		return LogInfo
	case l < slog.LevelError:
		return LogWarn
	}
	return LogError
}
