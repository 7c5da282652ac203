// Package redistest starts real redis-server processes for tests.
//
// Lua scripts, pub/sub, blocking commands and timing are proven against a
// real server, never only against an emulation. A missing redis-server
// fails the test (it does not skip): CI installs one.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server child process on a loopback port.
type Server struct {
	Addr string
	Port int
	Dir  string
	args []string
	cmd  *exec.Cmd
	mu   sync.Mutex
}

// Options tune a server.
type Options struct {
	// AOF turns on appendonly persistence (fsync every second).
	AOF bool
	// Args are extra redis-server arguments, e.g. "--maxmemory", "100mb".
	Args []string
	// ClusterNode chooses a port whose cluster bus port (port+10000) is
	// free and valid as well.
	ClusterNode bool
}

// Binary is the redis-server to run: $REDIS_SERVER or the one on PATH.
func Binary() (string, error) {
	if b := os.Getenv("REDIS_SERVER"); b != "" {
		return b, nil
	}
	b, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found on PATH (install it: apt-get install -y redis-server): %w", err)
	}
	return b, nil
}

// Start starts a server in dir on a free port and waits until it answers.
// A port another process took between the choice and the bind is chosen
// again (a few times).
func Start(dir string, opt *Options) (*Server, error) {
	if opt == nil {
		opt = &Options{}
	}
	var err error
	for range startAttempts {
		var port int
		if opt.ClusterNode {
			port, err = freeClusterPort()
		} else {
			port, err = FreePort()
		}
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, Dir: dir, args: serverArgs(dir, port, opt)}
		if err = s.start(); err == nil {
			return s, nil
		}
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
	}
	return nil, err
}

// startAttempts bounds Start's choices of a port.
const startAttempts = 5

// ZsetListpackEntries is the zset-max-listpack-entries the deployment
// runs Redis with (docker-compose.yml, deploy/k8s/redis.yaml, README):
// past 16 members a sorted set is a skip list, where an insert or removal
// costs a lookup rather than a scan of the whole compact list. The leases
// of a fleet (one member per running job) stay under Redis's default of
// 128 and were scanned on every claim and completion (docs/benchmarks.md).
const ZsetListpackEntries = "16"

func serverArgs(dir string, port int, opt *Options) []string {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--loglevel", "warning", "--protected-mode", "no",
		"--logfile", filepath.Join(dir, "redis.log"), "--zset-max-listpack-entries", ZsetListpackEntries}
	if opt.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	return append(args, opt.Args...)
}

// errPortTaken: the server could not have its port (it exited at start,
// or another server answers there).
var errPortTaken = errors.New("port taken")

func (s *Server) start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = exec.Command(bin, s.args...)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func(c *exec.Cmd) { _ = c.Wait(); close(exited) }(s.cmd)
	if err := s.waitReady(10*time.Second, s.cmd.Process.Pid, exited); err != nil {
		_ = s.cmd.Process.Kill()
		s.cmd = nil
		return err
	}
	return nil
}

// waitReady waits until the server answers on its port, and proves that
// the server answering is the child it started (INFO's process_id is the
// child's pid): a test must never talk to another test's server that
// happens to hold the port.
func (s *Server) waitReady(limit time.Duration, pid int, exited <-chan struct{}) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited at start (%w); log:\n%s", s.Addr, errPortTaken, s.LogTail())
		default:
		}
		got, err := serverPID(s.Addr)
		switch {
		case err == nil && got == pid:
			return nil
		case err == nil:
			return fmt.Errorf("%s answers as redis-server pid %d, not the child %d (%w)", s.Addr, got, pid, errPortTaken)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("redis-server on %s not ready after %s; log:\n%s", s.Addr, limit, s.LogTail())
}

// serverPID asks the server at addr for its process id, once it serves
// (PING fails while it loads its data; INFO would not).
func serverPID(addr string) (int, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		return 0, err
	}
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("INFO server of %s has no process_id", addr)
}

// Stop kills the server (SIGKILL: no final save).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		s.waitGone()
		s.cmd = nil
	}
}

