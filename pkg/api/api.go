package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/compileo/jobqueue/pkg/dashboard"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
)

// Queue is what the API needs from the job engine. *queue.Client
// implements it; every method does I/O and honours ctx.
type Queue interface {
	Enqueue(ctx context.Context, p queue.EnqueueParams) (*queue.Enqueued, error)
	EnqueueBatch(ctx context.Context, params []queue.EnqueueParams) ([]queue.BatchResult, error)
	Get(ctx context.Context, id string) (*queue.Job, error)
	List(ctx context.Context, p queue.ListParams) (*queue.ListPage, error)
	Cancel(ctx context.Context, id string) error
	Restart(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
	CreateSchedule(ctx context.Context, p queue.ScheduleParams) (*queue.Schedule, error)
	GetSchedule(ctx context.Context, name string) (*queue.Schedule, error)
	ListSchedules(ctx context.Context, cursor string, limit int) (*queue.ScheduleList, error)
	PauseSchedule(ctx context.Context, name string) error
	ResumeSchedule(ctx context.Context, name string) error
	DeleteSchedule(ctx context.Context, name string) error
	ScheduleTickCounts(ctx context.Context) ([]queue.ScheduleTicks, error)
	CancelMatching(ctx context.Context, p queue.BulkParams) (*queue.BulkResult, error)
	RestartMatching(ctx context.Context, p queue.BulkParams) (*queue.BulkResult, error)
	DeleteMatching(ctx context.Context, p queue.BulkParams) (*queue.BulkResult, error)
	Stats(ctx context.Context) (*queue.Stats, error)
	Queues(ctx context.Context) ([]queue.QueueInfo, error)
	PauseQueue(ctx context.Context, queue string) error
	ResumeQueue(ctx context.Context, queue string) error
	SetTypeRate(ctx context.Context, r queue.TypeRate) error
	ClearTypeRate(ctx context.Context, jobType string) (bool, error)
	TypeRates(ctx context.Context) ([]queue.RateState, error)
	History(ctx context.Context, q queue.HistoryQuery) ([]queue.HistoryPoint, error)
	Workers(ctx context.Context) ([]queue.WorkerInfo, error)
	Ping(ctx context.Context) error
	Allow(ctx context.Context, caller string, limit queue.RateLimit) (queue.RateDecision, error)
	Block(ctx context.Context, subject string, d time.Duration) error
	BlockedFor(ctx context.Context, subject string) (time.Duration, error)
	CheckQuota(ctx context.Context, owner string, n, limit int) error
	SubmitPipeline(ctx context.Context, p queue.PipelineParams) (*queue.PipelineSubmitted, error)
	GetPipeline(ctx context.Context, id string) (*queue.Pipeline, error)
	CancelPipeline(ctx context.Context, id string) error
	RestartPipeline(ctx context.Context, id string) error
	Events(ctx context.Context, id string, after int64, kinds queue.HistoryKinds) (*queue.JobEvents, error)
}

// Events delivers the job events that long polls and streams wait on.
// *queue.Hub implements it: one per process, started before the handler
// serves and stopped on shutdown, which ends every open stream and poll.
// When it also counts the events it dropped for slow subscribers
// (Dropped() int64, as the Hub does), /metrics exports the count.
type Events interface {
	Subscribe(jobID string) *queue.Subscription
	// SubscribeMany receives the events of several ids (a pipeline's
	// and its jobs') on one subscription.
	SubscribeMany(ids []string) *queue.Subscription
}

var (
	_ Queue  = (*queue.Client)(nil)
	_ Events = (*queue.Hub)(nil)
)

// server holds the handler's collaborators; its only state is the count
// of open streams and long polls (and the stream tokens' secret).
type server struct {
	cfg     Config
	q       Queue
	events  Events
	log     *slog.Logger
	metrics *metrics
	// waiters counts the open streams and long polls (waiters.go).
	waiters *waiterLimits
	// tokens mints and checks stream tokens (tokens.go).
	tokens *tokenSigner
	// types caches the types live workers announce (types.go).
	types *workerTypes
	// leaser is q's lease protocol, nil when q has none (leases.go);
	// announced, when this instance last announced each HTTP worker.
	leaser    Leaser
	announced announcements
}

// New returns the API's http.Handler: every route of docs/api.md on q,
// with long polls and streams woken by events.
func New(cfg Config, q Queue, events Events) (http.Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if q == nil || events == nil {
		return nil, fmt.Errorf("api: nil queue or events")
	}
	m, err := newMetrics(cfg.Metrics, q, events, cfg.RequestTimeout)
	if err != nil {
		return nil, fmt.Errorf("api metrics: %w", err)
	}
	s := &server{cfg: cfg, q: q, events: events, log: cfg.Logger, metrics: m,
		waiters: newWaiterLimits(cfg.MaxStreams, cfg.MaxStreamsPerCaller),
		tokens:  newTokenSigner(cfg.TokenSecret, cfg.Keys, cfg.StreamTokenTTL),
		types:   &workerTypes{read: q.Workers}}
	s.leaser, _ = q.(Leaser)
	r, err := s.engine()
	if err != nil {
		return nil, err
	}
	s.openRoutes(r)
	s.jobRoutes(r)
	s.operatorRoutes(r)
	s.workerRoutes(r)
	s.pipelineRoutes(r)
	return r, nil
}

// engine is a gin engine with the middleware every request goes through,
// and JSON answers for a wrong path or method.
func (s *server) engine() (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode) // no debug banner; an atomic store
	r := gin.New()
	// Redirects would answer an API client with HTML; a wrong path is a
	// JSON 404 and a wrong method a JSON 405 (with Allow) instead.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	if err := r.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("api config: trusted proxies: %w", err)
	}
	var tracer trace.Tracer
	if s.cfg.Tracer != nil {
		tracer = s.cfg.Tracer.Tracer(tracerName)
	}
	r.Use(s.metrics.observe, s.requestID, s.traced(tracer), s.accessLog, s.recoverPanic)
	if len(s.cfg.CORSOrigins) > 0 {
		r.Use(corsHandler(s.cfg.CORSOrigins, s.writeError))
	}
	guard, err := crossSiteGuard(s.cfg.CORSOrigins, s.writeError)
	if err != nil {
		return nil, fmt.Errorf("api config: %w", err)
	}
	r.Use(guard, s.limitBody)
	r.NoRoute(func(c *gin.Context) { s.writeError(c, errNoRoute) })
	r.NoMethod(func(c *gin.Context) { s.writeError(c, errNoMethod) })
	return r, nil
}

