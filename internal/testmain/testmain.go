// Package testmain is the TestMain of the packages whose tests run real
// servers: it runs the tests, stops what they started (the shared
// redis-server, child processes), and fails the run when goroutines that
// the tests started are still running.
package testmain

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
	"go.uber.org/goleak"
)

// Run runs m's tests and exits. cleanup runs after the tests, before the
// goroutine check: it stops what the package's TestMain started (servers)
// and closes idle HTTP connections, whose reader goroutines are not leaks.
func Run(m *testing.M, cleanup ...func()) {
	// What runs before the tests (the runtime's, the test framework's)
	// is not theirs to stop.
	before := goleak.IgnoreCurrent()
	code := m.Run()
	for _, f := range cleanup {
		f()
	}
	redistest.StopShared()
	proctest.Cleanup()
	if code == 0 {
		if err := findLeaks(before); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks gives goroutines up to ~5 s to end by themselves once what
// they serve is closed (go-redis's background dialer sleeps 1 s between
// tries before it sees its pool closed); goleak's own retries wait less.
func findLeaks(opts ...goleak.Option) error {
	var err error
	for range 10 {
		if err = goleak.Find(opts...); err == nil {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err
}
