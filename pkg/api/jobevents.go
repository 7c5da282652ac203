package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// A job's kept events (queue.JobEvents): GET /api/v1/jobs/{job_id}/events
// for clients that do not stream, GET /api/v1/jobs/{job_id}/logs and its
// ?follow=1 stream. Event ids are the job's versions, the ids of the
// status stream's events too, so one number says how far a client got,
// whichever way it reads and whichever instance it asks.

// historyEventView is one kept event: a state change (kind "state") or a
// log line (kind "log"), with the fields of its kind.
type historyEventView struct {
	ID          int64       `json:"id"`
	Kind        string      `json:"kind"`
	Status      queue.State `json:"status,omitempty"`
	Progress    *float64    `json:"progress,omitempty"`
	CurrentStep *string     `json:"current_step,omitempty"`
	Timestamp   timestamp   `json:"timestamp"`
	Level       string      `json:"level,omitempty"`
	Message     *string     `json:"message,omitempty"`
}

// logLineView is one line of a job's log.
type logLineView struct {
	ID        int64     `json:"id"`
	Level     string    `json:"level"`
	Message   string    `json:"message"`
	Timestamp timestamp `json:"timestamp"`
}

func logLineOf(ev queue.Event) logLineView {
	return logLineView{ID: ev.Version, Level: ev.Log.Level, Message: ev.Log.Message,
		Timestamp: timestamp(ev.Log.Time())}
}

func historyEventOf(ev queue.Event) historyEventView {
	if ev.Log != nil {
		msg := ev.Log.Message
		return historyEventView{ID: ev.Version, Kind: "log", Level: ev.Log.Level, Message: &msg,
			Timestamp: timestamp(ev.Log.Time())}
	}
	p, step := progressOf(ev.Progress), ev.CurrentStep
	return historyEventView{ID: ev.Version, Kind: "state", Status: ev.Status, Progress: &p,
		CurrentStep: &step, Timestamp: timestamp(ev.UpdatedAt())}
}

// parseAfter reads ?after=<event id> (default 0: every kept event).
func parseAfter(q url.Values) (int64, error) {
	v := q.Get("after")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, invalidArgf("after %q: want an event id (an integer ≥ 0)", truncate(v, 32))
	}
	return n, nil
}

