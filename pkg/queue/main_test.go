package queue

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/testmain"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

// testShards is the Config.Shards of setup's clients: QUEUE_TEST_SHARDS
// runs the whole package on a sharded layout (TestSharded runs a chosen
// set of tests so in every run).
var testShards, _ = strconv.Atoi(os.Getenv("QUEUE_TEST_SHARDS"))

// bundle is what a test needs beside the Client under test.
type bundle struct {
	rdb    *redis.Client
	server *redistest.Server
	keys   keyspace
}

// setup returns a Client on the shared real redis-server, isolated by a
// key prefix of the test's own.
func setup(t testing.TB) (*Client, *bundle) {
	t.Helper()
	srv := redistest.Shared(t)
	return setupOn(t, srv)
}

func setupOn(t testing.TB, srv *redistest.Server) (*Client, *bundle) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 32})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := NewClient(ctx, rdb, &Config{Prefix: redistest.Prefix(t), Shards: testShards})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c, &bundle{rdb: rdb, server: srv, keys: c.keys}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkInvariants fails the test if the data model's invariants are broken.
func checkInvariants(t *testing.T, c *Client) {
	t.Helper()
	if err := c.CheckInvariants(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// startHub starts a Hub on c, stopped at the test's cleanup.
func startHub(t testing.TB, c *Client) *Hub {
	t.Helper()
	h := c.NewHub()
	if err := h.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h
}
