// Package webhook delivers job callbacks: when a job submitted with a
// callback URL ends, its record is POSTed there, signed with the
// deployment's secret (sign.go), at least once, with exponential backoff
// for at least RetryWindow. The deliveries themselves live in Redis
// (queue/deliveries.go), claimed with leases like jobs, so that any
// number of Deliverers — in every apiserver and worker, no leader — share
// them and a process killed mid-attempt loses none. Guard keeps callbacks
// away from the deployment's own network.
package webhook

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultPollInterval   = time.Second
	DefaultTimeout        = 10 * time.Second
	DefaultRetryBaseDelay = 5 * time.Second
	DefaultRetryMaxDelay  = time.Hour
	DefaultRetryWindow    = queue.DefaultCallbackWindow
	DefaultConcurrency    = 8
)

// Config configures a Deliverer. Zero durations take the defaults.
type Config struct {
	// Secret keys the signatures; required. Every process of a
	// deployment must have the same.
	Secret string
	// Guard decides which addresses a callback may reach (checked at
	// every dial). Nil means the zero Guard: public addresses only.
	Guard *Guard
	// Body renders a job's record as the POST's body; required.
	Body func(*queue.Job) ([]byte, error)
	// PollInterval is how often due deliveries are looked for.
	PollInterval time.Duration
	// Lease is how long a claimed delivery is this deliverer's: a
	// deliverer that dies mid-attempt leaves it to the others after it.
	// It must outlast Timeout; default 3 times Timeout.
	Lease time.Duration
	// Timeout bounds one attempt (connection, request and answer).
	Timeout time.Duration
	// RetryBaseDelay is the wait after the first failed attempt; it
	// doubles with each one, up to RetryMaxDelay.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// RetryWindow is how long after a job's end its delivery is retried:
	// the first attempt that fails past it gives up.
	RetryWindow time.Duration
	// Concurrency bounds the attempts in flight. Default
	// DefaultConcurrency.
	Concurrency int
	// Metrics registers the deliverer's metrics when not nil.
	Metrics prometheus.Registerer
	// Logger, default slog.Default().
	Logger *slog.Logger
}

// Deliverer claims due callback deliveries and POSTs them. Start/Stop.
type Deliverer struct {
	q      *queue.Client
	cfg    Config
	client *http.Client
	m      *metrics

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks cfg and returns a stopped Deliverer.
func New(q *queue.Client, cfg Config) (*Deliverer, error) {
	if cfg.Secret == "" {
		return nil, errors.New("webhook: a secret is required")
	}
	if cfg.Body == nil {
		return nil, errors.New("webhook: Body is required")
	}
	cfg.Guard = cmp.Or(cfg.Guard, &Guard{})
	cfg.PollInterval = cmp.Or(cfg.PollInterval, DefaultPollInterval)
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.Lease = cmp.Or(cfg.Lease, 3*cfg.Timeout)
	cfg.RetryBaseDelay = cmp.Or(cfg.RetryBaseDelay, DefaultRetryBaseDelay)
	cfg.RetryMaxDelay = cmp.Or(cfg.RetryMaxDelay, DefaultRetryMaxDelay)
	cfg.RetryWindow = cmp.Or(cfg.RetryWindow, DefaultRetryWindow)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, DefaultConcurrency)
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	if cfg.Lease <= cfg.Timeout {
		return nil, fmt.Errorf("webhook: lease %s must outlast the attempt timeout %s", cfg.Lease, cfg.Timeout)
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	return &Deliverer{q: q, cfg: cfg, client: newHTTPClient(cfg.Guard, cfg.Timeout), m: m}, nil
}

// newHTTPClient is the client of the attempts: every dial checked by
// guard, no proxy from the environment (it would dial for us, unchecked),
// and no redirect followed (a 3xx is a failed attempt: a redirect could
// lead anywhere).
func newHTTPClient(guard *Guard, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: guard.Control}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: timeout,
			MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Start begins polling for due deliveries; it returns at once.
func (d *Deliverer) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return errors.New("webhook: deliverer already started")
	}
	ctx, d.cancel = context.WithCancel(context.WithoutCancel(ctx))
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		d.loop(ctx)
	}()
	return nil
}

