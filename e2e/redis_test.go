package e2e

import (
	"testing"

	"github.com/compileo/jobqueue/internal/clustertest"
)

// The service runs unchanged on a 3-master Redis Cluster: apiservers and
// workers given REDIS_CLUSTER_ADDRS only, the seed's flows across
// instances (submit, stream, long poll, cancel, restart, stats).
func TestSeedFlowsOnRedisCluster(t *testing.T) {
	seedFlows(t, clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2, Redis: clustertest.RedisCluster}))
}

// And on a Sentinel-managed master, given REDIS_SENTINEL_ADDRS and
// REDIS_SENTINEL_MASTER only (the failover itself: faults/sentinel_test.go).
func TestSeedFlowsOnSentinel(t *testing.T) {
	seedFlows(t, clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 2, Redis: clustertest.RedisSentinel}))
}
