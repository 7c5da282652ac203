package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Defaults and limits of the API.
const (
	// DefaultBodyLimit bounds a request body (1 MiB); larger bodies get 413.
	DefaultBodyLimit = 1 << 20
	// DefaultRequestTimeout bounds every Redis call made for a request, so
	// an unreachable Redis answers 503 instead of hanging.
	DefaultRequestTimeout = time.Second
	// DefaultHeartbeat is the interval of the SSE keep-alive comment, short
	// enough for proxies that drop idle connections after 30-60 s.
	DefaultHeartbeat = 15 * time.Second
	// DefaultPollTimeout and MaxPollTimeout bound a long poll's wait
	// (the poll's "timeout" parameter, in seconds 1-300).
	DefaultPollTimeout = 30 * time.Second
	MaxPollTimeout     = 300 * time.Second
	// MaxBatch is the most jobs one batch submission may hold.
	MaxBatch = 1000
)

// Config configures the API handler. Zero fields take the defaults.
type Config struct {
	// BodyLimit is the largest request body accepted, in bytes.
	// Default DefaultBodyLimit.
	BodyLimit int64
	// RequestTimeout bounds each Redis call made for a request.
	// Default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Heartbeat is the interval of the SSE keep-alive comment.
	// Default DefaultHeartbeat.
	Heartbeat time.Duration
	// JobTypes are the job types a submission may name besides the types
	// the live workers advertise, and the checks of their payloads. Nil
	// means none: only advertised types are accepted, and no payload is
	// checked.
	JobTypes JobTypes
	// Keys are the API keys; empty means the API is open to everyone.
	Keys []Key
	// RateLimit is each caller's request budget (a caller is an API key,
	// or a client address when there are no keys), shared by every
	// instance through Redis. The zero value means no limit.
	RateLimit queue.RateLimit
	// CORSOrigins are the origins browsers may call the API from ("*" for
	// any); empty means no CORS headers (same-origin only).
	CORSOrigins []string
	// TrustedProxies are the addresses or CIDRs of the proxies whose
	// X-Forwarded-For names the client; empty trusts none, so the client
	// is the connection's peer.
	TrustedProxies []string
	// Metrics is the registry /metrics serves, which New adds the API's
	// metrics to. Nil means a new registry with the Go runtime and process
	// collectors.
	Metrics *prometheus.Registry
	// Logger receives the access log and every 5xx. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults validates cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.BodyLimit < 0 || cfg.RequestTimeout < 0 || cfg.Heartbeat < 0 {
		return cfg, fmt.Errorf("api config: negative body limit, request timeout or heartbeat")
	}
	cfg.BodyLimit = cmp.Or(cfg.BodyLimit, DefaultBodyLimit)
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.Heartbeat = cmp.Or(cfg.Heartbeat, DefaultHeartbeat)
	if err := cfg.RateLimit.Validate(); err != nil {
		return cfg, fmt.Errorf("api config: %w", err)
	}
	for _, o := range cfg.CORSOrigins {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			return cfg, fmt.Errorf("api config: CORS origin %q: want * or a scheme://host[:port]", o)
		}
	}
	if cfg.JobTypes == nil {
		cfg.JobTypes = TypeSet{}
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
		cfg.Metrics.MustRegister(collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// JobTypes is what the API is told of the job types it accepts: whether a
// type has a handler, and whether a payload suits it. The API asks it of
// every submission; a type it does not know is still accepted when a live
// worker advertises it. It is an interface so that where the types come
// from (a fixed list given at start-up, or workers that announce theirs)
// is the caller's business. Implementations must be safe for concurrent use.
type JobTypes interface {
	// Known reports whether jobs of typ have a handler.
	Known(typ string) bool
	// ValidatePayload checks a payload of type typ as its handler will
	// before it runs, so that a bad one is refused at once (400) instead
	// of failing on a worker later; nil accepts it. It is asked of every
	// accepted type, known here or advertised by a worker.
	ValidatePayload(typ string, payload json.RawMessage) error
}

// TypeSet is a fixed set of JobTypes: each type with the check of its
// payloads (nil: any payload).
type TypeSet map[string]func(payload json.RawMessage) error

// Known reports whether typ is in the set.
func (s TypeSet) Known(typ string) bool {
	_, ok := s[typ]
	return ok
}

// ValidatePayload runs typ's check, if it has one.
func (s TypeSet) ValidatePayload(typ string, payload json.RawMessage) error {
	if check := s[typ]; check != nil {
		return check(payload)
	}
	return nil
}