// Shutdown stops the server cleanly (SHUTDOWN, flushing the AOF).
func (s *Server) Shutdown() {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	_ = c.Shutdown(context.Background()).Err()
	_ = c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waitGone()
	s.cmd = nil
}

func (s *Server) waitGone() {
	for i := 0; i < 500; i++ {
		conn, err := net.DialTimeout("tcp", s.Addr, 50*time.Millisecond)
		if err != nil {
			return
		}
		_ = conn.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port and directory
// (loading its AOF when it has one).
func (s *Server) Restart() error { return s.start() }

// Freeze stops the server process (SIGSTOP) without closing anything:
// connections are accepted by the kernel but never answered, as in a
// network partition. Thaw resumes it.
func (s *Server) Freeze() error { return s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return fmt.Errorf("redis-server on %s is not running", s.Addr)
	}
	return s.cmd.Process.Signal(sig)
}

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Client returns a new client of the server.
func (s *Server) Client() *redis.Client { return redis.NewClient(&redis.Options{Addr: s.Addr}) }

// freeClusterPort picks a free port for a cluster node whose bus port
// (port+10000) is free and valid too. It picks below the kernel's
// ephemeral range (32768 up), so that neither port can be taken by an
// outgoing connection meanwhile; a port from :0 could be above 55535,
// whose bus port does not exist, and such a node never starts.
func freeClusterPort() (int, error) {
	for range 200 {
		port := clusterPortLow + rand.IntN(clusterPortHigh-clusterPortLow)
		if portFree(port) && portFree(port+clusterBusOffset) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free cluster port pair in %d-%d", clusterPortLow, clusterPortHigh)
}

// Cluster node ports: nodes in [clusterPortLow, clusterPortHigh), their bus
// ports 10000 above, all below the ephemeral range.
const (
	clusterPortLow   = 12000
	clusterPortHigh  = 22000
	clusterBusOffset = 10000
)

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// handedOut holds the ports FreePort gave out: the kernel may offer a
// port again once its probe closed, before the process it was meant for
// bound it, and two processes of one test given one port make the second
// fail at start-up.
var handedOut sync.Map // port → struct{}

// FreePort asks the kernel for a free loopback TCP port, never one it
// gave out before in this test binary.
func FreePort() (int, error) {
	for range 1000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if _, given := handedOut.LoadOrStore(port, struct{}{}); !given {
			return port, nil
		}
	}
	return 0, errors.New("redistest: no free port that was not given out already")
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	sharedDir  string
	prefixSeq  int64
	prefixMu   sync.Mutex
)

// Shared returns one server per test binary (started on first use, its
// data in a temp dir); tests isolate themselves with their own key prefix.
// Call StopShared from TestMain after m.Run.
func Shared(t testing.TB) *Server {
	t.Helper()
	if url := os.Getenv("REDIS_TEST_ADDR"); url != "" {
		return &Server{Addr: url}
	}
	sharedOnce.Do(func() {
		sharedDir, sharedErr = os.MkdirTemp("", "redistest-")
		if sharedErr == nil {
			shared, sharedErr = Start(sharedDir, nil)
		}
	})
	if sharedErr != nil {
		t.Fatalf("redistest: %v", sharedErr)
	}
	return shared
}

// StopShared stops the shared server, if one was started.
func StopShared() {
	if shared != nil {
		shared.Stop()
		_ = os.RemoveAll(sharedDir)
	}
}

// New starts a server of the test's own (for tests that stop or restart
// it); it is killed at cleanup.
func New(t testing.TB, opt *Options) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), opt)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Prefix returns a key prefix unique within the test binary, so tests that
// share a server never see each other's keys.
func Prefix(t testing.TB) string {
	prefixMu.Lock()
	defer prefixMu.Unlock()
	prefixSeq++
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t%d_%s", prefixSeq, name)
}

// LogTail returns the server log, for failure messages.
func (s *Server) LogTail() string {
	f, err := os.Open(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