// getAndHead routes GET and HEAD of path to h: HEAD is served wherever GET is,
// by the same handler, whose body net/http drops (a poll or stream
// answers HEAD at once, see watch.go).
func getAndHead(g gin.IRoutes, path string, h ...gin.HandlerFunc) {
	g.GET(path, h...)
	g.HEAD(path, h...)
}

// openRoutes are open to everyone, always: load balancers and Prometheus
// probe them, and the web dashboard's static files (the data it shows
// comes from /api/v1 with the key its user types in).
func (s *server) openRoutes(r *gin.Engine) {
	getAndHead(r, "/healthz", s.healthz)
	getAndHead(r, "/readyz", s.readyz)
	getAndHead(r, "/metrics", s.metrics.serve)
	ui := gin.WrapH(dashboard.Handler())
	getAndHead(r, "/", ui)
	getAndHead(r, dashboard.AssetPrefix+":version/:file", ui)                 // /ui/<fingerprint>/<name>
	getAndHead(r, dashboard.AssetPrefix+":version/vendor/:library/:file", ui) // a vendored library's file
	getAndHead(r, "/api/v1/openapi.json", s.openAPI)                          // it describes, it reveals nothing
}

// jobRoutes are the Jobs API (compatible with Compileo's Jobs API) and
// what it lacks: submissions, listing, a job's events and logs, deletion
// and bulk actions.
func (s *server) jobRoutes(r *gin.Engine) {
	read, submit, admin := s.require(RoleRead), s.require(RoleSubmit), s.require(RoleAdmin)
	getAndHead(r, "/api/v1/workers", read, s.workers)
	getAndHead(r, "/api/v1/whoami", read, s.whoami)
	jobs := r.Group("/api/v1/jobs")
	getAndHead(jobs, "/status/:job_id", read, s.status)
	getAndHead(jobs, "/status/:job_id/poll", read, s.poll)
	getAndHead(jobs, "/status/:job_id/stream", s.requireStream, s.stream)
	getAndHead(jobs, "/queue/stats", read, s.stats)
	getAndHead(jobs, "/queue/history", read, s.history)
	jobs.POST("/status/:job_id/stream-token", read, s.streamToken)
	jobs.POST("/cancel/:job_id", admin, s.cancel)
	jobs.POST("/restart/:job_id", admin, s.restart)
	// Beyond it. gin ≥1.8 routes static segments (status, queue, cancel,
	// restart, batch) beside the :job_id parameter.
	jobs.POST("", submit, s.requireJSON, s.submit)
	jobs.POST("/batch", submit, s.requireJSON, s.submitBatch)
	getAndHead(jobs, "", read, s.list)
	getAndHead(jobs, "/:job_id", read, s.get)
	getAndHead(jobs, "/:job_id/events", read, s.jobEvents)
	getAndHead(jobs, "/:job_id/logs", s.requireStream, s.logs)
	jobs.DELETE("/:job_id", admin, s.delete)
	// Bulk actions on the jobs the list's filters select (bulk.go).
	jobs.POST("/cancel", admin, s.bulkCancel)
	jobs.POST("/restart", admin, s.bulkRestart)
	jobs.DELETE("", admin, s.bulkDelete)
}

