package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bounds of the topology helpers: every wait ends, on a loaded machine too.
const (
	clusterCreateTimeout = 30 * time.Second
	topologyReadyTimeout = 30 * time.Second
)

// Cluster is a local Redis Cluster of masters without replicas, each a
// redis-server child process on a loopback port.
type Cluster struct {
	Nodes []*Server
}

// NewCluster starts a cluster of the given number of masters and waits
// until every node reports cluster_state:ok. Every node is killed at
// cleanup.
func NewCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	c, err := StartCluster(t.TempDir(), masters)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartCluster starts a cluster in dir (one subdirectory per node); the
// caller stops it.
func StartCluster(dir string, masters int) (*Cluster, error) {
	c, err := StartClusterNodes(dir, masters)
	if err != nil {
		return nil, err
	}
	if err := c.Form(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// NewClusterNodes starts the nodes of a cluster of the given number of
// masters without making them one (Form does): each node serves no slot
// yet, and answers CLUSTERDOWN for every key. Every node is killed at
// cleanup.
func NewClusterNodes(t testing.TB, masters int) *Cluster {
	t.Helper()
	c, err := StartClusterNodes(t.TempDir(), masters)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// StartClusterNodes is NewClusterNodes in dir; the caller stops them.
func StartClusterNodes(dir string, masters int) (*Cluster, error) {
	c := &Cluster{}
	for i := range masters {
		nodeDir := filepath.Join(dir, "node"+strconv.Itoa(i))
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			c.Stop()
			return nil, err
		}
		s, err := Start(nodeDir, &Options{ClusterNode: true, Args: []string{"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"}})
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	return c, nil
}

// Form makes the nodes one cluster, each master with an equal range of
// the slots, and waits until every node reports cluster_state:ok.
func (c *Cluster) Form() error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCreateTimeout)
	defer cancel()
	if err := c.create(ctx); err != nil {
		return err
	}
	return c.WaitOK(topologyReadyTimeout)
}

// create makes the nodes one cluster: redis-cli --cluster create from 3
// masters on (it refuses fewer); below that, as it would, each node
// takes an equal range of the slots and meets the first.
func (c *Cluster) create(ctx context.Context) error {
	if len(c.Nodes) >= 3 {
		cli, err := exec.LookPath("redis-cli")
		if err != nil {
			return fmt.Errorf("redis-cli not found on PATH (it comes with redis-server): %w", err)
		}
		args := append([]string{"--cluster", "create"}, c.Addrs()...)
		args = append(args, "--cluster-replicas", "0", "--cluster-yes")
		if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
		}
		return nil
	}
	n := len(c.Nodes)
	for i, node := range c.Nodes {
		rdb := redis.NewClient(&redis.Options{Addr: node.Addr, MaxRetries: -1})
		lo, hi := i*clusterSlotCount/n, (i+1)*clusterSlotCount/n-1
		err := rdb.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err()
		if err == nil && i > 0 {
			err = rdb.ClusterMeet(ctx, "127.0.0.1", strconv.Itoa(c.Nodes[0].Port)).Err()
		}
		_ = rdb.Close()
		if err != nil {
			return fmt.Errorf("cluster node %s: slots %d-%d: %w", node.Addr, lo, hi, err)
		}
	}
	return nil
}

// clusterSlotCount is the number of Redis Cluster hash slots.
const clusterSlotCount = 16384

// WaitOK waits until every node sees every slot assigned, every node
// known, and the cluster state ok: after Form, or after a node that was
// stopped is back.
func (c *Cluster) WaitOK(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	want := []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:" + strconv.Itoa(len(c.Nodes))}
	var info string
	for _, n := range c.Nodes {
		for {
			rdb := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
			info = rdb.ClusterInfo(context.Background()).Val()
			_ = rdb.Close()
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(info, w+"\r\n")
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("cluster node %s not ok after %s:\n%s", n.Addr, limit, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Addrs are the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Client returns a new cluster client of the cluster.
func (c *Cluster) Client() *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), PoolSize: 32})
}

// KeysPerNode counts the keys each node holds, by address: where the data
// actually lives.
func (c *Cluster) KeysPerNode(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{}
	for _, n := range c.Nodes {
		rdb := redis.NewClient(&redis.Options{Addr: n.Addr})
		size, err := rdb.DBSize(ctx).Result()
		_ = rdb.Close()
		if err != nil {
			return nil, err
		}
		out[n.Addr] = size
	}
	return out, nil
}

// Stop kills every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// SentinelMasterName is the name the Sentinel topology's sentinels
// monitor their master under.
const SentinelMasterName = "mymaster"

// Sentinel is a local Sentinel topology: one master, one replica and
// three sentinels (quorum 2) on loopback ports. The sentinels consider a
// silent master down after 1 s.
type Sentinel struct {
	Master, Replica *Server
	Sentinels       []*Server
}

