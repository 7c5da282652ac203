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

// ErrUnavailable wraps every error that says Redis cannot serve a call
// now but may soon: it could not be reached (refused, reset, timed out),
// or it answered that it is not ready or not the node to write to, as it
// does while it loads its data or a failover is under way (see
// unavailable). The caller may retry later; nothing was decided.
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
	case unavailable(err):
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// unavailable reports whether err says Redis cannot serve the call now
// though it may soon, so that nothing was decided:
//   - it could not be reached: a network error, a reset or closed
//     connection, a timeout, a closed client or an exhausted pool;
//   - or it refused the command for the state it is in, which go-redis's
//     own predicates recognise: loading its dataset (LOADING), a replica,
//     such as a master that came back as one or not yet promoted (READONLY,
//     also from inside a script), a cluster without a majority or with
//     a slot unserved, as while it forms or fails over (CLUSTERDOWN), a
//     slot moving between nodes (TRYAGAIN), a replica cut off from its
//     master that may not serve stale data (MASTERDOWN).
//
// Each of those refusals comes before the command ran; go-redis has
// already retried it (its MaxRetries) by the time it gets here.
func unavailable(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &netErr), errors.As(err, &opErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, redis.ErrClosed),
		errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsMasterDownError(err)
}
