package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// heartbeat keeps a worker's registry entry and the lease of every run it
// holds alive, one beat every LeaseTTL/3, and stops the runs Redis says it
// no longer holds (cancelled, or recovered by another worker). It is a
// service: Start beats once (registering the worker) and then keeps
// beating until Stop.
type heartbeat struct {
	service
	w    *Worker
	now  chan struct{} // asks for a beat at once
	last atomic.Int64  // unix ms of the last beat Redis accepted
}

func newHeartbeat(w *Worker) *heartbeat {
	return &heartbeat{w: w, now: make(chan struct{}, 1)}
}

// Start registers the worker and starts the beating.
func (h *heartbeat) Start(ctx context.Context) error {
	return h.start(ctx, func(ctx context.Context) error {
		if err := h.beat(ctx); err != nil {
			return fmt.Errorf("register worker: %w", err)
		}
		return nil
	}, h.loop)
}

// Stop stops the beating.
func (h *heartbeat) Stop() { h.stop(nil) }

// trigger asks for a beat at once (a lost cancel message may have left a
// cancelled run running: the beat finds out).
func (h *heartbeat) trigger() {
	select {
	case h.now <- struct{}{}:
	default:
	}
}

func (h *heartbeat) loop(ctx context.Context) {
	w := h.w
	t := time.NewTicker(w.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.now:
		}
		if err := h.beat(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("heartbeat failed", "err", err)
			// Fencing: past a whole lease without a heartbeat, the reaper may
			// have given our jobs to another worker; stop ours.
			if time.Since(time.UnixMilli(h.last.Load())) > w.cfg.LeaseTTL {
				for _, r := range w.snapshotRuns() {
					r.cancel(errRunLeaseLost)
				}
			}
		}
	}
}

// beat registers the worker (register.lua) and extends its runs' leases
// (extend.lua).
func (h *heartbeat) beat(ctx context.Context) error {
	w := h.w
	ctx, cancel := context.WithTimeout(ctx, w.cfg.LeaseTTL/3)
	defer cancel()
	runs := w.snapshotRuns()
	ttl := w.cfg.LeaseTTL // three missed heartbeats (one every LeaseTTL/3)
	if err := w.c.luaRegister(ctx, w.cfg.ID, max(ttl, time.Second), h.fields(len(runs))); err != nil {
		return err
	}
	refs := make([]runRef, len(runs))
	for i, r := range runs {
		refs[i] = runRef{id: r.job.ID, token: r.token}
	}
	outcomes, err := w.c.luaExtend(ctx, w.cfg.LeaseTTL, refs)
	if err != nil {
		return err
	}
	h.last.Store(time.Now().UnixMilli())
	for i, err := range outcomes {
		var lost *LeaseLostError
		switch {
		case err == nil:
		case errors.As(err, &lost) && lost.Status == StateCancelled:
			runs[i].cancel(errCancelledByUser)
		case errors.Is(err, ErrLeaseLost), errors.Is(err, ErrJobNotFound):
			runs[i].cancel(errRunLeaseLost)
		}
	}
	return nil
}

// fields is the worker's registry entry (WorkerInfo; workerFromHash reads
// it back), with running runs.
func (h *heartbeat) fields(running int) []any {
	w := h.w
	host, _ := os.Hostname()
	queues := make([]string, 0, len(w.cfg.Queues))
	for q := range w.cfg.Queues {
		queues = append(queues, q)
	}
	slices.Sort(queues)
	throttled := "0"
	if w.sampler.throttled.Load() {
		throttled = "1"
	}
	return []any{"host", host, "pid", os.Getpid(), "queues", strings.Join(queues, ","),
		"types", strings.Join(w.mux.Types(), ","), "concurrency", w.cfg.Concurrency,
		"running", running, "cpu_percent", round1(w.sampler.cpu()), "rss_mb", round1(w.sampler.rss()),
		"process_cpu_percent", round1(w.sampler.ownCPU()),
		"started_at", w.startedAt.UnixMilli(), "throttled", throttled,
		"max_cpu_percent", w.cfg.MaxCPUPercent, "max_memory_mb", w.cfg.MaxMemoryMB}
}

func round1(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', 1, 64) }
