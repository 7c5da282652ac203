// Package clustertest runs the service's production topology on loopback
// for end-to-end and fault tests: a real redis-server with AOF, apiserver
// and worker processes (built from cmd/), and the HTTP and SSE client
// helpers those tests drive them with.
package clustertest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redisconn"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
)

// Import paths of the commands a cluster runs.
const (
	WorkerPkg = "github.com/compileo/jobqueue/cmd/worker"
	APIPkg    = "github.com/compileo/jobqueue/cmd/apiserver"
)

// Redis topologies a cluster can run on.
const (
	// RedisSingle is one redis-server with AOF (the default).
	RedisSingle = ""
	// RedisCluster is a 3-master Redis Cluster (REDIS_CLUSTER_ADDRS).
	RedisCluster = "cluster"
	// RedisSentinel is a master, a replica and three sentinels
	// (REDIS_SENTINEL_ADDRS, REDIS_SENTINEL_MASTER).
	RedisSentinel = "sentinel"
)

// Options shape a cluster. Zero values start nothing but Redis.
type Options struct {
	APIs, Workers int
	// Redis is the topology: RedisSingle, RedisCluster or RedisSentinel.
	// The processes are pointed at it through their environment, as an
	// operator would.
	Redis string
	// RedisArgs are extra redis-server arguments (AOF is always on);
	// single node only.
	RedisArgs []string
	// WorkerEnv and APIEnv are added to every worker's and apiserver's
	// environment, after the cluster's own (so they win).
	WorkerEnv, APIEnv []string
	// Shards is QUEUE_SHARDS for every process (0: unset, one shard).
	Shards int
	// Forming, with RedisCluster, starts the cluster's nodes without
	// making them one: the processes start against a Cluster still
	// forming (every key answers CLUSTERDOWN) until the test calls
	// RedisCluster.Form. Start then does not wait for the processes.
	Forming bool
}

// Cluster is the running topology. Every process it starts is killed at
// the test's cleanup.
type Cluster struct {
	t    testing.TB
	opts Options
	// Redis is the single node (RedisSingle), RedisCluster the Cluster,
	// Sentinel the Sentinel topology: whichever Options.Redis chose.
	Redis        *redistest.Server
	RedisCluster *redistest.Cluster
	Sentinel     *redistest.Sentinel
	// RedisConfig is how the processes reach Redis.
	RedisConfig redisconn.Config

	mu      sync.Mutex
	apis    []*API
	workers []*proctest.Proc
	nextID  int
}

// API is one apiserver process and the base URL it serves on.
type API struct {
	Proc *proctest.Proc
	URL  string // http://127.0.0.1:port
	Port int
}

// Start starts Redis, then the workers and apiservers, and waits until
// every apiserver is ready and every worker is registered.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: opts}
	switch opts.Redis {
	case RedisSingle:
		c.Redis = redistest.New(t, &redistest.Options{AOF: true, Args: opts.RedisArgs})
		c.RedisConfig = redisconn.Config{URL: c.Redis.URL()}
	case RedisCluster:
		if opts.Forming {
			c.RedisCluster = redistest.NewClusterNodes(t, 3)
		} else {
			c.RedisCluster = redistest.NewCluster(t, 3)
		}
		c.RedisConfig = redisconn.Config{ClusterAddrs: c.RedisCluster.Addrs()}
	case RedisSentinel:
		c.Sentinel = redistest.NewSentinel(t)
		c.RedisConfig = redisconn.Config{SentinelAddrs: c.Sentinel.Addrs(), SentinelMaster: redistest.SentinelMasterName}
	default:
		t.Fatalf("clustertest: unknown Redis topology %q", opts.Redis)
	}
	for range opts.Workers {
		c.StartWorker()
	}
	for range opts.APIs {
		c.StartAPI()
	}
	if opts.Forming {
		return c
	}
	for _, a := range c.APIs() {
		WaitReady(t, a.URL, 20*time.Second)
	}
	q := c.Queue()
	proctest.WaitFor(t, 20*time.Second, "every worker registered", func() bool {
		ws, err := q.Workers(context.Background())
		return err == nil && len(ws) == opts.Workers
	})
	return c
}

