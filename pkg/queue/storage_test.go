package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// The refusals a Redis answers while it loads or a failover is under way
// are ErrUnavailable (an API's 503, a retry), other errors are not: each
// error text as go-redis parses it from a server's reply.
func TestStorageErrorTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reply       string
		unavailable bool
	}{
		{"LOADING Redis is loading the dataset in memory", true},
		{"READONLY You can't write against a read only replica.", true},
		{"ERR Error running script (call to f_0123): @user_script:1: -READONLY You can't write against a read only replica.", true},
		{"CLUSTERDOWN The cluster is down", true},
		{"CLUSTERDOWN Hash slot not served", true},
		{"TRYAGAIN Multiple keys request during rehashing of slot", true},
		{"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", true},
		{"ERR wrong number of arguments for 'get' command", false},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", false},
		{"NOSCRIPT No matching script. Please use EVAL.", false},
		{"NOAUTH Authentication required.", false},
	} {
		t.Run(tc.reply, func(t *testing.T) {
			rdb := redis.NewClient(&redis.Options{Addr: errorServer(t, tc.reply), MaxRetries: -1})
			t.Cleanup(func() { _ = rdb.Close() })
			for name, err := range map[string]error{
				"command": rdb.Get(context.Background(), "k").Err(),
				"script":  redis.NewScript("return 1").EvalSha(context.Background(), rdb, []string{"k"}).Err(),
			} {
				if err == nil || !strings.Contains(err.Error(), strings.Fields(tc.reply)[0]) {
					t.Fatalf("%s: the server's reply did not come through: %v", name, err)
				}
				if got := errors.Is(storageErr(err), ErrUnavailable); got != tc.unavailable {
					t.Errorf("%s: %q unavailable=%v, want %v", name, err, got, tc.unavailable)
				}
			}
		})
	}
	// And a Redis that cannot be reached at all.
	rdb := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := storageErr(rdb.Ping(context.Background()).Err()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("refused: %v", err)
	}
}

// errorServer serves RESP on a loopback port and answers every command
// with the error reply text (the handshake excepted, so that go-redis
// gets as far as sending the command). It returns its address.
func errorServer(t *testing.T, text string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					args, err := readCommand(r)
					if err != nil {
						return
					}
					reply := "-" + text + "\r\n"
					switch strings.ToUpper(args[0]) {
					case "HELLO": // no RESP3: go-redis goes on in RESP2
						reply = "-ERR unknown command 'HELLO'\r\n"
					case "CLIENT":
						reply = "+OK\r\n"
					}
					if _, err := conn.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readCommand reads one RESP command: an array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("not a command: %q", line)
	}
	args := make([]string, n)
	for i := range args {
		if line, err = r.ReadString('\n'); err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
		if err != nil {
			return nil, fmt.Errorf("not a bulk string: %q", line)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// The same refusals from real servers: a replica refuses a submission
// (READONLY), a replica cut off from its master refuses everything
// (MASTERDOWN), a cluster node serving no slot yet refuses the keys
// (CLUSTERDOWN). Each is ErrUnavailable.
func TestStorageErrorsOfRealServers(t *testing.T) {
	t.Parallel()
	t.Run("READONLY", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t) // its own: a parallel subtest may wait long for its turn
		master := redistest.New(t, &redistest.Options{Args: []string{"--repl-diskless-sync-delay", "0"}})
		replica := redistest.New(t, &redistest.Options{Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}})
		c, _ := setupOn(t, master)
		mustEnqueue(t, c, EnqueueParams{Type: "x"}) // the queue's layout and a job, for the replica to copy
		rdb := replica.Client()
		t.Cleanup(func() { _ = rdb.Close() })
		waitFor(t, 10*time.Second, "the replica in sync", func() bool {
			n, _ := rdb.Exists(ctx, c.keys.layout()).Result()
			return n == 1
		})
		onReplica, err := NewClient(ctx, rdb, &Config{Prefix: strings.Trim(c.keys.tag, "{}"), Shards: testShards})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := onReplica.Enqueue(ctx, EnqueueParams{Type: "x"}); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "READONLY") {
			t.Fatalf("submit to a replica: %v", err)
		}
	})
	t.Run("MASTERDOWN", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t) // its own: a parallel subtest may wait long for its turn
		replica := redistest.New(t, &redistest.Options{Args: []string{"--replicaof", "127.0.0.1", strconv.Itoa(closedPort(t))}})
		rdb := replica.Client()
		t.Cleanup(func() { _ = rdb.Close() })
		if err := rdb.ConfigSet(ctx, "replica-serve-stale-data", "no").Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := NewClient(ctx, rdb, &Config{Prefix: redistest.Prefix(t)}); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "MASTERDOWN") {
			t.Fatalf("a client on a cut-off replica: %v", err)
		}
	})
	t.Run("CLUSTERDOWN", func(t *testing.T) {
		t.Parallel()
		ctx := ctxT(t) // its own: a parallel subtest may wait long for its turn
		node := redistest.New(t, &redistest.Options{ClusterNode: true, Args: []string{"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf"}})
		rdb := node.Client()
		t.Cleanup(func() { _ = rdb.Close() })
		if _, err := NewClient(ctx, rdb, &Config{Prefix: redistest.Prefix(t)}); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "CLUSTERDOWN") {
			t.Fatalf("a client on a cluster still forming: %v", err)
		}
	})
}

func closedPort(t *testing.T) int {
	_, port, _ := net.SplitHostPort(closedAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}
