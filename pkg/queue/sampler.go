package queue

import (
	"context"
	"log/slog"
	"math"
	"os"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/process"
)

// sampleInterval is how often the sampler measures.
const sampleInterval = 2 * time.Second

// sampler measures host CPU and this process's memory, and throttles the
// worker's claiming while either is over its limit (0: no limit). It is
// a service: Start samples once and then every sampleInterval until Stop.
type sampler struct {
	service
	maxCPU, maxMemMB float64
	log              *slog.Logger

	throttled atomic.Bool
	cpuPct    atomic.Uint64 // float64 bits: the host's CPU
	ownCPUPct atomic.Uint64 // float64 bits: this process's CPU
	rssMB     atomic.Uint64 // float64 bits
	// self is this process, as sample measures it; each sampler has its
	// own, since Percent keeps the previous sample unguarded.
	self *process.Process
}

// Start samples and starts sampling.
func (s *sampler) Start(ctx context.Context) error {
	return s.start(ctx, func(context.Context) error { s.sample(); return nil }, s.loop)
}

// Stop stops sampling; the last values stay.
func (s *sampler) Stop() { s.stop(nil) }

func (s *sampler) loop(ctx context.Context) {
	t := time.NewTicker(sampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *sampler) cpu() float64    { return math.Float64frombits(s.cpuPct.Load()) }
func (s *sampler) ownCPU() float64 { return math.Float64frombits(s.ownCPUPct.Load()) }
func (s *sampler) rss() float64    { return math.Float64frombits(s.rssMB.Load()) }

// sample runs in Start, then only in the loop: never two at once.
func (s *sampler) sample() {
	if s.self == nil {
		s.self, _ = process.NewProcess(int32(os.Getpid()))
	}
	if pcts, err := cpu.Percent(0, false); err == nil && len(pcts) > 0 {
		s.cpuPct.Store(math.Float64bits(pcts[0]))
	}
	if s.self != nil {
		if pct, err := s.self.Percent(0); err == nil { // since the last sample
			s.ownCPUPct.Store(math.Float64bits(pct))
		}
		if mi, err := s.self.MemoryInfo(); err == nil {
			s.rssMB.Store(math.Float64bits(float64(mi.RSS) / (1 << 20)))
		}
	}
	over := (s.maxCPU > 0 && s.cpu() > s.maxCPU) || (s.maxMemMB > 0 && s.rss() > s.maxMemMB)
	if s.throttled.Swap(over) != over {
		s.log.Warn("resource limits", "throttled", over, "cpu_percent", s.cpu(), "rss_mb", s.rss())
	}
}
