package queue

import (
	"context"
	"errors"
	"time"
)

// A run's progress reports, coalesced: at most one write per
// WorkerConfig.ProgressInterval, the last value always written before the
// run's final transition.

// progressUpdate is one reported progress, not yet written.
type progressUpdate struct {
	percent float64
	step    string
}

// reportProgress records the newest progress and makes sure it is written
// soon: at once when the last write is older than the progress interval,
// else when the interval ends. Older unwritten values are replaced.
func (r *run) reportProgress(percent float64, step string) {
	percent = min(max(percent, 0), 100)
	if percent != percent { // NaN
		percent = 0
	}
	r.pmu.Lock()
	defer r.pmu.Unlock()
	r.next = &progressUpdate{percent: percent, step: step}
	if r.timer != nil {
		return // a write is already scheduled; it will carry this value
	}
	wait := max(time.Until(r.lastWrite.Add(r.w.cfg.ProgressInterval)), 0)
	r.timer = time.AfterFunc(wait, r.writeProgress)
}

// flushProgress writes the last reported value, if still unwritten,
// before the run's final transition.
func (r *run) flushProgress() {
	r.pmu.Lock()
	if r.timer != nil {
		r.timer.Stop()
	}
	r.pmu.Unlock()
	r.writeProgress()
}

func (r *run) writeProgress() {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.pmu.Lock()
	u := r.next
	r.next, r.timer = nil, nil
	r.lastWrite = time.Now()
	r.pmu.Unlock()
	if u == nil {
		return
	}
	j := r.job
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
	defer cancel()
	err := r.w.c.luaProgress(ctx, j.ID, r.token, u.percent, u.step, r.w.cfg.LeaseTTL)
	var lost *LeaseLostError
	switch {
	case err == nil:
	case errors.As(err, &lost) && lost.Status == StateCancelled:
		r.cancel(errCancelledByUser)
	case errors.Is(err, ErrLeaseLost), errors.Is(err, ErrJobNotFound):
		r.cancel(errRunLeaseLost)
	default:
		r.w.log.Warn("progress write failed", "job_id", j.ID, "err", err)
	}
}
