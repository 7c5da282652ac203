package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestNewIDLandsInItsShard(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 3, 6, 16, 17, 64, MaxShards} {
		s := newShards("p", n)
		for want := range n {
			if id := s.newID(want); s.index(id) != want || len(id) != 36 || id[14] != '4' {
				t.Fatalf("%d shards: newID(%d) = %s in shard %d", n, want, id, s.index(id))
			}
		}
	}
	if _, err := NewClient(context.Background(), nil, &Config{Shards: MaxShards + 1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Shards above MaxShards: %v", err)
	}
}

// TestShardedOnSingleNode runs the engine with 4 shards on one node: the
// layout a deployment can take before it moves to a cluster. (The whole
// package runs so with QUEUE_TEST_SHARDS=4.)
func TestShardedOnSingleNode(t *testing.T) {
	t.Parallel()
	srv := redistest.Shared(t)
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *Client)
	}{
		{"SubmitClaimComplete", testSubmitClaimComplete},
		{"ConcurrentClaimersNeverTakeOneJobTwice", testConcurrentClaimersNeverTakeOneJobTwice},
		{"ClaimTakesHigherPriorityFirst", testClaimTakesHigherPriorityFirst},
		{"CancelRacingCompletion", testCancelRacingCompletion},
		{"TwoReapersRecoverEachJobOnce", testTwoReapersRecoverEachJobOnce},
		{"WorkerDrainsEveryShard", testWorkerDrainsEveryShard},
		{"ForgetRacingSubmissions", testForgetRacingSubmissions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 32})
			t.Cleanup(func() { _ = rdb.Close() })
			c, err := NewClient(ctxT(t), rdb, &Config{Prefix: redistest.Prefix(t), Shards: 4})
			if err != nil {
				t.Fatal(err)
			}
			tc.run(t, c)
		})
	}
}

// testWorkerDrainsEveryShard: jobs submitted in several batches land in
// every shard (one shard per batch, in turn); one worker runs them all,
// an idle worker picks up a job in any shard, and the counters add up.
func testWorkerDrainsEveryShard(t *testing.T, c *Client) {
	ctx := ctxT(t)
	var ran atomic.Int64
	started := make(chan time.Time, 1)
	mux := NewMux()
	mux.HandleFunc("x", func(context.Context, *ActiveJob) (any, error) {
		ran.Add(1)
		return nil, nil
	})
	mux.HandleFunc("probe", func(context.Context, *ActiveJob) (any, error) {
		started <- time.Now()
		return nil, nil
	})
	const batches, per = 12, 25
	inShard := map[int]int{}
	for range batches {
		params := make([]EnqueueParams, per)
		for i := range params {
			params[i] = EnqueueParams{Type: "x"}
		}
		res, err := c.EnqueueBatch(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			inShard[c.shards.index(r.Job.ID)]++
		}
	}
	if len(inShard) != len(c.shards) {
		t.Fatalf("jobs in %d of %d shards: %v", len(inShard), len(c.shards), inShard)
	}
	_, idle := startWorkerIdle(t, c, mux, WorkerConfig{Concurrency: 8})
	waitFor(t, 20*time.Second, "every job run", func() bool { return ran.Load() == batches*per })
	// Idle now: a job in each shard in turn is picked up at once.
	var worst time.Duration
	for range 2 * len(c.shards) {
		idle() // blocked on its wake lists again
		at := time.Now()
		mustEnqueue(t, c, EnqueueParams{Type: "probe"})
		select {
		case s := <-started:
			worst = max(worst, s.Sub(at))
		case <-time.After(idleBlock / 2):
			t.Fatalf("an idle worker did not pick up a job within %s", idleBlock/2)
		}
	}
	t.Logf("%d shards: %d jobs per shard %v; idle pickup worst of %d: %s",
		len(c.shards), batches*per, inShard, 2*len(c.shards), worst)
	waitQuiet(t, c)
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Counts[StateCompleted]; got != batches*per+2*int64(len(c.shards)) {
		t.Fatalf("completed %d: %v", got, st.Counts)
	}
	checkInvariants(t, c)
}

// waitQuiet waits until no job of c is running (completions are acked in
// the background).
func waitQuiet(t *testing.T, c *Client) {
	t.Helper()
	waitFor(t, 10*time.Second, "no job running or pending", func() bool {
		st, err := c.Stats(ctxT(t))
		return err == nil && st.Counts[StateRunning] == 0 && st.Counts[StatePending] == 0
	})
}

