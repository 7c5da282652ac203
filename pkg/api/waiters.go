package api

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
)

// Streams and long polls hold a connection (a file descriptor) and a
// goroutine each for as long as they last. Unbounded, one caller could
// hold them all, and at the process's open-file limit every other client
// gets errors. waiterLimits caps them on this instance, in all
// (Config.MaxStreams) and per caller (Config.MaxStreamsPerCaller): past
// either cap a new one gets 429.

// waiterRetryAfter is the Retry-After of a refused stream or poll, in
// seconds: long enough for some of the open ones to end.
const waiterRetryAfter = "5"

// waiterLimits counts the open streams and long polls of this instance.
type waiterLimits struct {
	max, maxPerCaller int

	mu       sync.Mutex
	total    int
	byCaller map[string]int
}

func newWaiterLimits(max, maxPerCaller int) *waiterLimits {
	return &waiterLimits{max: max, maxPerCaller: maxPerCaller, byCaller: map[string]int{}}
}

// acquire counts one more waiter of caller, or says which cap it would
// pass.
func (w *waiterLimits) acquire(caller string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.byCaller[caller] >= w.maxPerCaller:
		return &requestError{http.StatusTooManyRequests, CodeTooManyStreams,
			fmt.Sprintf("%d streams and long polls of yours are open on this instance, its limit per caller (API_MAX_STREAMS_PER_CALLER); close some or retry later", w.maxPerCaller)}
	case w.total >= w.max:
		return &requestError{http.StatusTooManyRequests, CodeTooManyStreams,
			fmt.Sprintf("this instance holds %d streams and long polls, its limit (API_MAX_STREAMS); retry later", w.max)}
	}
	w.total++
	w.byCaller[caller]++
	return nil
}

// release counts one waiter of caller less.
func (w *waiterLimits) release(caller string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.total--
	if w.byCaller[caller]--; w.byCaller[caller] <= 0 {
		delete(w.byCaller, caller)
	}
}

// openWaiter admits a stream or long poll of the request's caller; the
// caller of done must call it when the waiter ends. When refused, the
// 429 is written and ok is false.
func (s *server) openWaiter(c *gin.Context) (done func(), ok bool) {
	caller := callerOf(c)
	if err := s.waiters.acquire(caller); err != nil {
		c.Header("Retry-After", waiterRetryAfter)
		s.writeError(c, err)
		return nil, false
	}
	return func() { s.waiters.release(caller) }, true
}

// openStream admits a server-sent event stream as openWaiter does, and
// counts it among the open streams (the metric) until done.
func (s *server) openStream(c *gin.Context) (done func(), ok bool) {
	release, ok := s.openWaiter(c)
	if !ok {
		return nil, false
	}
	s.metrics.streams.Inc()
	return func() { s.metrics.streams.Dec(); release() }, true
}
