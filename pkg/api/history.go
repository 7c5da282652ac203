package api

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/gin-gonic/gin"
)

// DefaultHistoryMinutes is how many minutes GET /api/v1/jobs/queue/history
// returns when asked for neither minutes nor hours.
const DefaultHistoryMinutes = 60

// historyView is GET /api/v1/jobs/queue/history: the steps of the
// history, oldest first, every step present.
type historyView struct {
	StepSeconds int                `json:"step_seconds"`
	Points      []historyPointView `json:"points"`
}

// historyPointView is one step; see queue.HistoryPoint.
type historyPointView struct {
	At        timestamp       `json:"at"`
	Submitted int64           `json:"submitted"`
	Started   int64           `json:"started"`
	Completed int64           `json:"completed"`
	Failed    int64           `json:"failed"`
	Cancelled int64           `json:"cancelled"`
	Retried   int64           `json:"retried"`
	Pending   int64           `json:"pending"`
	Running   int64           `json:"running"`
	RunMS     percentilesView `json:"run_ms"`
	WaitMS    percentilesView `json:"wait_ms"`
}

// percentilesView is a duration's percentiles in ms.
type percentilesView struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// parseHistoryQuery reads minutes (1-2880, default 60) or hours (1-720),
// not both, and the optional queue and type filters (checked by the
// engine).
func parseHistoryQuery(q url.Values) (queue.HistoryQuery, error) {
	h := queue.HistoryQuery{Step: time.Minute, Points: DefaultHistoryMinutes,
		Queue: q.Get("queue"), Type: q.Get("type")}
	mins, hasMins := q["minutes"]
	hours, hasHours := q["hours"]
	switch {
	case hasMins && hasHours:
		return h, invalidArgf("minutes and hours: give one of them, not both")
	case hasMins:
		n, err := strconv.Atoi(mins[0])
		if err != nil || n < 1 || n > queue.HistoryMaxMinutes {
			return h, invalidArgf("minutes %q: want a whole number from 1 to %d", mins[0], queue.HistoryMaxMinutes)
		}
		h.Points = n
	case hasHours:
		n, err := strconv.Atoi(hours[0])
		if err != nil || n < 1 || n > queue.HistoryMaxHours {
			return h, invalidArgf("hours %q: want a whole number from 1 to %d", hours[0], queue.HistoryMaxHours)
		}
		h.Step, h.Points = time.Hour, n
	}
	if _, ok := q["queue"]; ok && h.Queue == "" {
		return h, invalidArgf("queue: want a queue name, or no queue parameter for every queue")
	}
	if _, ok := q["type"]; ok && h.Type == "" {
		return h, invalidArgf("type: want a job type, or no type parameter for every type")
	}
	return h, nil
}

func (s *server) history(c *gin.Context) {
	hq, err := parseHistoryQuery(c.Request.URL.Query())
	if err != nil {
		s.writeError(c, err)
		return
	}
	ctx, cancel := s.redisCtx(c)
	defer cancel()
	pts, err := s.q.History(ctx, hq)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := historyView{StepSeconds: int(hq.Step / time.Second), Points: make([]historyPointView, len(pts))}
	for i, p := range pts {
		out.Points[i] = historyPointView{At: timestamp(p.At), Submitted: p.Submitted,
			Started: p.Started, Completed: p.Completed, Failed: p.Failed, Cancelled: p.Cancelled,
			Retried: p.Retried, Pending: p.Pending, Running: p.Running,
			RunMS: percentilesView(p.Run), WaitMS: percentilesView(p.Wait)}
	}
	c.JSON(http.StatusOK, out)
}
