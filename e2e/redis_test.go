package e2e

import (
	"context"
	"testing"

	"github.com/compileo/jobqueue/internal/clustertest"
)

// The service runs unchanged on a 3-master Redis Cluster: apiservers and
// workers given REDIS_CLUSTER_ADDRS only, the Jobs API's flows across
// instances (submit, stream, long poll, cancel, restart, stats).
func TestJobsAPIFlowsOnRedisCluster(t *testing.T) {
	jobsAPIFlows(t, clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2, Redis: clustertest.RedisCluster}))
}

// And with the jobs sharded over the cluster's masters (QUEUE_SHARDS=6 in
// every process): the flows cannot tell, and the keys are on every master.
func TestJobsAPIFlowsOnShardedRedisCluster(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2, Redis: clustertest.RedisCluster, Shards: 6})
	jobsAPIFlows(t, c)
	// Submissions through the API go to the shards in turn.
	for range 12 {
		submit(t, c.APIs()[0].URL, `{"type": "demo", "payload": {"steps": 1, "step_ms": 1}}`)
	}
	perNode, err := c.RedisCluster.KeysPerNode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for addr, n := range perNode {
		if n == 0 {
			t.Errorf("master %s holds no keys: %v", addr, perNode)
		}
	}
	t.Logf("keys per master: %v", perNode)
	if err := c.Queue().CheckInvariants(context.Background()); err != nil {
		t.Error(err)
	}
}

// And on a Sentinel-managed master, given REDIS_SENTINEL_ADDRS and
// REDIS_SENTINEL_MASTER only (the failover itself: faults/sentinel_test.go).
func TestJobsAPIFlowsOnSentinel(t *testing.T) {
	jobsAPIFlows(t, clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2, Redis: clustertest.RedisSentinel}))
}
