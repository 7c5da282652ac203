package api

import (
	"context"

	"github.com/compileo/jobqueue/pkg/queue"
)

// checkCallbacks refuses, in errs, the submissions whose callback_url
// this deployment will not call: every one when callbacks are off
// (Config.Callbacks nil), else those naming an address the guard refuses
// (loopback, link-local, private... unless allowed). Jobs already refused
// are skipped. Every way of creating jobs with a callback goes through
// checkCallback.
func (s *server) checkCallbacks(ctx context.Context, params []queue.EnqueueParams, errs []error) {
	for i, p := range params {
		if errs[i] == nil && p.CallbackURL != "" {
			errs[i] = s.checkCallback(ctx, p.CallbackURL)
		}
	}
}

// checkCallback is checkCallbacks for one callback URL (its form was
// checked by queue.EnqueueParams.Validate).
func (s *server) checkCallback(ctx context.Context, url string) error {
	if s.cfg.Callbacks == nil {
		return invalidArgf("callback_url: callbacks are off on this server (it has no webhook secret)")
	}
	if err := s.cfg.Callbacks.CheckURL(ctx, url); err != nil {
		return invalidArgf("callback_url %q: %v (an operator may allow a range: WEBHOOK_ALLOW)", url, err)
	}
	return nil
}
