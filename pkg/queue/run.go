package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"
)

// run is one execution of one job on this worker, holding its lease.
type run struct {
	w      *Worker
	job    *Job
	token  string
	ctx    context.Context
	cancel context.CancelCauseFunc
	// slot: the run holds one of its worker's slots (its handler has not
	// returned); guarded by the worker's mu.
	slot bool

	// Progress reports (progress.go), guarded by pmu: the newest not yet
	// written, the timer of the next write when the interval holds it
	// back, whether the progress writer has the run in its due list, and
	// when the last report was taken for writing.
	pmu       sync.Mutex
	next      *progressUpdate
	timer     *time.Timer
	queued    bool
	lastWrite time.Time

	// logs are its log lines not yet written (logwriter.go).
	logs runLog
}

// startRun runs j, claimed from claimedAt on, on a runner goroutine: an
// idle one, else a new one.
func (w *Worker) startRun(j *Job, claimedAt time.Time) {
	ctx, cancel := context.WithCancelCause(w.c.claimSpan(w.runCtx, j, w.cfg.ID, claimedAt))
	r := &run{w: w, job: j, token: j.token, ctx: ctx, cancel: cancel, slot: true}
	w.mu.Lock()
	w.runs[j.ID] = r
	w.handlers++
	w.mu.Unlock()
	w.runWG.Add(1)
	select {
	case w.runq <- r:
	default:
		go w.runner(r)
	}
}

// runnerIdle is how long a runner waits for its next run before it ends.
const runnerIdle = 10 * time.Second

// runner runs r, then every run handed to it, until none came for
// runnerIdle or the worker stopped. A goroutine per run would grow a
// fresh stack to the handler's depth for every job (json decoding, the
// Redis client): copying stacks was a sixth of a busy worker's CPU.
func (w *Worker) runner(r *run) {
	idle := time.NewTimer(runnerIdle)
	defer idle.Stop()
	for {
		w.finish(r)
		idle.Reset(runnerIdle)
		select {
		case r = <-w.runq:
		case <-idle.C:
			return
		case <-w.runCtx.Done():
			return
		}
	}
}

// finish executes r and forgets it.
func (w *Worker) finish(r *run) {
	defer w.runWG.Done()
	defer func() {
		r.cancel(nil)
		w.freeSlot(r) // (a panic out of execute)
		w.mu.Lock()
		delete(w.runs, r.job.ID)
		over := len(w.runs) >= w.cfg.Concurrency // a claim may wait for runs writing outcomes
		w.mu.Unlock()
		if over {
			select {
			case w.free <- struct{}{}:
			default:
			}
		}
	}()
	w.execute(r)
}

func (w *Worker) execute(r *run) {
	j := r.job
	// Built only when something is logged: With formats its attributes,
	// which on the hot path (a completed job logs nothing) is pure cost.
	log := func() *slog.Logger { return w.log.With("job_id", j.ID, "type", j.Type, "attempt", j.Attempts) }
	ctx := r.ctx
	if j.Timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, j.Timeout, errJobTimeout)
		defer stop()
	}
	start := time.Now()
	hctx, endHandler := w.startRunSpan(ctx, r, spanHandler)
	result, err := w.call(hctx, r)
	endHandler(err)
	w.freeSlot(r) // the next claim overlaps this run's final writes
	r.flushLogs()
	if err == nil {
		r.dropProgress() // the completion writes the final progress
	} else {
		r.flushProgress()
	}

	cause := context.Cause(ctx)
	switch {
	case err == nil:
		_, endComplete := w.startRunSpan(hctx, r, spanComplete)
		err = w.complete(r, result)
		endComplete(err)
		if err == nil {
			if w.log.Enabled(context.Background(), slog.LevelDebug) {
				log().Debug("job completed", "took", time.Since(start))
			}
			return
		}
		if errors.Is(err, ErrLeaseLost) {
			log().Info("job finished but the run no longer holds it; result discarded", "reason", err)
			return
		}
		if errors.Is(err, ErrUnavailable) {
			// Redis stayed away for a whole lease: the reaper owns the job
			// now and will run it again. Failing it would turn an outage
			// into a lost job.
			log().Warn("could not record the completion; the lease will expire and the job run again", "err", err)
			return
		}
		// The result could not be encoded: fail the job with that.
		err = Permanent(err)
	case errors.Is(cause, errCancelledByUser), errors.Is(cause, errRunLeaseLost):
		log().Info("run stopped", "reason", cause)
		return
	case errors.Is(cause, errShutdown):
		w.requeue(r)
		return
	case errors.Is(cause, errJobTimeout):
		err = fmt.Errorf("timed out after %s: %w", j.Timeout, err)
	}
	to, ferr := w.fail(r, err)
	switch {
	case ferr == nil:
		log().Info("job failed", "err", err, "now", to)
	case errors.Is(ferr, ErrLeaseLost):
		log().Info("job failed but the run no longer holds it", "err", err, "reason", ferr)
	default:
		log().Error("could not record failure; the lease will expire and the job be recovered", "err", ferr)
	}
}

