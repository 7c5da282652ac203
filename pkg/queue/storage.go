package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// The storage edge: every error of go-redis is translated here, once.

// ErrUnavailable wraps every error of reaching Redis (refused, reset,
// timed out): the caller may retry later; nothing was decided.
var ErrUnavailable = errors.New("redis unavailable")

// ErrNotReplicated is a submission that Redis applied but fewer replicas
// than Config.WaitReplicas acknowledged in time: the job exists on the
// master but may be lost if the master fails now. It is an ErrUnavailable
// (retry later; a unique key makes the retry safe).
var ErrNotReplicated = fmt.Errorf("%w: not acknowledged by enough replicas", ErrUnavailable)

// storageErr translates go-redis errors at the storage edge: failures to
// reach Redis wrap ErrUnavailable. A nil reply (redis.Nil) is not an
// error of its own: callers that expect one (a missing job, a missing
// key) test for it before they get here and say what was missing; one
// that reaches storageErr is a bug, reported as such rather than as a
// missing job.
func storageErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("unexpected nil reply from redis: %w", err)
	case isConnErr(err):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

func isConnErr(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		isLoading(err)
}

// isLoading: Redis is up but still reading its AOF/RDB.
func isLoading(err error) bool {
	return err != nil && len(err.Error()) >= 7 && err.Error()[:7] == "LOADING"
}