// readHistory validates the path's job id and reads its kept events of
// kinds after after, or writes the error.
func (s *server) readHistory(c *gin.Context, after int64, kinds queue.HistoryKinds) (*queue.JobEvents, bool) {
	id := c.Param("job_id")
	if err := parseJobID(id); err != nil {
		s.writeError(c, err)
		return nil, false
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	h, err := s.q.Events(ctx, id, after, kinds)
	if err != nil {
		s.writeError(c, err)
		return nil, false
	}
	return h, true
}

// jobEvents answers GET /api/v1/jobs/{job_id}/events: the job's kept events
// after ?after, state changes and log lines in order.
func (s *server) jobEvents(c *gin.Context) {
	after, err := parseAfter(c.Request.URL.Query())
	if err != nil {
		s.writeError(c, err)
		return
	}
	h, ok := s.readHistory(c, after, queue.HistoryAll)
	if !ok {
		return
	}
	evs := make([]historyEventView, len(h.Events))
	for i, ev := range h.Events {
		evs[i] = historyEventOf(ev)
	}
	c.JSON(http.StatusOK, gin.H{"job_id": h.Job.ID, "status": h.Job.Status, "version": h.Job.Version,
		"events": evs, "logs_dropped": h.LogsDropped})
}

// logs answers GET /api/v1/jobs/{job_id}/logs: the job's kept log lines
// after ?after; with ?follow=1, a stream of them (followLogs).
func (s *server) logs(c *gin.Context) {
	q := c.Request.URL.Query()
	after, err := parseAfter(q)
	if err != nil {
		s.writeError(c, err)
		return
	}
	switch q.Get("follow") {
	case "", "0", "false":
	case "1", "true":
		s.followLogs(c, after)
		return
	default:
		s.writeError(c, invalidArgf("follow %q: want 1 or 0", truncate(q.Get("follow"), 16)))
		return
	}
	h, ok := s.readHistory(c, after, queue.HistoryLogs)
	if !ok {
		return
	}
	lines := make([]logLineView, len(h.Events))
	for i, ev := range h.Events {
		lines[i] = logLineOf(ev)
	}
	c.JSON(http.StatusOK, gin.H{"job_id": h.Job.ID, "status": h.Job.Status, "lines": lines,
		"dropped": h.LogsDropped})
}

// followLogs streams a job's log lines as server-sent events: the kept
// lines after ?after (or Last-Event-ID, which wins), then each new one as
// it is written, each with its event id; when the job has ended, an "end"
// event with its status closes the stream. Like the status stream it
// subscribes before it reads, so no line falls in between.
func (s *server) followLogs(c *gin.Context, after int64) {
	last, err := parseLastEventID(c.GetHeader("Last-Event-ID"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	after = max(after, last)
	if err := parseJobID(c.Param("job_id")); err != nil {
		s.writeError(c, err)
		return
	}
	done, ok := s.openStream(c)
	if !ok {
		return
	}
	defer done()
	sub := s.events.Subscribe(c.Param("job_id"))
	defer sub.Close()
	h, ok := s.readHistory(c, after, queue.HistoryLogs)
	if !ok {
		return
	}
	startSSE(c)
	if c.Request.Method == http.MethodHead {
		return
	}
	out := &sseWriter{w: c.Writer, last: after}
	if ended, err := out.sendLines(h); ended || err != nil {
		return
	}
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		var ev queue.Event
		select {
		case <-c.Request.Context().Done():
			return
		case <-heartbeat.C:
			if err := out.raw(": keep-alive\n\n"); err != nil {
				return
			}
			continue
		case ev, ok = <-sub.C:
		}
		switch {
		case !ok || ev.Unavailable:
			_ = out.raw(fmt.Sprintf("retry: %d\n\n", sseRetry.Milliseconds()))
			return
		case ev.Resync || sub.Missed() || ev.Status.Terminal():
			// Lines may have been lost (here or in the Hub's buffer), or the
			// job ended: the kept lines after the last sent say what is
			// left, and whether it ended.
			h, ok := s.readHistory(c, out.last, queue.HistoryLogs)
			if !ok {
				return
			}
			if ended, err := out.sendLines(h); ended || err != nil {
				return
			}
		case ev.Log != nil:
			if err := out.sendLine(ev); err != nil {
				return
			}
		}
	}
}

// startSSE writes the headers of a stream of server-sent events.
func startSSE(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events through unbuffered
	c.Status(http.StatusOK)
	c.Writer.Flush() // the headers go out now, even when no event is due
}

// sendLines sends h's lines not sent yet and, when the job has ended,
// the end event; it reports whether it did.
func (o *sseWriter) sendLines(h *queue.JobEvents) (bool, error) {
	for _, ev := range h.Events {
		if err := o.sendLine(ev); err != nil {
			return false, err
		}
	}
	if !h.Job.Status.Terminal() {
		return false, nil
	}
	data, _ := json.Marshal(gin.H{"job_id": h.Job.ID, "status": h.Job.Status, "dropped": h.LogsDropped})
	return true, o.raw(fmt.Sprintf("event: end\ndata: %s\n\n", data))
}

// sendLine sends one log line unless the client has it.
func (o *sseWriter) sendLine(ev queue.Event) error {
	if ev.Version <= o.last {
		return nil
	}
	data, err := json.Marshal(logLineOf(ev))
	if err != nil {
		return err
	}
	o.last = ev.Version
	return o.raw(fmt.Sprintf("id: %d\ndata: %s\n\n", ev.Version, data))
}