// operatorRoutes run the queues: schedules, pauses and rate limits.
func (s *server) operatorRoutes(r *gin.Engine) {
	read, admin := s.require(RoleRead), s.require(RoleAdmin)
	// Periodic schedules (schedules.go).
	schedules := r.Group("/api/v1/schedules")
	schedules.POST("", admin, s.requireJSON, s.createSchedule)
	getAndHead(schedules, "", read, s.listSchedules)
	getAndHead(schedules, "/:name", read, s.getSchedule)
	schedules.POST("/:name/pause", admin, s.pauseSchedule)
	schedules.POST("/:name/resume", admin, s.resumeSchedule)
	schedules.DELETE("/:name", admin, s.deleteSchedule)
	// Queues: listed, paused and resumed (queues.go).
	getAndHead(r, "/api/v1/queues", read, s.listQueues)
	r.POST("/api/v1/queues/:queue/pause", admin, s.pauseQueue)
	r.POST("/api/v1/queues/:queue/resume", admin, s.resumeQueue)
	// Rate limits per job type (ratelimits.go).
	getAndHead(r, "/api/v1/rate_limits", read, s.listRateLimits)
	r.POST("/api/v1/rate_limits", admin, s.requireJSON, s.setRateLimit)
	r.DELETE("/api/v1/rate_limits/:type", admin, s.clearRateLimit)
}

// workerRoutes are the lease protocol of workers in any language
// (leases.go), when the queue has one.
func (s *server) workerRoutes(r *gin.Engine) {
	if s.leaser == nil {
		return
	}
	worker := s.require(RoleWorker)
	leases := r.Group("/api/v1/leases")
	leases.POST("", worker, s.requireJSON, s.lease)
	leases.POST("/complete", worker, s.requireJSON, s.completeBatch)
	leases.POST("/:job_id/heartbeat", worker, s.requireJSON, s.heartbeat)
	leases.POST("/:job_id/complete", worker, s.requireJSON, s.complete)
	leases.POST("/:job_id/fail", worker, s.requireJSON, s.fail)
	leases.POST("/:job_id/log", worker, s.requireJSON, s.appendLog)
}

// pipelineRoutes submit, read, watch, cancel and restart pipelines
// (pipelines.go).
func (s *server) pipelineRoutes(r *gin.Engine) {
	read, submit, admin := s.require(RoleRead), s.require(RoleSubmit), s.require(RoleAdmin)
	pipes := r.Group("/api/v1/pipelines")
	pipes.POST("", submit, s.requireJSON, s.submitPipeline)
	getAndHead(pipes, "/:pipeline_id", read, s.getPipeline)
	getAndHead(pipes, "/:pipeline_id/stream", s.requireStream, s.pipelineStream)
	pipes.POST("/:pipeline_id/stream-token", read, s.pipelineStreamToken)
	pipes.POST("/:pipeline_id/cancel", admin, s.cancelPipeline)
	pipes.POST("/:pipeline_id/restart", admin, s.restartPipeline)
}

