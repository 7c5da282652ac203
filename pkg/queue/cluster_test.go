package queue

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// The engine on a local 3-master Redis Cluster, through a cluster client.
// Every key and channel of a prefix shares the {prefix} hash tag, so each
// script and pipeline touches one slot and the engine runs unchanged: the
// race tests, a worker end to end and the events run here as on a single
// node. One prefix lives on one master; several prefixes spread over them.
func TestOnRedisCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.NewCluster(t, 3)
	rdb := cluster.Client()
	t.Cleanup(func() { _ = rdb.Close() })
	openSharded := func(t *testing.T, prefix string, shards int) *Client {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := NewClient(ctx, rdb, &Config{Prefix: prefix, Shards: shards})
		if err != nil {
			t.Fatalf("NewClient on the cluster: %v", err)
		}
		return c
	}
	open := func(t *testing.T, prefix string) *Client { return openSharded(t, prefix, 1) }
	tests := []struct {
		name string
		run  func(*testing.T, *Client)
	}{
		{"SubmitClaimComplete", testSubmitClaimComplete},
		{"WorkerRunsJobReportingProgress", testWorkerRunsJobReportingProgress},
		{"ConcurrentClaimersNeverTakeOneJobTwice", testConcurrentClaimersNeverTakeOneJobTwice},
		{"ClaimTakesHigherPriorityFirst", testClaimTakesHigherPriorityFirst},
		{"CancelRacingCompletion", testCancelRacingCompletion},
		{"RestartRacingLateWriteFromOldRun", testRestartRacingLateWriteFromOldRun},
		{"ReaperRacingHeartbeat", testReaperRacingHeartbeat},
		{"TwoReapersRecoverEachJobOnce", testTwoReapersRecoverEachJobOnce},
		{"RecoveredJobRunsBeforeTheBacklog", testRecoveredJobRunsBeforeTheBacklog},
		{"PipelineRunsEachJobAfterItsParents", testPipelineRunsEachJobAfterItsParents},
		{"PipelineFailureCancelsWhatIsBelow", testPipelineFailureCancelsWhatIsBelow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t, redistest.Prefix(t)))
		})
	}
	// The same with the jobs sharded over 6 hash tags, which this cluster
	// spreads over its 3 masters: every script still touches one slot.
	for _, tc := range tests {
		t.Run("Sharded/"+tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, openSharded(t, redistest.Prefix(t), 6))
		})
	}

	// WaitReplicas on a cluster: WAIT must run on the prefix's master,
	// on the connection that wrote (a cluster client would send it
	// anywhere). These masters have no replicas, so WAIT answers 0 and
	// the submission fails with ErrNotReplicated rather than a routing
	// error; TestSubmitWaitsForReplicas shows the success with a replica.
	t.Run("WaitReplicas", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		c, err := NewClient(ctx, rdb, &Config{Prefix: redistest.Prefix(t), WaitReplicas: 1, WaitTimeout: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Enqueue(ctx, EnqueueParams{Type: "x"})
		if !errors.Is(err, ErrNotReplicated) || !strings.Contains(err.Error(), "0 of 1 replicas") {
			t.Fatalf("submit with WAIT on a replica-less cluster: %v", err)
		}
	})

	// Classic PUBLISH is broadcast over the cluster bus: a subscriber on
	// any node hears the events, wherever the prefix's slot lives (the
	// Hub subscribes through the cluster client, on the slot's node).
	t.Run("EventsReachEveryNode", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		c := open(t, redistest.Prefix(t))
		var subs []*redis.PubSub
		for _, addr := range cluster.Addrs() {
			node := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { _ = node.Close() })
			ps := node.Subscribe(ctx, c.keys.eventsChannel())
			t.Cleanup(func() { _ = ps.Close() })
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			subs = append(subs, ps)
		}
		id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
		if err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		for i, ps := range subs {
			// The submission's lane notice comes first, then the cancel's event.
			for heard := false; !heard; {
				select {
				case msg := <-ps.Channel():
					heard = strings.Contains(msg.Payload, id)
					if !heard && !strings.Contains(msg.Payload, `"status":"pending","type":"x"`) {
						t.Fatalf("node %s: event %s, want job %s", cluster.Addrs()[i], msg.Payload, id)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("node %s heard no event of job %s", cluster.Addrs()[i], id)
				}
			}
		}
	})

	// One prefix per master (found by asking the cluster where each
	// candidate's hash tag lives): each one's keys all sit on its master,
	// and together they put work on every master.
	t.Run("PrefixesSpreadOverMasters", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t)
		base := redistest.Prefix(t)
		byNode := map[string]string{} // master address → prefix living there
		for i := 0; len(byNode) < len(cluster.Nodes) && i < 1000; i++ {
			p := base + "_" + strconv.Itoa(i)
			node, err := rdb.MasterForKey(ctx, newKeyspace(p).counts())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := byNode[node.Options().Addr]; !ok {
				byNode[node.Options().Addr] = p
			}
		}
		if len(byNode) != len(cluster.Nodes) {
			t.Fatalf("prefixes found for %d of %d masters", len(byNode), len(cluster.Nodes))
		}
		for _, p := range byNode {
			c := open(t, p)
			for range 5 {
				mustEnqueue(t, c, EnqueueParams{Type: "x"})
			}
		}
		for _, addr := range cluster.Addrs() {
			node := redis.NewClient(&redis.Options{Addr: addr})
			for owner, p := range byNode {
				keys, err := scanAll(ctx, node, "{"+p+"}:*")
				if err != nil {
					t.Fatal(err)
				}
				if (owner == addr) != (len(keys) > 0) {
					t.Errorf("node %s holds %d keys of prefix %s, whose master is %s", addr, len(keys), p, owner)
				}
				if owner == addr {
					t.Logf("master %s: prefix %s, %d keys", addr, p, len(keys))
				}
			}
			_ = node.Close()
		}
	})
}

func scanAll(ctx context.Context, rdb *redis.Client, match string) ([]string, error) {
	var out []string
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, match, 1000).Result()
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}
