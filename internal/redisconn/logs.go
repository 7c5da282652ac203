package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RouteLogs sends go-redis's own log lines (a failed dial, a pool
// message) to log as warnings, at most one per interval: while Redis is
// down its dialer would otherwise print a line many times a second. The
// lines dropped meanwhile are counted on the next one.
func RouteLogs(log *slog.Logger, interval time.Duration) {
	redis.SetLogger(&limitedLogger{log: log, interval: interval})
}

type limitedLogger struct {
	log      *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	last    time.Time
	dropped int
}

// Printf implements go-redis's logger.
func (l *limitedLogger) Printf(ctx context.Context, format string, v ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < l.interval {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.last, l.dropped = now, 0
	l.mu.Unlock()
	l.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", fmt.Sprintf(format, v...)),
		slog.Int("similar_lines_dropped", dropped))
}
