package client

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultBaseURL   = "http://localhost:8000"
	DefaultUserAgent = "jobqueue-go-client/1"
	// DefaultMaxRetries bounds the consecutive retries of Wait and Stream
	// when the server is unreachable or answers 429/502/503/504.
	DefaultMaxRetries = 8
	// DefaultRetryBaseDelay is the first retry's backoff; it doubles per
	// retry up to DefaultRetryMaxDelay, jittered.
	DefaultRetryBaseDelay = 200 * time.Millisecond
	DefaultRetryMaxDelay  = 10 * time.Second
	// DefaultPollTimeout is how long one long poll of Wait waits on the
	// server (the API allows 1 s to 300 s).
	DefaultPollTimeout = 30 * time.Second
	// DefaultStreamIdleTimeout is how long a stream may stay silent before
	// it is taken for dead and reconnected: three of the server's 15 s
	// keep-alive comments.
	DefaultStreamIdleTimeout = 45 * time.Second
)

// Config configures a Client. Zero fields take the defaults.
type Config struct {
	// BaseURL is the API's address, e.g. "https://jobs.example.com"; a
	// path (a gateway's prefix) is kept. Default DefaultBaseURL.
	BaseURL string
	// HTTPClient sends the requests. Default http.DefaultClient. Its
	// Timeout, if set, must exceed PollTimeout, and bounds streams too:
	// prefer contexts for deadlines.
	HTTPClient *http.Client
	// APIKey, when set, is sent as "Authorization: Bearer <key>".
	APIKey string
	// UserAgent is sent with every request. Default DefaultUserAgent.
	UserAgent string
	// MaxRetries bounds the consecutive retries of Wait and Stream;
	// negative means none. Default DefaultMaxRetries. Single requests
	// (Submit, Get, ...) are never retried: a submission is not idempotent.
	MaxRetries int
	// RetryBaseDelay and RetryMaxDelay shape the jittered exponential
	// backoff between retries. A server's Retry-After is waited out in
	// full; one longer than RetryMaxDelay ends the retries. Defaults
	// DefaultRetryBaseDelay and DefaultRetryMaxDelay.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// StreamIdleTimeout reconnects a stream that has carried nothing, not
	// even a keep-alive comment, for this long. Default
	// DefaultStreamIdleTimeout.
	StreamIdleTimeout time.Duration
}

// Client calls the job queue's HTTP API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
}

// New returns a Client for the API at cfg.BaseURL.
func New(cfg Config) (*Client, error) {
	if cfg.RetryBaseDelay < 0 || cfg.RetryMaxDelay < 0 || cfg.StreamIdleTimeout < 0 {
		return nil, errors.New("jobqueue client: negative retry delay or idle timeout")
	}
	cfg.BaseURL = cmp.Or(cfg.BaseURL, DefaultBaseURL)
	cfg.HTTPClient = cmp.Or(cfg.HTTPClient, http.DefaultClient)
	cfg.UserAgent = cmp.Or(cfg.UserAgent, DefaultUserAgent)
	cfg.MaxRetries = cmp.Or(cfg.MaxRetries, DefaultMaxRetries)
	cfg.MaxRetries = max(cfg.MaxRetries, 0)
	cfg.RetryBaseDelay = cmp.Or(cfg.RetryBaseDelay, DefaultRetryBaseDelay)
	cfg.RetryMaxDelay = cmp.Or(cfg.RetryMaxDelay, DefaultRetryMaxDelay)
	cfg.StreamIdleTimeout = cmp.Or(cfg.StreamIdleTimeout, DefaultStreamIdleTimeout)
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("jobqueue client: base URL: %w", err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("jobqueue client: base URL %q: want http://host[:port] or https://...", cfg.BaseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	base.RawQuery, base.Fragment = "", ""
	return &Client{cfg: cfg, base: base}, nil
}

// BaseURL is the API address the client calls.
func (c *Client) BaseURL() string { return c.base.String() }

// jobPath is an API path with a job id in it; the id is escaped, so a
// malformed one reaches the server (which answers 400) and no other route.
func jobPath(prefix, id, suffix string) string {
	return prefix + url.PathEscape(id) + suffix
}

// newRequest builds a request to the API path (escaped) with the client's headers
// and, when body is not nil, body as JSON.
func (c *Client) newRequest(ctx context.Context, method, path string, query url.Values, body any) (*http.Request, error) {
	u := *c.base
	// path is already escaped (jobPath): keep it so, a job id's "/" included.
	u.RawPath = c.base.EscapedPath() + path
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = query.Encode()
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	return req, nil
}

// do sends one request and decodes a JSON answer into out (unless nil).
// An answer of 400 or more is an *Error; a transport failure is the
// http.Client's *url.Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	req, err := c.newRequest(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return err // a *url.Error: it names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return errorOf(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// retrier paces the retries of one Wait or Stream: jittered exponential
// backoff, Retry-After honoured, at most MaxRetries in a row.
type retrier struct {
	cfg      *Config
	attempts int // consecutive failures
}

// next returns how long to wait before retrying after err, or false when
// err is not worth retrying or the retries are used up.
func (r *retrier) next(ctx context.Context, err error) (time.Duration, bool) {
	if ctx.Err() != nil || !retryable(err) || r.attempts >= r.cfg.MaxRetries {
		return 0, false
	}
	r.attempts++
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		if apiErr.RetryAfter > r.cfg.RetryMaxDelay {
			return 0, false // the server asks for more patience than configured
		}
		// Waited out in full, plus a little jitter so that the clients
		// told the same thing do not come back in one burst.
		return apiErr.RetryAfter + rand.N(apiErr.RetryAfter/4+1), true
	}
	return r.backoff(), true
}

// backoff is the current attempt's exponential delay with "equal jitter":
// between half of it and all of it.
func (r *retrier) backoff() time.Duration {
	d := r.cfg.RetryBaseDelay << min(r.attempts-1, 20)
	if d <= 0 || d > r.cfg.RetryMaxDelay {
		d = r.cfg.RetryMaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// reset forgets the failures after a success.
func (r *retrier) reset() { r.attempts = 0 }

// retryable: transport failures (the server restarting, a connection
// cut) and temporary answers, but not the caller's own cancellation.
func retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, errNotEventStream) {
		return false
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.Temporary()
	}
	return true
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
