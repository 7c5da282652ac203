package queue

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// With WaitReplicas a submission is acknowledged only once a replica has
// it: without a replica it fails with ErrNotReplicated (an
// ErrUnavailable, so the API answers 503), with one it succeeds.
func TestSubmitWaitsForReplicas(t *testing.T) {
	t.Parallel()
	master := redistest.New(t, &redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
	rdb := redis.NewClient(&redis.Options{Addr: master.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := ctxT(t)
	prefix := redistest.Prefix(t)
	c, err := NewClient(ctx, rdb, &Config{Prefix: prefix, WaitReplicas: 1, WaitTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Enqueue(ctx, EnqueueParams{Type: "x"})
	if !errors.Is(err, ErrNotReplicated) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("submit without a replica: %v", err)
	}
	res, err := c.EnqueueBatch(ctx, []EnqueueParams{{Type: "x"}, {Type: "bad type"}})
	if err != nil || !errors.Is(res[0].Err, ErrNotReplicated) || res[0].Job == nil || !errors.Is(res[1].Err, ErrInvalid) {
		t.Fatalf("batch without a replica: %+v %v", res, err)
	}

	redistest.New(t, &redistest.Options{Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}})
	// "state=online" on the master is not enough: the replica acknowledges
	// nothing until it has loaded the snapshot it was sent (a busy machine
	// took over 600 ms). Wait until a write is acknowledged.
	deadline := time.Now().Add(10 * time.Second)
	for {
		pipe := rdb.Pipeline()
		pipe.Set(ctx, prefix+":probe", 1, 0)
		acked := pipe.Do(ctx, "WAIT", 1, 100)
		if _, err := pipe.Exec(ctx); err == nil && acked.Val() == int64(1) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica never acknowledged a write")
		}
	}
	c, err = NewClient(ctx, rdb, &Config{Prefix: prefix, WaitReplicas: 1, WaitTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, EnqueueParams{Type: "x"}); err != nil {
		t.Fatalf("submit with a replica: %v", err)
	}
	if _, err := NewClient(ctx, rdb, &Config{WaitReplicas: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative WaitReplicas: %v", err)
	}
}
