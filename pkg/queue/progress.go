package queue

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
)

// A run's progress reports are coalesced per run — at most one write per
// WorkerConfig.ProgressInterval — and written in batches per worker: the
// progress writer sends the reports of every run that has one due in one
// progress.lua call, so that under load a report costs a share of a round
// trip and of a script call, not one of each. A run that completes drops
// the report it has not sent yet: the completion writes the final
// progress (100) and state, which supersede it. A run that fails or is
// put back writes its last report first.

// progressUpdate is one reported progress, not yet written.
type progressUpdate struct {
	percent float64
	step    string
}

// maxProgressBatch bounds the reports one progress.lua call writes.
const maxProgressBatch = 256

// progressYields is how many times the writer yields the processor
// before it takes the due reports: runs about to complete withdraw
// theirs meanwhile (their completion supersedes it), and reports about to
// fall due join the batch. Nothing sleeps.
const progressYields = 3

// progressWriter writes the due progress reports of a worker's runs. It
// is a service: while it does not run, each report is written on its own.
type progressWriter struct {
	service
	w *Worker

	mu   sync.Mutex
	due  []*run        // runs with a report due, in the order they fell due
	kick chan struct{} // signalled when due was empty and got a run

	// writing is held during every write, so that a run's own final
	// write (flushProgress) comes after the batch carrying its older
	// report, never before.
	writing sync.Mutex
}

func newProgressWriter(w *Worker) *progressWriter {
	return &progressWriter{w: w, kick: make(chan struct{}, 1)}
}

// Start starts the writing loop.
func (p *progressWriter) Start(ctx context.Context) error { return p.start(ctx, nil, p.loop) }

// Stop ends the writing loop; later reports are written one by one.
func (p *progressWriter) Stop() { p.stop(nil) }

// enqueue hands over a run whose report is due (r.queued was just set).
func (p *progressWriter) enqueue(r *run) {
	if p.stopped() == nil || isClosed(p.stopped()) {
		go p.writeOne(r)
		return
	}
	p.mu.Lock()
	p.due = append(p.due, r)
	first := len(p.due) == 1
	p.mu.Unlock()
	if first {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

func (p *progressWriter) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			p.drainDue()
			return
		case <-p.kick:
		}
		for range progressYields {
			runtime.Gosched()
		}
		for p.writeDue() {
		}
	}
}

// drainDue writes what is left when the loop stops.
func (p *progressWriter) drainDue() {
	for p.writeDue() {
	}
}

// writeDue takes the due runs (up to a batch) once no write is in
// flight, so that everything that fell due during the last write goes
// out together, and writes them. It reports whether there were any.
func (p *progressWriter) writeDue() bool {
	p.writing.Lock()
	defer p.writing.Unlock()
	p.mu.Lock()
	n := min(len(p.due), maxProgressBatch)
	batch := p.due[:n:n]
	p.due = p.due[n:]
	p.mu.Unlock()
	if n == 0 {
		return false
	}
	p.writeBatch(batch)
	return true
}

// writeBatch takes the reports of the runs in batch (a run that dropped
// its report has none) and writes them in one call per shard. The caller
// holds p.writing.
func (p *progressWriter) writeBatch(batch []*run) {
	runs := batch[:0:0]
	var reports []progressReport
	for _, r := range batch {
		if u := r.takeProgress(); u != nil {
			runs = append(runs, r)
			reports = append(reports, progressReport{id: r.job.ID, token: r.token, percent: u.percent, step: u.step})
		}
	}
	if len(reports) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, err := range p.w.c.luaProgress(ctx, reports, p.w.cfg.LeaseTTL) {
		runs[i].progressWritten(err)
	}
}

// writeOne writes r's report now, if it has one, after any batch in
// flight.
func (p *progressWriter) writeOne(r *run) {
	p.writing.Lock()
	defer p.writing.Unlock()
	u := r.takeProgress()
	if u == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 5*time.Second)
	defer cancel()
	r.progressWritten(r.w.c.luaProgressOne(ctx, r.job.ID, r.token, u.percent, u.step, r.w.cfg.LeaseTTL))
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
	if r.timer != nil || r.queued {
		return // a write is already coming; it will carry this value
	}
	if wait := time.Until(r.lastWrite.Add(r.w.cfg.ProgressInterval)); wait > 0 {
		r.timer = time.AfterFunc(wait, r.progressDue)
		return
	}
	r.queued = true
	r.w.progress.enqueue(r)
}

// progressDue hands the run over to the writer when its interval ended.
func (r *run) progressDue() {
	r.pmu.Lock()
	r.timer = nil
	if r.next == nil || r.queued {
		r.pmu.Unlock()
		return
	}
	r.queued = true
	r.pmu.Unlock()
	r.w.progress.enqueue(r)
}

// takeProgress takes the report to write, if any.
func (r *run) takeProgress() *progressUpdate {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	u := r.next
	r.next, r.queued = nil, false
	if u != nil {
		r.lastWrite = time.Now()
	}
	return u
}

// flushProgress writes the last reported value, if still unwritten,
// before the run's final transition.
func (r *run) flushProgress() {
	r.stopProgressTimer()
	r.w.progress.writeOne(r)
}

// dropProgress forgets the report not yet written: the run completed, and
// its completion writes the final progress.
func (r *run) dropProgress() {
	r.stopProgressTimer()
	r.pmu.Lock()
	r.next = nil
	r.pmu.Unlock()
}

func (r *run) stopProgressTimer() {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// progressWritten acts on a write's outcome: a run that no longer holds
// its job is stopped.
func (r *run) progressWritten(err error) {
	var lost *LeaseLostError
	switch {
	case err == nil:
	case errors.As(err, &lost) && lost.Status == StateCancelled:
		r.cancel(errCancelledByUser)
	case errors.Is(err, ErrLeaseLost), errors.Is(err, ErrJobNotFound):
		r.cancel(errRunLeaseLost)
	default:
		r.w.log.Warn("progress write failed", "job_id", r.job.ID, "err", err)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
