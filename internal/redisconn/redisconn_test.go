package redisconn

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/redis/go-redis/v9"
)

func TestOptions(t *testing.T) {
	opts, err := (&Config{URL: "redis://u:p@example:6380/2"}).Options("jobqueue-test")
	if err != nil || opts.Addr != "example:6380" || opts.Username != "u" || opts.Password != "p" || opts.DB != 2 ||
		opts.ClientName != "jobqueue-test" || opts.DialTimeout != time.Second || opts.ReadTimeout != time.Second || opts.MaxRetries != 1 || opts.DialerRetries != 1 {
		t.Fatalf("redis options %+v %v", opts, err)
	}
	if opts, err := (&Config{URL: "rediss://example:6380?dial_timeout=3s&client_name=mine"}).Options("jobqueue-test"); err != nil || opts.TLSConfig == nil || opts.DialTimeout != 3*time.Second || opts.ClientName != "mine" {
		t.Fatalf("rediss options %+v %v", opts, err)
	}
	// Credentials from the variables; the command's pool and I/O floor.
	opts, err = (&Config{URL: "redis://example:6380", Username: "app", Password: "s3cret", PoolSize: 40, MinIOTimeout: 3 * time.Second}).Options("w")
	if err != nil || opts.Username != "app" || opts.Password != "s3cret" || opts.PoolSize != 40 || opts.ReadTimeout != 3*time.Second || opts.WriteTimeout != 3*time.Second {
		t.Fatalf("options with credentials %+v %v", opts, err)
	}
	for _, c := range []Config{
		{URL: "http://nope"},
		{URL: "redis://example:6379", TLSCAFile: "/etc/hostname"}, // TLS files without rediss://
		{URL: "rediss://example:6379", TLSCAFile: "/nonexistent"},
		{URL: "rediss://example:6379", TLSCAFile: "redisconn.go"}, // no PEM in it
		{URL: "rediss://example:6379", TLSCertFile: "/nonexistent", TLSKeyFile: "/nonexistent"},
		{URL: "redis://u:p@example:6379", Password: "other"}, // credentials in two places
		{ClusterAddrs: []string{"a:1"}},                      // not single-node
	} {
		if _, err := c.Options("jobqueue-test"); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if got := Redact("redis://u:secret@h:1"); got != "redis://***@h:1" {
		t.Fatal(got)
	}
	if got := Redact("redis://h:1"); got != "redis://h:1" {
		t.Fatal(got)
	}
}

func TestMode(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		mode Mode
		err  string // part of the error; "" for none
	}{
		{Config{}, ModeNone, ""},
		{Config{URL: "redis://h:1"}, ModeSingle, ""},
		{Config{ClusterAddrs: []string{"h:1", "h:2"}}, ModeCluster, ""},
		{Config{SentinelAddrs: []string{"h:1"}, SentinelMaster: "m", DB: 3}, ModeSentinel, ""},
		{Config{ClusterAddrs: []string{"h:1"}, TLS: true, TLSCAFile: "ca.pem", Password: "p"}, ModeCluster, ""},
		{Config{URL: "redis://h:1", ClusterAddrs: []string{"h:1"}}, "", "REDIS_URL and REDIS_CLUSTER_ADDRS are exclusive"},
		{Config{ClusterAddrs: []string{"h:1"}, SentinelAddrs: []string{"h:2"}, SentinelMaster: "m"}, "", "exclusive"},
		{Config{URL: "redis://h:1", SentinelMaster: "m"}, "", "exclusive"},
		{Config{SentinelAddrs: []string{"h:1"}}, "", "REDIS_SENTINEL_MASTER"},
		{Config{SentinelMaster: "m"}, "", "REDIS_SENTINEL_ADDRS"},
		{Config{ClusterAddrs: []string{"nope"}}, "", "not host:port"},
		{Config{SentinelAddrs: []string{"h:99999"}, SentinelMaster: "m"}, "", "not host:port"},
		{Config{ClusterAddrs: []string{"h:1"}, DB: 1}, "", "only database 0"},
		{Config{URL: "redis://h:1", DB: 2}, "", "put the database in its path"},
		{Config{URL: "redis://h:1", TLS: true}, "", "rediss://"},
		{Config{ClusterAddrs: []string{"h:1"}, TLSCAFile: "ca.pem"}, "", "REDIS_TLS is not"},
		{Config{URL: "redis://h:1", SentinelPassword: "p"}, "", "without REDIS_SENTINEL_ADDRS"},
		{Config{Password: "p"}, "", "no Redis is"},
	} {
		mode, err := tc.cfg.Mode()
		if tc.err == "" && (err != nil || mode != tc.mode) {
			t.Errorf("%+v: mode %q, %v; want %q", tc.cfg, mode, err, tc.mode)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: error %v, want one saying %q", tc.cfg, err, tc.err)
		}
	}
}