// NewSentinel starts the topology and waits until the replica is in
// sync and every sentinel knows the replica and the other sentinels, so
// a failover can happen. Everything is killed at cleanup.
func NewSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s, err := StartSentinel(t.TempDir())
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartSentinel starts the topology in dir; the caller stops it.
func StartSentinel(dir string) (*Sentinel, error) {
	s := &Sentinel{}
	sub := func(name string) (string, error) {
		d := filepath.Join(dir, name)
		return d, os.MkdirAll(d, 0o755)
	}
	fail := func(err error) (*Sentinel, error) {
		s.Stop()
		return nil, err
	}
	// No delay before a full sync: a replica (re)joins in milliseconds.
	fast := []string{"--repl-diskless-sync-delay", "0"}
	d, err := sub("master")
	if err != nil {
		return fail(err)
	}
	if s.Master, err = Start(d, &Options{Args: fast}); err != nil {
		return fail(err)
	}
	if d, err = sub("replica"); err != nil {
		return fail(err)
	}
	if s.Replica, err = Start(d, &Options{Args: append(fast, "--replicaof", "127.0.0.1", strconv.Itoa(s.Master.Port))}); err != nil {
		return fail(err)
	}
	for i := range 3 {
		if d, err = sub("sentinel" + strconv.Itoa(i)); err != nil {
			return fail(err)
		}
		sn, err := startSentinelProcess(d, s.Master.Port)
		if err != nil {
			return fail(err)
		}
		s.Sentinels = append(s.Sentinels, sn)
	}
	if err := s.waitReady(topologyReadyTimeout); err != nil {
		return fail(err)
	}
	return s, nil
}

// startSentinelProcess runs redis-server --sentinel with a generated
// configuration (the sentinel rewrites it, so it is its own file).
func startSentinelProcess(dir string, masterPort int) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sentinel.conf")
	m := SentinelMasterName
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\nprotected-mode no\ndir %s\nlogfile %s\n", port, dir, filepath.Join(dir, "redis.log")) +
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2\n", m, masterPort) +
		fmt.Sprintf("sentinel down-after-milliseconds %s 1000\n", m) +
		fmt.Sprintf("sentinel failover-timeout %s 5000\n", m) +
		fmt.Sprintf("sentinel parallel-syncs %s 1\n", m)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, Dir: dir, args: []string{conf, "--sentinel"}}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// waitReady waits until the replica is online at the master and every
// sentinel sees one replica and two other sentinels.
func (s *Sentinel) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	ctx := context.Background()
	for {
		problem := ""
		m := redis.NewClient(&redis.Options{Addr: s.Master.Addr, MaxRetries: -1})
		if info := m.Info(ctx, "replication").Val(); !strings.Contains(info, "state=online") {
			problem = "replica not online:\n" + info
		}
		_ = m.Close()
		for _, sn := range s.Sentinels {
			if problem != "" {
				break
			}
			c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
			st, err := c.Master(ctx, SentinelMasterName).Result()
			_ = c.Close()
			if err != nil || st["num-slaves"] != "1" || st["num-other-sentinels"] != "2" {
				problem = fmt.Sprintf("sentinel %s: %v %v", sn.Addr, st, err)
			}
		}
		if problem == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sentinel topology not ready after %s: %s", limit, problem)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Addrs are the sentinels' host:port addresses.
func (s *Sentinel) Addrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		out[i] = sn.Addr
	}
	return out
}

// MasterAddr is the master address the first sentinel that answers
// reports now.
func (s *Sentinel) MasterAddr(ctx context.Context) (string, error) {
	var lastErr error
	for _, sn := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
		hp, err := c.GetMasterAddrByName(ctx, SentinelMasterName).Result()
		_ = c.Close()
		if err == nil && len(hp) == 2 {
			return hp[0] + ":" + hp[1], nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("no sentinel names a master: %v", lastErr)
}

// WaitFailover waits until the sentinels report a master other than old,
// and returns it.
func (s *Sentinel) WaitFailover(ctx context.Context, old string, limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for {
		addr, err := s.MasterAddr(ctx)
		if err == nil && addr != old {
			return addr, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no failover from %s after %s (master %q, %v)", old, limit, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RejoinAsReplica restarts the node started as master — killed, its
// data gone as a crashed node's without persistence — as a replica of
// master (host:port), as an operator brings a failed master back after
// a failover. (Restarted as a master, it would serve an empty dataset
// until the sentinels reconfigure it, some 8 s later.)
func (s *Sentinel) RejoinAsReplica(master string) error {
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		return err
	}
	n := s.Master
	n.mu.Lock()
	n.args = append(slices.Clone(n.args), "--replicaof", host, port)
	n.mu.Unlock()
	return n.start()
}

// Stop kills the sentinels, then the data nodes.
func (s *Sentinel) Stop() {
	for _, sn := range s.Sentinels {
		sn.Stop()
	}
	for _, n := range []*Server{s.Master, s.Replica} {
		if n != nil {
			n.Stop()
		}
	}
}