// StartWorker starts one more worker process, named worker<n>.
func (c *Cluster) StartWorker(extraEnv ...string) *proctest.Proc {
	c.t.Helper()
	bin := proctest.Build(c.t, WorkerPkg)
	c.mu.Lock()
	c.nextID++
	name := fmt.Sprintf("worker%d", c.nextID)
	c.mu.Unlock()
	env := append(c.RedisEnv(), "WORKER_ID="+name,
		"WORKER_LEASE_TTL=2s", "WORKER_CONCURRENCY=4")
	env = append(env, c.opts.WorkerEnv...)
	p := proctest.Start(c.t, name, bin, append(env, extraEnv...))
	c.mu.Lock()
	c.workers = append(c.workers, p)
	c.mu.Unlock()
	return p
}

// StartAPI starts one more apiserver on a free loopback port; it does not
// wait for it to be ready (see WaitReady).
func (c *Cluster) StartAPI(extraEnv ...string) *API {
	c.t.Helper()
	bin := proctest.Build(c.t, APIPkg)
	port, err := redistest.FreePort()
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	name := fmt.Sprintf("apiserver%d", len(c.apis)+1)
	c.mu.Unlock()
	// The tests drive an open API unless APIEnv sets keys: say so, as an
	// operator must for an apiserver on a real Redis without keys.
	env := append(c.RedisEnv(), "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port), "API_ALLOW_NO_KEYS=1")
	env = append(env, c.opts.APIEnv...)
	a := &API{Proc: proctest.Start(c.t, name, bin, append(env, extraEnv...)),
		URL: "http://127.0.0.1:" + strconv.Itoa(port), Port: port}
	c.mu.Lock()
	c.apis = append(c.apis, a)
	c.mu.Unlock()
	return a
}

// RedisEnv is the environment that points a process at the cluster's Redis.
func (c *Cluster) RedisEnv() []string {
	rc := c.RedisConfig
	var env []string
	if c.opts.Shards > 0 {
		env = append(env, "QUEUE_SHARDS="+strconv.Itoa(c.opts.Shards))
	}
	switch {
	case len(rc.ClusterAddrs) > 0:
		return append(env, "REDIS_CLUSTER_ADDRS="+strings.Join(rc.ClusterAddrs, ","))
	case len(rc.SentinelAddrs) > 0:
		return append(env, "REDIS_SENTINEL_ADDRS="+strings.Join(rc.SentinelAddrs, ","), "REDIS_SENTINEL_MASTER="+rc.SentinelMaster)
	}
	return append(env, "REDIS_URL="+rc.URL)
}

// APIs are the apiservers started so far (dead ones included).
func (c *Cluster) APIs() []*API {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*API(nil), c.apis...)
}

// Workers are the worker processes started so far (dead ones included).
func (c *Cluster) Workers() []*proctest.Proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*proctest.Proc(nil), c.workers...)
}

// Queue is an engine client on the cluster's Redis, for the test's own
// reads and checks (its connection is closed at cleanup).
func (c *Cluster) Queue() *queue.Client {
	c.t.Helper()
	rc := c.RedisConfig
	rc.PoolSize = 16
	rdb, err := rc.Open("clustertest")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := queue.NewClient(ctx, rdb, &queue.Config{Shards: c.opts.Shards})
	if err != nil {
		c.t.Fatal(err)
	}
	return q
}

// WaitReady waits until base/readyz answers 200.
func WaitReady(t testing.TB, base string, timeout time.Duration) {
	t.Helper()
	proctest.WaitFor(t, timeout, base+"/readyz", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// OpenFDs counts the open file descriptors of a process (Linux /proc).
func OpenFDs(pid int) (int, error) {
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	return len(ents), err
}

// RSS is a process's resident set size in bytes (Linux /proc).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
