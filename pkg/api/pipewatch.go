package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// pipelineEventView is the data of a pipeline's own status change on its
// stream (its jobs' events are eventView, each naming its job_id).
type pipelineEventView struct {
	PipelineID string               `json:"pipeline_id"`
	Status     queue.PipelineStatus `json:"status"`
	Progress   float64              `json:"progress"`
	Timestamp  timestamp            `json:"timestamp"`
}

// pipeStream is the state of one pipeline stream: the latest version
// sent of each job and of the pipeline, their progress, and the id of the
// last event sent. An event's id is its change's time (Unix ms, the
// pipeline's shard's clock) times 1000, raised above the last id sent, so
// ids grow and a client resuming with Last-Event-ID can be sent every
// state that changed since the millisecond of its last event.
type pipeStream struct {
	out      *sseWriter
	id       string
	versions map[string]int64
	progress map[string]float64
}

// idOf is the id of an event of a change at t: above every id sent.
func (ps *pipeStream) idOf(t time.Time) int64 {
	return max(ps.out.last+1, t.UnixMilli()*1000)
}

// pipelineStream answers GET /api/v1/pipelines/{pipeline_id}/stream with
// server-sent events: the state of every job and of the pipeline, then
// every change of them, until the pipeline ends. A client resuming with
// Last-Event-ID gets the current state of what changed since its last
// event (pipeStream). Any apiserver serves it (the events come from Redis
// pub/sub).
func (s *server) pipelineStream(c *gin.Context) {
	id := c.Param("pipeline_id")
	if err := parsePipelineID(id); err != nil {
		s.writeError(c, err)
		return
	}
	last, err := parseLastEventID(c.GetHeader("Last-Event-ID"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	first, ok := s.readPipeline(c) // its jobs' ids, to subscribe to them
	if !ok {
		return
	}
	done, ok := s.openStream(c)
	if !ok {
		return
	}
	defer done()
	ids := []string{id}
	for _, m := range first.Jobs {
		ids = append(ids, m.ID)
	}
	sub := s.events.SubscribeMany(ids)
	defer sub.Close()
	p, ok := s.readPipeline(c) // after the subscription: no change falls in between
	if !ok {
		return
	}
	startSSE(c)
	if c.Request.Method == http.MethodHead {
		return
	}
	ps := &pipeStream{out: &sseWriter{w: c.Writer, last: last}, id: id,
		versions: map[string]int64{}, progress: map[string]float64{}}
	for _, m := range p.Jobs {
		ps.progress[m.ID] = 0 // every job counts in the pipeline's progress
	}
	if err := ps.snapshot(p); err != nil || p.Status.Ended() {
		return
	}
	s.followPipeline(c, ps, sub)
}

// followPipeline sends the pipeline's changes until it ends, the client
// leaves, or this instance stops or loses Redis.
func (s *server) followPipeline(c *gin.Context, ps *pipeStream, sub *queue.Subscription) {
	heartbeat := time.NewTicker(s.cfg.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-c.Request.Context().Done():
			return
		case <-heartbeat.C:
			if err := ps.out.raw(": keep-alive\n\n"); err != nil {
				return
			}
		case ev, open := <-sub.C:
			if !open || ev.Unavailable {
				_ = ps.out.raw(fmt.Sprintf("retry: %d\n\n", sseRetry.Milliseconds()))
				return
			}
			if ev.Resync { // events may have been lost: the records have the latest state
				ctx, cancel := s.redisCtx(c)
				p, err := s.q.GetPipeline(ctx, ps.id)
				cancel()
				if err != nil {
					return // gone, or Redis away: the client resumes from its last id
				}
				if err := ps.snapshot(p); err != nil || p.Status.Ended() {
					return
				}
				continue
			}
			ended, err := ps.event(ev)
			if err != nil || ended {
				return
			}
		}
	}
}

// snapshot sends the state of each job and of the pipeline that is newer
// than what was sent and than the client's last event (all of them, on a
// new stream), oldest change first.
func (ps *pipeStream) snapshot(p *queue.Pipeline) error {
	since := ps.out.last / 1000 // ms: a change of that very ms may be unseen
	var jobs []*queue.Job
	for _, m := range p.Jobs {
		if m.Job == nil || m.Job.Version <= ps.versions[m.ID] {
			continue
		}
		ps.versions[m.ID], ps.progress[m.ID] = m.Job.Version, m.Job.Progress
		if m.Job.UpdatedAt.UnixMilli() >= since {
			jobs = append(jobs, m.Job)
		}
	}
	slices.SortStableFunc(jobs, func(a, b *queue.Job) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	for _, j := range jobs {
		if err := ps.send(changeOfJob(j).data, j.UpdatedAt); err != nil {
			return err
		}
	}
	if p.Version <= ps.versions[ps.id] {
		return nil
	}
	ps.versions[ps.id] = p.Version
	if p.UpdatedAt.UnixMilli() < since && len(jobs) == 0 && !p.Status.Ended() {
		return nil // seen already
	}
	return ps.send(ps.pipelineEvent(p.Status, p.UpdatedAt), p.UpdatedAt)
}

// event sends one event of a job or of the pipeline, unless it is older
// than what was sent; ended reports the pipeline's end.
func (ps *pipeStream) event(ev queue.Event) (ended bool, err error) {
	if ev.Version <= ps.versions[ev.JobID] {
		return false, nil
	}
	ps.versions[ev.JobID] = ev.Version
	if ev.PipelineID != "" {
		st := queue.PipelineStatus(ev.Status)
		return st.Ended(), ps.send(ps.pipelineEvent(st, ev.UpdatedAt()), ev.UpdatedAt())
	}
	ps.progress[ev.JobID] = ev.Progress
	return false, ps.send(changeOfEvent(ev).data, ev.UpdatedAt())
}

func (ps *pipeStream) pipelineEvent(st queue.PipelineStatus, at time.Time) pipelineEventView {
	sum := 0.0
	for _, p := range ps.progress {
		sum += p
	}
	n := len(ps.progress) // the jobs seen
	mean := 0.0
	if n > 0 {
		mean = sum / float64(n)
	}
	return pipelineEventView{PipelineID: ps.id, Status: st, Progress: progressOf(mean), Timestamp: timestamp(at)}
}

// send writes one event of a change at t.
func (ps *pipeStream) send(data any, t time.Time) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	id := ps.idOf(t)
	ps.out.last = id
	return ps.out.raw(fmt.Sprintf("id: %d\ndata: %s\n\n", id, b))
}