// redisCtx bounds one Redis call made for the request.
func (s *server) redisCtx(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), s.cfg.RequestTimeout)
}

// requestIDPattern is what a caller's X-Request-ID must look like to be
// kept (and logged); anything else is replaced.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// loggerKey is the gin context key of the request's logger.
const loggerKey = "jobqueue.logger"

// requestID names every request — the caller's X-Request-ID when it is a
// sane token, else a new UUID — echoes it in the response, and puts it on
// every log line of the request.
func (s *server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !requestIDPattern.MatchString(id) {
		id = uuid.NewString()
	}
	c.Header("X-Request-ID", id)
	c.Set(loggerKey, s.log.With("request_id", id))
	c.Next()
}

// logFor is the request's logger (with its request id).
func (s *server) logFor(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*slog.Logger)
	}
	return s.log
}

// accessLog logs every request once it is answered.
func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	s.logFor(c).LogAttrs(c.Request.Context(), slog.LevelInfo, "http request",
		slog.String("method", c.Request.Method), slog.String("path", c.Request.URL.Path),
		slog.String("route", c.FullPath()), slog.Int("status", c.Writer.Status()),
		slog.Int("bytes", c.Writer.Size()), slog.String("caller", callerOf(c)),
		slog.Duration("took", time.Since(start)))
}

// recoverPanic turns a panic anywhere below it into a logged 500 JSON
// error, never a dropped connection. (Once a stream has sent its headers
// there is no status left to change: the stream just ends.)
func (s *server) recoverPanic(c *gin.Context) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if p == http.ErrAbortHandler {
			panic(p) // net/http's own way to abort a response
		}
		s.logFor(c).Error("panic serving request", "method", c.Request.Method,
			"path", c.Request.URL.Path, "panic", p, "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		s.writeError(c, fmt.Errorf("panic: %v", p))
	}()
	c.Next()
}

// limitBody refuses bodies over Config.BodyLimit: at once when the
// declared length says so, else when reading passes the limit. A body
// must also arrive within Config.BodyTimeout: a deadline on this
// request's reads, not the server's ReadTimeout, which would cut the
// streams and long polls (they have no body and get no deadline).
func (s *server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > s.cfg.BodyLimit {
		s.writeError(c, &http.MaxBytesError{Limit: s.cfg.BodyLimit})
		return
	}
	if c.Request.ContentLength != 0 { // a body comes (-1: chunked, of unknown length)
		rc := http.NewResponseController(c.Writer)
		if rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout)) == nil {
			c.Request.Body = &deadlineBody{ReadCloser: c.Request.Body, rc: rc}
		}
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.BodyLimit)
	c.Next()
}

// requireJSON refuses a body that does not say it is JSON
// (Content-Type: application/json, charset absent or UTF-8) with 415:
// a browser sends text/plain and form bodies cross-site without asking
// first, JSON only after a CORS preflight.
func (s *server) requireJSON(c *gin.Context) {
	ct := c.GetHeader("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
		s.writeError(c, &requestError{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q: the body must be sent as application/json", ct)})
		return
	}
	c.Next()
}

// deadlineBody lifts the read deadline limitBody set once the body has
// been read to its end, so that the rest of the request (the Redis calls,
// the answer) is not cut by it. A body read that fails keeps the
// deadline: the connection is closed after the answer anyway.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// healthz: the process is alive (it answers); no dependency is checked.
func (s *server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz: this instance can serve, i.e. Redis answers a PING.
func (s *server) readyz(c *gin.Context) {
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	if err := s.q.Ping(ctx); err != nil {
		// Any failure (refused, NOAUTH, LOADING) means not ready: 503.
		if !errors.Is(err, queue.ErrUnavailable) {
			err = fmt.Errorf("%w: %v", queue.ErrUnavailable, err)
		}
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
