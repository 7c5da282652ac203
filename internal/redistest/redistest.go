// Package redistest starts real redis-server processes for tests.
//
// Lua scripts, pub/sub, blocking commands and timing are proven against a
// real server, never only against an emulation. A missing redis-server
// fails the test (it does not skip): CI installs one.
package redistest

import (
	"bufio"
	"context"
	"fmt"
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
func Start(dir string, opt *Options) (*Server, error) {
	if opt == nil {
		opt = &Options{}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--loglevel", "warning", "--protected-mode", "no",
		"--logfile", filepath.Join(dir, "redis.log")}
	if opt.AOF {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, opt.Args...)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, Dir: dir, args: args}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

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
	go func(c *exec.Cmd) { _ = c.Wait() }(s.cmd)
	return s.waitReady(10 * time.Second)
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
		err := c.Ping(context.Background()).Err()
		_ = c.Close()
		if err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	return fmt.Errorf("redis-server on %s not ready after %s; log:\n%s", s.Addr, limit, log)
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

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
