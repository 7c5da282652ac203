// Package servertest runs the whole service inside a test process, for
// tests of its clients (the SDK, the CLI): the HTTP API as cmd/apiserver
// serves it (api.New behind a real HTTP server on 127.0.0.1:0, with its
// own event Hub), on a real redis-server, and a worker running the
// built-in handlers (the demo type included). More API instances can be
// added on the same Redis, and one can be shut down as SIGTERM would, to
// test reconnection across instances.
package servertest

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/api"
	"github.com/compileo/jobqueue/pkg/handlers"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// Options tune a Server; nil means the defaults.
type Options struct {
	// Prefix isolates the server's keys on a shared Redis. Default: one of
	// its own.
	Prefix string
	// Concurrency of the worker: 0 means 4; negative means no worker
	// (until StartWorker).
	Concurrency int
	// Keys are the API keys every API instance requires; none means an
	// open API.
	Keys []api.Key
}

// Server is the service on one Redis: API instances and a worker.
type Server struct {
	// URL is the first API instance's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Queue is a client of the engine, for looking behind the API.
	Queue *queue.Client

	rdb    *redis.Client
	prefix string
	keys   []api.Key
	worker *queue.Worker
	mu     sync.Mutex
	apis   []*API
}

// API is one API instance: the apiserver's handler on its own listener
// and event Hub.
type API struct {
	URL  string
	hub  *queue.Hub
	ts   *httptest.Server
	once sync.Once
}

var seq atomic.Int64

// Start starts the service on the redis-server at redisAddr. Close it
// when done.
func Start(ctx context.Context, redisAddr string, opts *Options) (*Server, error) {
	if opts == nil {
		opts = &Options{}
	}
	s := &Server{prefix: cmp.Or(opts.Prefix, fmt.Sprintf("servertest%d", seq.Add(1))), keys: opts.Keys,
		rdb: redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: 32})}
	var err error
	if s.Queue, err = queue.NewClient(ctx, s.rdb, &queue.Config{Prefix: s.prefix}); err != nil {
		s.Close()
		return nil, err
	}
	if opts.Concurrency >= 0 {
		if err := s.StartWorker(ctx, cmp.Or(opts.Concurrency, 4)); err != nil {
			s.Close()
			return nil, err
		}
	}
	a, err := s.AddAPI(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.URL = a.URL
	return s, nil
}

// New starts the service on the test binary's shared redis-server under a
// key prefix of the test's own; it is closed at cleanup.
func New(t testing.TB, opts *Options) *Server {
	t.Helper()
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.Prefix = cmp.Or(o.Prefix, redistest.Prefix(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, redistest.Shared(t).Addr, &o)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

var discard = slog.New(slog.DiscardHandler)

// StartWorker starts the worker of a server started without one
// (Concurrency < 0): a test can then watch a job from before it runs.
func (s *Server) StartWorker(ctx context.Context, concurrency int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.worker != nil {
		return fmt.Errorf("servertest: the worker is already started")
	}
	mux := queue.NewMux()
	handlers.Register(mux)
	// Frequent progress writes, so streams have events to carry.
	w, err := queue.NewWorker(s.Queue, mux, queue.WorkerConfig{Concurrency: concurrency,
		LeaseTTL: 3 * time.Second, ShutdownTimeout: time.Second, ProgressInterval: 10 * time.Millisecond,
		Logger: discard})
	if err == nil {
		err = w.Start(ctx)
	}
	if err != nil {
		return fmt.Errorf("servertest: worker: %w", err)
	}
	s.worker = w
	return nil
}

// AddAPI starts one more API instance on the same Redis and prefix.
func (s *Server) AddAPI(ctx context.Context) (*API, error) {
	hub := s.Queue.NewHub()
	if err := hub.Start(ctx); err != nil {
		return nil, fmt.Errorf("servertest: hub: %w", err)
	}
	h, err := api.New(api.Config{Logger: discard, Keys: s.keys, JobTypes: api.TypesWithInputs{TypeSet: handlers.Validators(), Inputs: handlers.InputValidators()}}, s.Queue, hub)
	if err != nil {
		hub.Stop()
		return nil, err
	}
	a := &API{hub: hub, ts: httptest.NewServer(h)}
	a.URL = a.ts.URL
	s.mu.Lock()
	s.apis = append(s.apis, a)
	s.mu.Unlock()
	return a, nil
}

// APIs lists the API instances, the first one (at URL) first.
func (s *Server) APIs() []*API {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*API(nil), s.apis...)
}

// Shutdown stops the instance as SIGTERM stops an apiserver: its Hub
// first, which ends every open stream (with an SSE "retry:" hint) and
// answers every open long poll, then its HTTP server.
func (a *API) Shutdown() {
	a.once.Do(func() {
		a.hub.Stop()
		a.ts.Close()
	})
}

// Close shuts every API instance down, then stops the worker and closes
// the Redis connection.
func (s *Server) Close() {
	s.mu.Lock()
	apis := s.apis
	s.mu.Unlock()
	for _, a := range apis {
		a.Shutdown()
	}
	s.mu.Lock()
	w := s.worker
	s.mu.Unlock()
	if w != nil {
		w.Stop()
	}
	_ = s.rdb.Close()
}