// On a 3-master cluster, 6 shards of one prefix put its jobs on every
// master; submissions with WAIT go to each master's own connection.
func TestShardsSpreadOverClusterMasters(t *testing.T) {
	t.Parallel()
	cluster := redistest.NewCluster(t, 3)
	rdb := cluster.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := ctxT(t)
	prefix := redistest.Prefix(t)
	c, err := NewClient(ctx, rdb, &Config{Prefix: prefix, Shards: 6})
	if err != nil {
		t.Fatal(err)
	}
	testWorkerDrainsEveryShard(t, c)

	masters := map[string]int{} // master address → shards it holds
	for i, k := range c.shards {
		node, err := rdb.MasterForKey(ctx, k.counts())
		if err != nil {
			t.Fatal(err)
		}
		masters[node.Options().Addr]++
		// keySlot agrees with Redis.
		if slot, err := rdb.ClusterKeySlot(ctx, k.counts()).Result(); err != nil || int(slot) != keySlot(k.tag[1:len(k.tag)-1]) {
			t.Fatalf("shard %d %s: Redis says slot %d (%v), keySlot %d", i, k.tag, slot, err, keySlot(k.tag[1:len(k.tag)-1]))
		}
	}
	for _, addr := range cluster.Addrs() {
		node := redis.NewClient(&redis.Options{Addr: addr})
		keys, err := scanAll(ctx, node, "{"+prefix+":s*")
		_ = node.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("master %s: %d shards, %d keys", addr, masters[addr], len(keys))
		if masters[addr] > 0 && len(keys) == 0 {
			t.Errorf("master %s holds %d shards but no keys", addr, masters[addr])
		}
	}
	if len(masters) != 3 {
		t.Fatalf("6 shards on %d master(s), want 2 on each of 3: %v", len(masters), masters)
	}
	for addr, n := range masters {
		if n != 2 {
			t.Errorf("master %s holds %d of 6 shards, want 2", addr, n)
		}
	}

	// WAIT per master: these masters have no replicas, so every job of a
	// batch spread over all shards (unique keys pick them) fails with
	// ErrNotReplicated, not with a routing error.
	cw, err := NewClient(ctx, rdb, &Config{Prefix: prefix + "w", Shards: 6, WaitReplicas: 1, WaitTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	params := make([]EnqueueParams, 30)
	for i := range params {
		params[i] = EnqueueParams{Type: "x", UniqueKey: fmt.Sprint("u", i)}
	}
	res, err := cw.EnqueueBatch(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	shardsHit := map[int]bool{}
	for _, r := range res {
		if !errors.Is(r.Err, ErrNotReplicated) || r.Job == nil {
			t.Fatalf("submit with WAIT on a replica-less cluster: %+v", r)
		}
		shardsHit[cw.shards.index(r.Job.ID)] = true
	}
	if len(shardsHit) < 3 {
		t.Fatalf("unique keys chose %d shards", len(shardsHit))
	}
}

// A process started with another shard count than the queue's refuses to
// start instead of submitting to, and claiming from, keys nobody else sees.
func TestShardCountIsFixedPerQueue(t *testing.T) {
	t.Parallel()
	srv := redistest.Shared(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := ctxT(t)
	open := func(prefix string, shards int) error {
		_, err := NewClient(ctx, rdb, &Config{Prefix: prefix, Shards: shards})
		return err
	}
	sharded := redistest.Prefix(t)
	if err := open(sharded, 4); err != nil {
		t.Fatal(err)
	}
	if err := open(sharded, 4); err != nil {
		t.Fatalf("the same count again: %v", err)
	}
	for _, n := range []int{0, 1, 8} {
		if err := open(sharded, n); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "configure 4 shard(s)") {
			t.Fatalf("%d shards on a 4-shard queue: %v", n, err)
		}
	}
	// A queue from before shards (no layout key, counters in {P}): one shard.
	old := redistest.Prefix(t)
	c, err := NewClient(ctx, rdb, &Config{Prefix: old})
	if err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, c, EnqueueParams{Type: "x"})
	if err := rdb.Del(ctx, c.keys.layout()).Err(); err != nil {
		t.Fatal(err)
	}
	if err := open(old, 6); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "configure 1 shard(s)") {
		t.Fatalf("6 shards on an old one-shard queue: %v", err)
	}
	if err := open(old, 1); err != nil {
		t.Fatal(err)
	}
}

// Processes that start together on an empty Redis race to record the
// shard count; the losers must take the winner's record, not fail.
func TestClientsStartingTogether(t *testing.T) {
	t.Parallel()
	srv := redistest.Shared(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 16})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := ctxT(t)
	const rounds, starters = 20, 8
	for _, shards := range []int{1, 4} {
		for round := range rounds {
			prefix := fmt.Sprintf("%s-%d-%d", redistest.Prefix(t), shards, round)
			start := make(chan struct{})
			errs := make(chan error, starters)
			for range starters {
				go func() {
					<-start
					_, err := NewClient(ctx, rdb, &Config{Prefix: prefix, Shards: shards})
					errs <- err
				}()
			}
			close(start)
			for range starters {
				if err := <-errs; err != nil {
					t.Fatalf("%d shards, round %d: a client that started with the others failed: %v", shards, round, err)
				}
			}
		}
	}
}

func TestGroupSplitsByShardInFirstSeenOrder(t *testing.T) {
	t.Parallel()
	s := newShards("p", 4)
	ids := []string{s.newID(2), s.newID(0), s.newID(2), s.newID(3), s.newID(0)}
	got := fmt.Sprint(s.group(len(ids), func(i int) string { return ids[i] }))
	if want := "[{2 [0 2]} {0 [1 4]} {3 [3]}]"; got != want {
		t.Fatalf("group = %s, want %s", got, want)
	}
	one := newShards("p", 1)
	if got := fmt.Sprint(one.group(3, func(int) string { return "x" })); got != "[{0 [0 1 2]}]" {
		t.Fatalf("one shard: %s", got)
	}
}