func TestClusterAndFailoverOptions(t *testing.T) {
	c := Config{ClusterAddrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, Username: "app", Password: "p",
		TLS: true, PoolSize: 20, MinIOTimeout: 3 * time.Second}
	co, err := c.ClusterOptions("jobqueue-test")
	if err != nil || !slices.Equal(co.Addrs, c.ClusterAddrs) || co.Username != "app" || co.Password != "p" ||
		co.TLSConfig == nil || co.ClientName != "jobqueue-test" || co.PoolSize != 20 || co.DialTimeout != time.Second ||
		co.ReadTimeout != 3*time.Second || co.WriteTimeout != 3*time.Second || co.MaxRetries != 1 {
		t.Fatalf("cluster options %+v %v", co, err)
	}
	s := Config{SentinelAddrs: []string{"s1:26379", "s2:26379"}, SentinelMaster: "mymaster",
		SentinelPassword: "sp", Password: "p", DB: 4}
	fo, err := s.FailoverOptions("jobqueue-test")
	if err != nil || fo.MasterName != "mymaster" || !slices.Equal(fo.SentinelAddrs, s.SentinelAddrs) ||
		fo.SentinelPassword != "sp" || fo.Password != "p" || fo.DB != 4 || fo.TLSConfig != nil ||
		fo.ReadTimeout != time.Second || fo.ClientName != "jobqueue-test" {
		t.Fatalf("failover options %+v %v", fo, err)
	}
	if _, err := (&Config{ClusterAddrs: []string{"h:1"}, TLS: true, TLSCAFile: "/nonexistent"}).ClusterOptions("x"); err == nil {
		t.Fatal("missing CA file accepted")
	}
	if _, err := s.ClusterOptions("x"); err == nil {
		t.Fatal("cluster options from a sentinel config")
	}
	if _, err := (&Config{}).Open("x"); err == nil {
		t.Fatal("opened without any Redis")
	}
	for cfg, want := range map[*Config]string{
		{URL: "redis://u:secret@h:1/0"}: "redis://***@h:1/0",
		&c:                              "cluster 10.0.0.1:7000,10.0.0.2:7000",
		&s:                              "sentinel master mymaster via s1:26379,s2:26379",
	} {
		if got := cfg.String(); got != want || strings.Contains(got, "secret") {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	// Open builds the client of the mode (nothing is dialled yet).
	for cfg, check := range map[*Config]func(redis.UniversalClient) bool{
		{URL: "redis://127.0.0.1:1"}:    func(r redis.UniversalClient) bool { _, ok := r.(*redis.Client); return ok },
		{ClusterAddrs: []string{"h:1"}}: func(r redis.UniversalClient) bool { _, ok := r.(*redis.ClusterClient); return ok },
		&s:                              func(r redis.UniversalClient) bool { _, ok := r.(*redis.Client); return ok },
	} {
		rdb, err := cfg.Open("x")
		if err != nil || !check(rdb) {
			t.Errorf("Open(%s): %T %v", cfg, rdb, err)
		}
		if rdb != nil {
			_ = rdb.Close()
		}
	}
}

func TestAddFlags(t *testing.T) {
	parse := func(env map[string]string, defaultURL string) (Config, error) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		fs := envflag.New("test")
		get := AddFlags(fs, defaultURL, "url")
		if err := fs.Parse(nil); err != nil {
			return Config{}, err
		}
		c := get()
		_, err := c.Mode()
		return c, err
	}
	// No mode: the command's default URL.
	if c, err := parse(nil, "redis://127.0.0.1:6379/0"); err != nil || c.URL != "redis://127.0.0.1:6379/0" {
		t.Fatalf("default: %+v %v", c, err)
	}
	// A cluster replaces the default URL instead of clashing with it.
	c, err := parse(map[string]string{"REDIS_CLUSTER_ADDRS": " 127.0.0.1:7000, 127.0.0.1:7001 ,", "REDIS_PASSWORD": "p",
		"REDIS_TLS": "1"}, "redis://127.0.0.1:6379/0")
	if err != nil || c.URL != "" || !slices.Equal(c.ClusterAddrs, []string{"127.0.0.1:7000", "127.0.0.1:7001"}) ||
		c.Password != "p" || !c.TLS {
		t.Fatalf("cluster: %+v %v", c, err)
	}
	// An explicit URL beside it is refused.
	if _, err := parse(map[string]string{"REDIS_URL": "redis://h:1"}, ""); err == nil || !strings.Contains(err.Error(), "exclusive") {
		t.Fatalf("url and cluster: %v", err)
	}
}

func TestRouteLogsLimitsTheRate(t *testing.T) {
	var buf bytes.Buffer
	l := &limitedLogger{log: slog.New(slog.NewTextHandler(&buf, nil)), interval: time.Hour}
	for range 100 {
		l.Printf(context.Background(), "dial tcp %s: connection refused", "127.0.0.1:1")
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), "connection refused") {
		t.Fatalf("%d lines: %s", n, buf.String())
	}
	l.last = time.Time{} // the interval passed
	l.Printf(context.Background(), "again")
	if !strings.Contains(buf.String(), "similar_lines_dropped=99") {
		t.Fatalf("the dropped lines were not counted: %s", buf.String())
	}
}
