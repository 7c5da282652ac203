package queue

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// A job's log: lines its handler writes while it runs (ActiveJob.Log in
// Go, the lease protocol's log call from any language), kept in Redis
// with the job (jobevents.go) and published as events, so that an operator
// can read what a job did, and follow it live, from any apiserver. A log
// keeps its newest Config.LogLines lines and counts the ones it let go;
// a line is cut at Config.LogLineBytes.

// The levels of a log line.
const (
	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"
)

// Defaults and limits of job logs.
const (
	// DefaultLogLines is the default of Config.LogLines.
	DefaultLogLines = 1000
	// DefaultLogLineBytes is the default of Config.LogLineBytes.
	DefaultLogLineBytes = 4096
	// MaxLogBatch bounds the lines of one AppendLog call.
	MaxLogBatch = 1000
)

// LogLine is one line of a job's log.
type LogLine struct {
	// Level is LogDebug, LogInfo, LogWarn or LogError.
	Level   string
	Message string
	// TimeMS is when the line was written, Unix milliseconds (the
	// writer's clock); 0 when appended means now.
	TimeMS int64
}

// Time is when the line was written.
func (l LogLine) Time() time.Time { return time.UnixMilli(l.TimeMS).UTC() }

// ValidLogLevel reports whether level is one of the log levels.
func ValidLogLevel(level string) bool {
	switch level {
	case LogDebug, LogInfo, LogWarn, LogError:
		return true
	}
	return false
}

// AppendLog adds lines to the log of job id for the run holding it
// (token): the lease protocol's log call. The lines are written only
// while that run holds the job (ErrLeaseLost otherwise, ErrJobNotFound
// for a job that is gone); a level other than the four is ErrInvalid; a
// message longer than Config.LogLineBytes is cut.
func (c *Client) AppendLog(ctx context.Context, id, token string, lines []LogLine) error {
	if len(lines) == 0 || len(lines) > MaxLogBatch {
		return invalidf("%d log lines: want 1-%d", len(lines), MaxLogBatch)
	}
	now := time.Now().UnixMilli()
	out := make([]LogLine, len(lines))
	for i, l := range lines {
		if !ValidLogLevel(l.Level) {
			return invalidf("log level %q: want debug, info, warn or error", l.Level)
		}
		if l.TimeMS <= 0 {
			l.TimeMS = now
		}
		l.Message = c.cutLogLine(l.Message)
		out[i] = l
	}
	if err := c.luaLog(ctx, []logBatch{{id: id, token: token, lines: out}})[0]; err != nil {
		return fmt.Errorf("log %s: %w", id, err)
	}
	return nil
}

// cutLogLine bounds a message to Config.LogLineBytes, cut at a character
// boundary.
func (c *Client) cutLogLine(msg string) string {
	if len(msg) <= c.logLineBytes {
		return msg
	}
	n := c.logLineBytes
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n]
}