// Stop ends polling and the attempts in flight, and waits for them: an
// attempt cut short is not recorded, and its delivery is due again when
// its lease ends.
func (d *Deliverer) Stop() {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.cancel = nil
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
		d.client.CloseIdleConnections()
	}
}

// loop claims due deliveries, as many as there are free slots, every
// PollInterval (jittered, so that a fleet's polls spread out), and runs
// each in a goroutine of its own.
func (d *Deliverer) loop(ctx context.Context) {
	slots := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		if free := cap(slots) - len(slots); free > 0 {
			jobs, err := d.q.ClaimDeliveries(ctx, free, d.cfg.Lease)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.Warn("webhook: claiming deliveries", "err", err)
			}
			for _, j := range jobs {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-slots; wg.Done() }()
					d.deliver(ctx, j)
				}()
			}
		}
		wait := time.Duration(float64(d.cfg.PollInterval) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// deliver makes one attempt of j's delivery and records it.
func (d *Deliverer) deliver(ctx context.Context, j *queue.Job) {
	start := time.Now()
	attempt := queue.DeliveryAttempt{At: start.UTC()}
	code, err := d.post(ctx, j, start)
	if ctx.Err() != nil {
		return // stopping: the lease ends, another deliverer retries
	}
	d.m.duration.Observe(time.Since(start).Seconds())
	attempt.StatusCode = code
	state, next := queue.DeliveryDelivered, time.Time{}
	if err != nil {
		attempt.Error = err.Error()
		state, next = d.retry(j, time.Now())
	}
	d.m.attempts.WithLabelValues(resultOf(err)).Inc()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Timeout)
	defer cancel()
	if err := d.q.AckDelivery(actx, j, attempt, state, next); err != nil {
		d.cfg.Logger.Warn("webhook: recording an attempt", "delivery", j.Delivery.ID, "err", err)
		return
	}
	if state != queue.DeliveryPending {
		d.m.deliveries.WithLabelValues(string(state)).Inc()
	}
	d.cfg.Logger.Debug("webhook: attempt", "delivery", j.Delivery.ID, "state", state, "status", code, "err", err)
}

// post sends j's record to its callback URL, signed; it returns the
// status code (0 when none came) and why the attempt failed (nil on 2xx).
func (d *Deliverer) post(ctx context.Context, j *queue.Job, now time.Time) (int, error) {
	body, err := d.cfg.Body(j)
	if err != nil {
		return 0, fmt.Errorf("rendering the record: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "jobqueue-webhook/1")
	sign(req.Header, d.cfg.Secret, j.Delivery.ID, now, body)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// retry is what follows a failed attempt of j's delivery at now: due
// again after the backoff (RetryBaseDelay doubled per attempt made, up
// to RetryMaxDelay, ±10 %), or given up once RetryWindow has passed
// since the job ended.
func (d *Deliverer) retry(j *queue.Job, now time.Time) (queue.DeliveryState, time.Time) {
	if now.Sub(j.CompletedAt) >= d.cfg.RetryWindow {
		return queue.DeliveryFailed, time.Time{}
	}
	delay := d.cfg.RetryBaseDelay
	for range min(j.Delivery.Tries, 40) {
		if delay *= 2; delay >= d.cfg.RetryMaxDelay {
			delay = d.cfg.RetryMaxDelay
			break
		}
	}
	delay = time.Duration(float64(delay) * (0.9 + 0.2*rand.Float64()))
	return queue.DeliveryPending, now.Add(delay)
}

func resultOf(err error) string {
	if err != nil {
		return "failed"
	}
	return "delivered"
}
