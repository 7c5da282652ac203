package queue

import (
	"context"
	"errors"
	"sync"
)

// service is the lifecycle every background loop of the engine shares
// (River's startstop): Start begins the loop and returns once it runs, or
// with the error that kept it from starting; Stop ends it and returns once
// it has ended. Starting a started service is an error, stopping one that
// does not run does nothing, and both are safe from any goroutine. The
// loop's context ends at Stop, not with the context given to Start, which
// bounds only the start itself.
type service struct {
	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// errStarted is Start on a service that runs already.
var errStarted = errors.New("already started")

// start runs first (when not nil) with ctx, and, if it succeeds, loop in a
// goroutine of its own.
func (s *service) start(ctx context.Context, first func(ctx context.Context) error, loop func(ctx context.Context)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errStarted
	}
	if s.done != nil {
		<-s.done // a Stop in progress: let its loop end first
	}
	if first != nil {
		if err := first(ctx); err != nil {
			return err
		}
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.started, s.cancel, s.done = true, cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		loop(loopCtx)
	}()
	return nil
}

// stop cancels the loop's context, calls interrupt (when not nil) to end
// a wait the context cannot end, and waits for the loop to return.
func (s *service) stop(interrupt func()) {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return
	}
	s.started = false
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	cancel()
	if interrupt != nil {
		interrupt()
	}
	<-done
}

// stopped is closed when the loop has returned; nil while the service
// never ran.
func (s *service) stopped() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}