// call runs the handler, turning a panic into an error.
func (w *Worker) call(ctx context.Context, r *run) (result any, err error) {
	h, ok := w.mux.Lookup(r.job.Type)
	if !ok {
		return nil, fmt.Errorf("no handler for job type %q on worker %s", r.job.Type, w.cfg.ID)
	}
	defer func() {
		if p := recover(); p != nil {
			w.log.Error("handler panicked", "job_id", r.job.ID, "type", r.job.Type,
				"panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	aj := &ActiveJob{Job: r.job, progress: r.reportProgress, log: w.log, run: r}
	return h.Handle(ctx, aj)
}

// final performs one final write of a run. It survives the run's context
// (context.WithoutCancel) and retries while Redis is unreachable, for up
// to one lease: after that the job's lease has expired and the reaper owns
// it, so giving up loses nothing.
func (w *Worker) final(f func(ctx context.Context) error) error {
	deadline := time.Now().Add(w.cfg.LeaseTTL)
	backoff := 20 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(w.runCtx), 5*time.Second)
		err := f(ctx)
		cancel()
		if err == nil || !errors.Is(err, ErrUnavailable) || time.Now().Add(backoff).After(deadline) {
			return err
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, time.Second)
	}
}

func (w *Worker) complete(r *run, result any) error {
	var body string
	switch v := result.(type) {
	case nil:
	case json.RawMessage:
		if !json.Valid(v) {
			return fmt.Errorf("handler returned an invalid JSON result")
		}
		body = string(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		body = string(b)
	}
	return w.completer.submit(&completion{r: r, body: body, done: make(chan error, 1)})
}

// fail records a failed run: retrying after a backoff, or failed.
func (w *Worker) fail(r *run, cause error) (State, error) {
	backoff := w.backoff(r.job.Attempts)
	var to State
	err := w.final(func(ctx context.Context) (err error) {
		if r.job.Pipeline != "" { // failing for good cancels the jobs below it
			to, err = w.c.failInPipeline(ctx, r.job, r.token, cause.Error(), IsPermanent(cause), backoff)
			return err
		}
		to, err = w.c.luaFail(ctx, r.job, r.token, cause.Error(), IsPermanent(cause), backoff)
		return err
	})
	return to, err
}

// backoff is the delay before the next attempt of a job that failed on
// its attempts-th (RetryBackoff with the worker's delays).
func (w *Worker) backoff(attempts int) time.Duration {
	return RetryBackoff(attempts, w.cfg.RetryBaseDelay, w.cfg.RetryMaxDelay)
}

// RetryBackoff is the delay before attempt n+1 of a job that failed its
// n-th: base doubled per attempt, capped at most, with the upper half
// jittered so that a burst of failures does not return as a burst. Every
// worker, Go or over the lease protocol, retries by it.
func RetryBackoff(n int, base, most time.Duration) time.Duration {
	d := base << min(max(n-1, 0), 30)
	if d <= 0 || d > most {
		d = most
	}
	return d/2 + rand.N(d/2+1)
}

// requeue puts a run's job back to pending without charging the attempt.
func (w *Worker) requeue(r *run) {
	j := r.job
	err := w.final(func(ctx context.Context) error { return w.c.luaRequeue(ctx, j, r.token) })
	if err != nil && !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrJobNotFound) {
		w.log.Error("could not requeue job at shutdown; its lease will expire and it will be recovered",
			"job_id", j.ID, "err", err)
	} else if err == nil {
		w.log.Info("job requeued at shutdown", "job_id", j.ID)
	}
}
