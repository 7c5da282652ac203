package startup

import (
	"context"
	"log/slog"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/compileo/jobqueue/pkg/webhook"
	"github.com/prometheus/client_golang/prometheus"
)

// Webhooks are a process's callback settings: the deliverer's (an empty
// secret means callbacks are off) and the guard every callback URL
// passes, at submission and at every dial.
type Webhooks struct {
	Deliverer webhook.Config
	Guard     *webhook.Guard
}

// On reports whether callbacks are on: the deployment has a secret.
func (w Webhooks) On() bool { return w.Deliverer.Secret != "" }

// WebhookFlags registers the callback settings, which the apiservers and
// workers of a deployment share, and returns a function that reads them
// once fs is parsed.
func WebhookFlags(fs *envflag.Set) func() (Webhooks, error) {
	secret := fs.String("webhook-secret", "WEBHOOK_SECRET", "", "signs job callbacks (HMAC-SHA256); the same in every apiserver and worker (empty: callback_url is refused and nothing is delivered here)")
	allow := fs.String("webhook-allow", "WEBHOOK_ALLOW", "", "address ranges callbacks may reach although loopback, link-local or private, e.g. 10.1.0.0/16,127.0.0.1 (empty: public addresses only)")
	poll := fs.Duration("webhook-poll-interval", "WEBHOOK_POLL_INTERVAL", webhook.DefaultPollInterval, "how often due callback deliveries are looked for")
	timeout := fs.Duration("webhook-timeout", "WEBHOOK_TIMEOUT", webhook.DefaultTimeout, "bound of one callback POST")
	base := fs.Duration("webhook-retry-base-delay", "WEBHOOK_RETRY_BASE_DELAY", webhook.DefaultRetryBaseDelay, "wait after a callback's first failed attempt (doubles each attempt)")
	maxDelay := fs.Duration("webhook-retry-max-delay", "WEBHOOK_RETRY_MAX_DELAY", webhook.DefaultRetryMaxDelay, "longest wait between a callback's attempts")
	window := fs.Duration("webhook-retry-window", "WEBHOOK_RETRY_WINDOW", webhook.DefaultRetryWindow, "how long after a job's end its callback is retried")
	return func() (Webhooks, error) {
		nets, err := webhook.ParseAllow(*allow)
		if err != nil {
			return Webhooks{}, err
		}
		g := &webhook.Guard{Allow: nets}
		return Webhooks{Guard: g, Deliverer: webhook.Config{Secret: *secret, Guard: g, PollInterval: *poll,
			Timeout: *timeout, RetryBaseDelay: *base, RetryMaxDelay: *maxDelay, RetryWindow: *window}}, nil
	}
}

// StartDeliverer starts a callback deliverer on q when callbacks are on,
// its metrics in reg, its bodies rendered by body; it returns its stop
// (nothing to stop when callbacks are off).
func StartDeliverer(ctx context.Context, log *slog.Logger, q *queue.Client, w Webhooks, body func(*queue.Job) ([]byte, error), reg prometheus.Registerer) (stop func(), err error) {
	if !w.On() {
		return func() {}, nil
	}
	cfg := w.Deliverer
	cfg.Body, cfg.Metrics, cfg.Logger = body, reg, log
	d, err := webhook.New(q, cfg)
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	log.Info("delivering job callbacks", "allowed_ranges", len(w.Guard.Allow))
	return d.Stop, nil
}
