package client

import (
	"cmp"
	"context"
	"math"
	"net/url"
	"strconv"
	"time"
)

// maxPollTimeout is the longest long poll the API allows.
const maxPollTimeout = 300 * time.Second

// Poll is one long poll (GET /api/v1/jobs/status/{id}/poll): it answers
// as soon as the job's status differs from current, or with the current
// status after timeout. An empty current means the status the job has
// when the request arrives; timeout is sent in whole seconds (1 to 300,
// rounded up), 0 meaning the server's default (30 s).
func (c *Client) Poll(ctx context.Context, id string, current State, timeout time.Duration) (*Status, error) {
	q := url.Values{}
	if timeout > 0 {
		secs := min(max(math.Ceil(timeout.Seconds()), 1), maxPollTimeout.Seconds())
		q.Set("timeout", strconv.Itoa(int(secs)))
	}
	if current != "" {
		q.Set("current_status", string(current))
	}
	var out Status
	if err := c.do(ctx, "GET", jobPath("/api/v1/jobs/status/", id, "/poll"), q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// WaitOptions tune Wait; nil means the defaults.
type WaitOptions struct {
	// PollTimeout is how long each long poll waits on the server.
	// Default the client's DefaultPollTimeout; at most 300 s.
	PollTimeout time.Duration
	// OnChange, when set, is called with every status Wait sees before the
	// final one, the first included, e.g. to report "running".
	OnChange func(*Status)
}

// Wait waits until the job is finished (completed, failed or cancelled)
// and returns its final status. A failed or cancelled job is not an
// error: look at the Status. Underneath it long-polls, so it costs one
// request per status change (or per PollTimeout); while the server is
// unreachable or answers 429/502/503/504 it retries with backoff,
// honouring Retry-After, up to MaxRetries times in a row. Bound the wait
// with ctx.
func (c *Client) Wait(ctx context.Context, id string, opts *WaitOptions) (*Status, error) {
	if opts == nil {
		opts = &WaitOptions{}
	}
	timeout := min(cmp.Or(opts.PollTimeout, DefaultPollTimeout), maxPollTimeout)
	retry := retrier{cfg: &c.cfg}
	var last *Status
	for {
		var st *Status
		var err error
		if last == nil {
			st, err = c.Status(ctx, id)
		} else {
			st, err = c.Poll(ctx, id, last.Status, timeout)
		}
		if err != nil {
			d, ok := retry.next(ctx, err)
			if !ok {
				return nil, err
			}
			if err := sleep(ctx, d); err != nil {
				return nil, err
			}
			continue
		}
		retry.reset()
		if st.Status.Terminal() {
			return st, nil
		}
		if opts.OnChange != nil && (last == nil || st.Status != last.Status) {
			opts.OnChange(st)
		}
		last = st
	}
}
