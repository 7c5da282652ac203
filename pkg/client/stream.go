package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StreamOptions tune Stream; nil means the defaults.
type StreamOptions struct {
	// LastEventID resumes a stream after the event with this ID (an
	// Event.ID seen earlier): only later changes come. 0 starts with the
	// job's current state.
	LastEventID int64
}

var (
	// errStreamIdle ends a connection that carried nothing for
	// StreamIdleTimeout; the stream reconnects.
	errStreamIdle = errors.New("stream idle: no event or keep-alive in time")
	// errStreamEnded: the server closed the stream before a terminal
	// event (it shuts down, or lost track of the job); the stream
	// reconnects.
	errStreamEnded = errors.New("stream ended before the job finished")
	// errNotEventStream: a 2xx answer that is not SSE; retrying will not help.
	errNotEventStream = errors.New("the answer is not an event stream")
)

// maxEventLine bounds one line of the stream.
const maxEventLine = 1 << 20

// Stream follows a job's events (GET /api/v1/jobs/status/{id}/stream,
// server-sent events) until it finishes:
//
//	for ev, err := range c.Stream(ctx, id, nil) {
//		if err != nil {
//			return err // the stream could not go on
//		}
//		fmt.Println(ev.Status, ev.Progress, ev.CurrentStep)
//	}
//
// The first event is the job's current state; then one comes per change.
// The sequence ends after the terminal event (completed, failed,
// cancelled), or with one error, after which it ends: a non-nil error is
// always the last element. ctx's end is such an error.
//
// A stream cut short (the connection dropped, the instance shut down, a
// load balancer's 502/503, silence past StreamIdleTimeout) reconnects by
// itself with Last-Event-ID, possibly to another instance, and goes on
// with the changes after the last event seen: no event twice, none of the
// job's states lost (each event carries the whole state). It waits at
// least the server's retry hint or Retry-After, and a jittered backoff
// that grows while reconnections fail; it gives up after MaxRetries
// reconnections in a row that brought no event.
func (c *Client) Stream(ctx context.Context, id string, opts *StreamOptions) iter.Seq2[Event, error] {
	var from int64
	if opts != nil {
		from = opts.LastEventID
	}
	return func(yield func(Event, error) bool) {
		s := &stream[Event]{c: c, id: id, path: jobPath("/api/v1/jobs/status/", id, "/stream"), last: from, yield: yield,
			decode: func(_, raw string) (ev Event, end bool, err error) {
				err = json.Unmarshal([]byte(raw), &ev)
				return ev, false, err
			},
			setID:    func(ev *Event, id int64) { ev.ID = id },
			terminal: func(ev Event) bool { return ev.Status.Terminal() }}
		s.run(ctx)
	}
}

// run connects, and reconnects, until the sequence is over.
func (s *stream[T]) run(ctx context.Context) {
	var zero T
	retry := retrier{cfg: &s.c.cfg}
	for {
		events, done, err := s.connect(ctx)
		if done {
			return
		}
		if ctx.Err() != nil {
			s.yield(zero, ctx.Err())
			return
		}
		if events > 0 {
			retry.reset()
		}
		if errors.Is(err, errStreamEnded) && s.finished(ctx) {
			return
		}
		d, ok := retry.next(ctx, err)
		if !ok {
			s.yield(zero, fmt.Errorf("stream %s: %w", s.id, err))
			return
		}
		if s.hint > 0 && !hasRetryAfter(err) {
			// The server said when to come back (SSE "retry:"); the
			// backoff still grows should the reconnections keep failing.
			d = max(d, s.hint+rand.N(s.hint/4+1))
		}
		if sleep(ctx, d) != nil {
			s.yield(zero, ctx.Err())
			return
		}
	}
}

func hasRetryAfter(err error) bool {
	var apiErr *Error
	return errors.As(err, &apiErr) && apiErr.RetryAfter > 0
}

// stream is the state of one stream of events of type T (Stream's
// Event, FollowLogs' LogLine) across its connections.
type stream[T any] struct {
	c     *Client
	id    string
	path  string
	query url.Values    // of the request: nil for none
	last  int64         // the ID of the last event passed on (Last-Event-ID)
	hint  time.Duration // the server's reconnection delay (SSE "retry:")
	yield func(T, error) bool
	// decode reads an event's data; name is its SSE event name ("" for
	// none). end means the stream is over (the logs' "end" event), and
	// nothing is passed on.
	decode   func(name, raw string) (ev T, end bool, err error)
	setID    func(ev *T, id int64)
	terminal func(ev T) bool // the last event of the stream
	// over says, after a connection closed without an event, whether
	// the stream is over all the same (resumed after its last event);
	// nil: the job's record says so (jobOver).
	over func(ctx context.Context) (bool, error)
}

