package api

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// Waiting for changes: the long poll and the SSE stream. Both subscribe to
// the job's events on the process's Hub before they read the job, so no
// change can fall between the read and the subscription; then they wait on
// the subscription, never re-reading Redis in a loop. The subscription is
// closed when the handler returns, the client's disconnect included.

// sseRetry is the reconnection delay a stream suggests to EventSource
// clients when it ends because this instance shuts down.
const sseRetry = time.Second

// poll answers GET /api/v1/jobs/status/{job_id}/poll: the job's status
// body as soon as its status differs from current_status (or, without
// one, from the status at the time of the request), or at the timeout.
func (s *server) poll(c *gin.Context) {
	id := c.Param("job_id")
	if err := parseJobID(id); err != nil {
		s.writeError(c, err)
		return
	}
	p, err := parsePollParams(c.Request.URL.Query())
	if err != nil {
		s.writeError(c, err)
		return
	}
	done, ok := s.openWaiter(c)
	if !ok {
		return
	}
	defer done()
	s.metrics.polls.Inc()
	defer s.metrics.polls.Dec()
	sub := s.events.Subscribe(id)
	defer sub.Close()
	job, err := s.readJob(c, id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	known := cmp.Or(p.current, job.Status)
	if job.Status != known || c.Request.Method == http.MethodHead {
		// Changed already; or HEAD, whose headers must not wait.
		c.JSON(http.StatusOK, statusOf(job))
		return
	}
	// Events published between the subscription and the read may still be
	// queued; they are older than what was read and must not count as a change.
	seen := job.Version
	timer := time.NewTimer(p.timeout)
	defer timer.Stop()
	for {
		select {
		case <-c.Request.Context().Done():
			return // the client left; the deferred Close frees the subscription
		case <-timer.C:
			s.answerStatus(c, id) // the current state at the timeout
			return
		case ev, open := <-sub.C:
			switch {
			case !open: // the Hub stopped: this instance is shutting down
				s.answerStatus(c, id)
				return
			case ev.Unavailable: // Redis is gone: no change can be seen; the client retries
				s.writeError(c, queue.ErrUnavailable)
				return
			case ev.Log != nil: // a log line: no change of state
			case ev.Resync: // events may have been lost: look once
				job, err := s.readJob(c, id)
				if err != nil {
					s.writeError(c, err)
					return
				}
				if job.Status != known {
					c.JSON(http.StatusOK, statusOf(job))
					return
				}
				seen = job.Version
			case ev.Version > seen && ev.Status != known:
				s.answerStatus(c, id) // the whole body: result, error, times
				return
			}
		}
	}
}

// answerStatus reads the job and answers with its status body.
func (s *server) answerStatus(c *gin.Context, id string) {
	job, err := s.readJob(c, id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, statusOf(job))
}

// stream answers GET /api/v1/jobs/status/{job_id}/stream with server-sent
// events: the current state, then one event per change, each carrying the
// job's whole visible state and its version as the event id. A client
// resuming with Last-Event-ID gets every kept event after it (the job's
// history, queue.Client.Events), in order and once, then the current state when
// it is newer than they say. The stream ends after a terminal state, and
// when the instance shuts down. Log lines are not sent here (see logs).
func (s *server) stream(c *gin.Context) {
	id := c.Param("job_id")
	if err := parseJobID(id); err != nil {
		s.writeError(c, err)
		return
	}
	last, err := parseLastEventID(c.GetHeader("Last-Event-ID"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	done, ok := s.openStream(c)
	if !ok {
		return
	}
	defer done()
	sub := s.events.Subscribe(id)
	defer sub.Close()
	var missed *queue.JobEvents
	if last >= 0 { // a client resuming: what it missed, with the job
		if missed, ok = s.readHistory(c, last, queue.HistoryStates); !ok {
			return // 404 or 503 as JSON: no SSE header is out yet
		}
	} else {
		job, err := s.readJob(c, id)
		if err != nil {
			s.writeError(c, err)
			return
		}
		missed = &queue.JobEvents{Job: job}
	}
	startSSE(c)
	if c.Request.Method == http.MethodHead {
		return // the headers are the whole answer
	}
	out := &sseWriter{w: c.Writer, last: last}
	if err := out.replay(missed); err != nil || missed.Job.Status.Terminal() {
		return
	}

	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case <-heartbeat.C:
			if err := out.raw(": keep-alive\n\n"); err != nil {
				return
			}
		case ev, open := <-sub.C:
			// The Hub stopped (this instance shuts down) or lost Redis: tell
			// EventSource to come back soon, here or elsewhere, from its last id.
			if !open || ev.Unavailable {
				_ = out.raw(fmt.Sprintf("retry: %d\n\n", sseRetry.Milliseconds()))
				return
			}
			if ev.Resync || sub.Missed() { // events were lost: the history has them
				ctx, cancel := s.redisCtx(c)
				missed, err := s.q.Events(ctx, id, out.last, queue.HistoryStates)
				cancel()
				if err != nil || out.replay(missed) != nil || missed.Job.Status.Terminal() {
					return // deleted, or Redis away: the client resumes from its last id
				}
				continue
			}
			if ev.Log != nil {
				continue // a log line: the logs stream's
			}
			if err := out.send(changeOfEvent(ev)); err != nil || ev.Status.Terminal() {
				return
			}
		}
	}
}

// sseWriter writes events of one stream, each version at most once and
// in increasing order, flushing after each.
type sseWriter struct {
	w    gin.ResponseWriter
	last int64 // the version of the last event sent (or the client saw)
}

// replay writes the kept events of h the client has not seen, then the
// job's state as h read it, unless the newest kept state event, which
// the client has now, says the same: a job changes version without a
// kept event before its first run, and with each log line.
func (o *sseWriter) replay(h *queue.JobEvents) error {
	for _, ev := range h.Events {
		if err := o.send(changeOfEvent(ev)); err != nil {
			return err
		}
	}
	now := changeOfJob(h.Job)
	if l := h.LastState; l != nil && l.Version <= o.last && l.Status == h.Job.Status &&
		progressOf(l.Progress) == now.data.Progress && l.CurrentStep == now.data.CurrentStep {
		return nil
	}
	return o.send(now)
}

// send writes ch unless the client has seen its version or a later one.
func (o *sseWriter) send(ch change) error {
	if ch.version <= o.last {
		return nil
	}
	data, err := json.Marshal(ch.data) // one line: JSON escapes newlines
	if err != nil {
		return err
	}
	o.last = ch.version
	return o.raw(fmt.Sprintf("id: %d\ndata: %s\n\n", ch.version, data))
}

// raw writes an SSE fragment (an event, a comment, a retry hint) and flushes.
func (o *sseWriter) raw(s string) error {
	if _, err := o.w.WriteString(s); err != nil {
		return err
	}
	o.w.Flush()
	return nil
}
