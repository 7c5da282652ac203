package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/compileo/jobqueue/pkg/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
)

// Defaults and limits of the API.
const (
	// DefaultBodyLimit bounds a request body (1 MiB); larger bodies get 413.
	DefaultBodyLimit = 1 << 20
	// DefaultBodyTimeout bounds the wait for a request body: a client
	// that sends it slower gets 408 and its connection is closed.
	DefaultBodyTimeout = 10 * time.Second
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
	// DefaultMaxStreams bounds the SSE streams and long polls open at once
	// on one instance, and DefaultMaxStreamsPerCaller those of one caller
	// (an API key, or a client address without keys) on one instance.
	DefaultMaxStreams          = 4096
	DefaultMaxStreamsPerCaller = 256
	// DefaultMaxJobTimeout is the longest a job's run may take, and the
	// run time of a job submitted without one.
	DefaultMaxJobTimeout = 24 * time.Hour
	// DefaultJobQuota is the most unfinished jobs one caller may have.
	DefaultJobQuota = 10000
)

// DefaultAuthFailureLimit is the failed authentications a client address
// may make (10 a minute, 10 at once) before it is barred.
var DefaultAuthFailureLimit = queue.RateLimit{Rate: 10, Period: time.Minute}

// Config configures the API handler. Zero fields take the defaults.
type Config struct {
	// BodyLimit is the largest request body accepted, in bytes.
	// Default DefaultBodyLimit.
	BodyLimit int64
	// BodyTimeout bounds the reading of a request body, from the moment
	// its headers are in: one slow client must not hold a connection (and
	// a goroutine) for ever by trickling a declared body byte by byte.
	// Streams and long polls have no body and are not cut by it.
	// Default DefaultBodyTimeout.
	BodyTimeout time.Duration
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
	// MaxJobTimeout bounds each run of a job (its timeout_seconds): a
	// submission asking for more is refused, and one asking for none (0,
	// or no timeout_seconds) gets this, so that no job holds a worker's
	// slot for longer. At most queue.MaxTimeout. Default
	// DefaultMaxJobTimeout.
	MaxJobTimeout time.Duration
	// JobQuota is the most unfinished jobs (pending, scheduled, retrying
	// or running) one caller — an API key, or a client address without
	// keys — may have; a submission that would pass it gets 429.
	// Default DefaultJobQuota; negative means no quota.
	JobQuota int
	// ListBytes bounds the bytes of job fields one list page holds
	// (payloads and results when asked for): past it the page ends early,
	// with a cursor. It bounds what one list request makes this instance
	// and Redis hold. Default queue.DefaultListBytes.
	ListBytes int
	// MaxStreams bounds the SSE streams and long polls open at once on
	// this instance; past it a new one gets 429. Each holds a connection
	// (a file descriptor) for as long as it lasts, so keep it well under
	// the process's open-file limit. Default DefaultMaxStreams.
	MaxStreams int
	// MaxStreamsPerCaller bounds those of one caller (an API key, or a
	// client address without keys) on this instance, so one caller cannot
	// take them all. Default DefaultMaxStreamsPerCaller.
	MaxStreamsPerCaller int
	// StreamTokenTTL is how long a stream token opens its stream (a token
	// is checked when the stream opens or reconnects; an open stream is
	// not cut when its token expires). Default DefaultStreamTokenTTL.
	StreamTokenTTL time.Duration
	// TokenSecret signs stream tokens; every instance must have the same.
	// Empty means a secret derived from Keys, which instances with the
	// same keys share without more configuration; set it while instances
	// hold different keys (a rolling change of keys), or tokens minted on
	// one are refused by another. It must be as strong as a key's secret.
	TokenSecret string
	// AuthFailureLimit is the budget of failed authentications (a key
	// that is not valid) of each client address, shared by every instance
	// through Redis; past it the address is barred — every request from
	// it, valid keys included, gets 429 — until the budget allows one
	// more try, so that guessing keys goes no faster than the budget.
	// Nil means DefaultAuthFailureLimit; a zero RateLimit, no throttle.
	// Only used with Keys.
	AuthFailureLimit *queue.RateLimit
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
	// Callbacks accepts callback_url on submissions and says which
	// addresses a callback may reach (callbacks.go). Nil refuses every
	// callback_url: deliveries need the deployment's webhook secret,
	// which the caller sets this with.
	Callbacks *webhook.Guard
	// Tracer, when set, traces every request (tracing.go); a job a
	// request submits joins its trace when the queue's client traces too
	// (queue.Config.Tracer). Nil makes no span; a traceparent a caller
	// sends is still stored with the jobs it submits.
	Tracer trace.TracerProvider
}

// withDefaults validates cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.BodyLimit < 0 || cfg.BodyTimeout < 0 || cfg.RequestTimeout < 0 || cfg.Heartbeat < 0 {
		return cfg, fmt.Errorf("api config: negative body limit, body timeout, request timeout or heartbeat")
	}
	cfg.BodyLimit = cmp.Or(cfg.BodyLimit, DefaultBodyLimit)
	cfg.BodyTimeout = cmp.Or(cfg.BodyTimeout, DefaultBodyTimeout)
	if cfg.StreamTokenTTL < 0 {
		return cfg, fmt.Errorf("api config: negative stream token lifetime")
	}
	cfg.StreamTokenTTL = cmp.Or(cfg.StreamTokenTTL, DefaultStreamTokenTTL)
	if cfg.TokenSecret != "" {
		if err := CheckSecret(cfg.TokenSecret); err != nil {
			return cfg, fmt.Errorf("api config: token secret: %w", err)
		}
	}
	if cfg.MaxJobTimeout < 0 || cfg.MaxJobTimeout > queue.MaxTimeout {
		return cfg, fmt.Errorf("api config: max job timeout %s: want up to %s", cfg.MaxJobTimeout, queue.MaxTimeout)
	}
	cfg.MaxJobTimeout = cmp.Or(cfg.MaxJobTimeout, DefaultMaxJobTimeout)
	cfg.JobQuota = cmp.Or(cfg.JobQuota, DefaultJobQuota)
	if cfg.ListBytes < 0 {
		return cfg, fmt.Errorf("api config: negative list page bytes")
	}
	cfg.ListBytes = cmp.Or(cfg.ListBytes, queue.DefaultListBytes)
	if cfg.MaxStreams < 0 || cfg.MaxStreamsPerCaller < 0 {
		return cfg, fmt.Errorf("api config: negative stream limit")
	}
	cfg.MaxStreams = cmp.Or(cfg.MaxStreams, DefaultMaxStreams)
	cfg.MaxStreamsPerCaller = cmp.Or(cfg.MaxStreamsPerCaller, DefaultMaxStreamsPerCaller)
	cfg.RequestTimeout = cmp.Or(cfg.RequestTimeout, DefaultRequestTimeout)
	cfg.Heartbeat = cmp.Or(cfg.Heartbeat, DefaultHeartbeat)
	if err := cfg.RateLimit.Validate(); err != nil {
		return cfg, fmt.Errorf("api config: %w", err)
	}
	if cfg.AuthFailureLimit == nil {
		l := DefaultAuthFailureLimit
		cfg.AuthFailureLimit = &l
	}
	if err := cfg.AuthFailureLimit.Validate(); err != nil {
		return cfg, fmt.Errorf("api config: auth failure limit: %w", err)
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