// connect runs one connection: it passes its events on until it ends.
// done means the sequence is over (a terminal event, a consumer that
// stopped, or an error already yielded); otherwise err says why the
// connection ended and the caller decides whether to reconnect.
func (s *stream[T]) connect(ctx context.Context) (events int, done bool, err error) {
	connCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := time.AfterFunc(s.c.cfg.StreamIdleTimeout, func() { cancel(errStreamIdle) })
	defer idle.Stop()
	resp, done, err := s.open(connCtx)
	if err != nil {
		return 0, done, err
	}
	defer resp.Body.Close()
	return s.read(connCtx, resp.Body, idle)
}

// open sends the stream's request, resuming after the last event seen,
// and checks that an event stream answers. done is set when retrying
// cannot help.
func (s *stream[T]) open(ctx context.Context) (resp *http.Response, done bool, err error) {
	path := s.path
	req, err := s.c.newRequest(ctx, "GET", path, s.query, nil)
	if err != nil {
		return nil, true, s.fail(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(s.last, 10))
	}
	resp, err = s.c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, false, connErr(ctx, err)
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		return nil, false, errorOf(resp)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, false, fmt.Errorf("GET %s: %d %q: %w", path, resp.StatusCode, ct, errNotEventStream)
	}
	return resp, false, nil
}

// read dispatches the events of body to the consumer until the job
// finishes, the consumer stops, or the body ends; idle is the silence
// timer, reset at every line.
func (s *stream[T]) read(ctx context.Context, body io.Reader, idle *time.Timer) (events int, done bool, err error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 4096), maxEventLine)
	var (
		data  []string
		name  string
		id    int64
		hasID bool
	)
	for sc.Scan() {
		idle.Reset(s.c.cfg.StreamIdleTimeout)
		line := sc.Text()
		if line == "" { // the end of an event: dispatch it
			if len(data) == 0 {
				continue
			}
			raw, evName := strings.Join(data, "\n"), name
			data, name = data[:0], ""
			if hasID && id <= s.last {
				continue // seen before this reconnection
			}
			ev, end, err := s.decode(evName, raw)
			if err != nil {
				return events, true, s.fail(fmt.Errorf("stream %s: event data %q: %w", s.id, raw, err))
			}
			if end {
				return events, true, nil
			}
			s.setID(&ev, s.last)
			if hasID {
				s.setID(&ev, id)
				s.last = id
			}
			events++
			idle.Stop() // a slow consumer is not a silent server
			if !s.yield(ev, nil) || s.terminal(ev) {
				return events, true, nil
			}
			idle.Reset(s.c.cfg.StreamIdleTimeout)
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the keep-alive
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data = append(data, value)
		case "event":
			name = value
		case "id":
			if n, err := strconv.ParseInt(value, 10, 64); err == nil {
				id, hasID = n, true
			}
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms >= 0 {
				s.hint = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := sc.Err(); err != nil {
		return events, false, connErr(ctx, fmt.Errorf("stream %s: read: %w", s.id, err))
	}
	return events, false, errStreamEnded
}

// finished looks, after the server closed the stream before a terminal
// event, whether the stream is over all the same: the job finished in an
// event already seen (a stream resumed after its terminal event gets
// nothing), or it is gone (the error is yielded). On any other answer,
// failures included, the stream reconnects.
func (s *stream[T]) finished(ctx context.Context) bool {
	over := s.over
	if over == nil {
		over = s.jobOver
	}
	ended, err := over(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		var zero T
		s.yield(zero, fmt.Errorf("stream %s: %w", s.id, err))
		return true
	case err != nil:
		return false
	}
	return ended
}

// jobOver: the job finished in an event already passed on.
func (s *stream[T]) jobOver(ctx context.Context) (bool, error) {
	job, err := s.c.Get(ctx, s.id)
	if err != nil {
		return false, err
	}
	return job.Status.Terminal() && job.Version <= s.last, nil
}

// fail yields err as the sequence's last element.
func (s *stream[T]) fail(err error) error {
	var zero T
	s.yield(zero, err)
	return err
}

// connErr names an idle timeout as such rather than as a cancellation.
func connErr(connCtx context.Context, err error) error {
	if errors.Is(context.Cause(connCtx), errStreamIdle) {
		return errStreamIdle
	}
	return err
}
