// Package redisconn is the one place the commands turn their Redis
// configuration into a client — a single node (REDIS_URL), a Redis
// Cluster (REDIS_CLUSTER_ADDRS) or a Sentinel-managed master
// (REDIS_SENTINEL_ADDRS + REDIS_SENTINEL_MASTER). It knows nothing of the
// queue (internal/startup builds the queue's client on what it opens).
//
// The rules, the same for every command:
//
//   - Exactly one mode: REDIS_URL, REDIS_CLUSTER_ADDRS or
//     REDIS_SENTINEL_ADDRS. Setting two is a configuration error, not a
//     silent preference.
//   - Credentials: REDIS_USERNAME / REDIS_PASSWORD, in every mode. In
//     single-node mode the URL's user:password@ works too; giving both is
//     an error, so there is never a question of which one wins.
//     REDIS_SENTINEL_PASSWORD authenticates to the sentinels themselves.
//   - Database: the URL's /db path in single-node mode, REDIS_DB with
//     Sentinel; a Cluster has only database 0.
//   - TLS: rediss:// in single-node mode, REDIS_TLS=1 for Cluster and
//     Sentinel (which have no URL); REDIS_TLS_CA_FILE and
//     REDIS_TLS_CERT_FILE/REDIS_TLS_KEY_FILE apply to all three.
//   - Timeouts are bounded the same way everywhere (see Open).
package redisconn

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/redis/go-redis/v9"
)

// Mode is how the service reaches Redis.
type Mode string

// The modes; ModeNone means nothing was configured (the apiserver's dev mode).
const (
	ModeNone     Mode = ""
	ModeSingle   Mode = "single"
	ModeCluster  Mode = "cluster"
	ModeSentinel Mode = "sentinel"
)

// The bounded defaults of every connection: an unreachable Redis shows as
// a fast error rather than a hang.
const (
	DefaultDialTimeout = time.Second
	DefaultIOTimeout   = time.Second
	DefaultMaxRetries  = 1
)

// Config locates a Redis and says how to talk to it.
type Config struct {
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS;
	// go-redis's query options (dial_timeout=, pool_size=, ...) apply.
	// Single-node mode.
	URL string
	// ClusterAddrs are some nodes (host:port) of a Redis Cluster; the
	// client discovers the rest. Cluster mode.
	ClusterAddrs []string
	// SentinelAddrs are sentinels (host:port) watching SentinelMaster, the
	// name of the master they fail over. Sentinel mode.
	SentinelAddrs  []string
	SentinelMaster string
	// SentinelPassword authenticates to the sentinels (their
	// requirepass), when they have one; Password is the data nodes'.
	SentinelPassword string
	// Username and Password authenticate to the data nodes (ACL user, or
	// the requirepass with an empty Username).
	Username, Password string
	// DB selects the database in Sentinel mode (single-node mode takes it
	// from the URL; a Cluster has only 0).
	DB int
	// TLS turns TLS on in Cluster and Sentinel mode (single-node mode
	// says rediss:// instead).
	TLS bool
	// TLSCAFile verifies the servers with this PEM CA bundle instead of
	// the system's roots.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile present a client certificate (PEM), for
	// servers run with tls-auth-clients.
	TLSCertFile, TLSKeyFile string

	// PoolSize and MinIOTimeout are set by the command, not by the
	// operator: the connections each node's pool keeps (0: go-redis's
	// default), and a floor for the read and write timeouts (a worker's
	// blocking commands need more than the default second).
	PoolSize     int
	MinIOTimeout time.Duration
}

// AddFlags registers the Redis flags, each with its environment variable,
// and returns a function that reads them into a Config once fs is parsed.
// defaultURL is used when no mode at all is given (empty: none).
func AddFlags(fs *envflag.Set, defaultURL, urlHelp string) func() Config {
	if defaultURL != "" {
		urlHelp += " (default " + defaultURL + " when neither cluster nor sentinel is set)"
	}
	url := fs.String("redis-url", "REDIS_URL", "", urlHelp)
	cluster := fs.String("redis-cluster-addrs", "REDIS_CLUSTER_ADDRS", "", "some nodes of a Redis Cluster, host:port,host:port,..., from which the rest is discovered (instead of -redis-url)")
	sentinels := fs.String("redis-sentinel-addrs", "REDIS_SENTINEL_ADDRS", "", "Redis Sentinels, host:port,... (instead of -redis-url; with -redis-sentinel-master)")
	master := fs.String("redis-sentinel-master", "REDIS_SENTINEL_MASTER", "", "name of the master the sentinels monitor")
	sentinelPass := fs.String("redis-sentinel-password", "REDIS_SENTINEL_PASSWORD", "", "password of the sentinels themselves, if they have one")
	user := fs.String("redis-username", "REDIS_USERNAME", "", "Redis ACL user (any mode; or user@ in -redis-url, not both)")
	pass := fs.String("redis-password", "REDIS_PASSWORD", "", "Redis password (any mode; or :password@ in -redis-url, not both)")
	db := fs.Int("redis-db", "REDIS_DB", 0, "database number with sentinel (single node: the URL's /db; a cluster has only 0)")
	useTLS := fs.Bool("redis-tls", "REDIS_TLS", false, "TLS to a cluster or sentinel setup (single node: use rediss://)")
	ca := fs.String("redis-tls-ca", "REDIS_TLS_CA_FILE", "", "PEM CA bundle that verifies the Redis servers (default: the system's roots)")
	cert := fs.String("redis-tls-cert", "REDIS_TLS_CERT_FILE", "", "PEM client certificate for servers that verify clients")
	key := fs.String("redis-tls-key", "REDIS_TLS_KEY_FILE", "", "PEM key of -redis-tls-cert")
	return func() Config {
		c := Config{URL: *url, ClusterAddrs: envflag.List(*cluster), SentinelAddrs: envflag.List(*sentinels),
			SentinelMaster: *master, SentinelPassword: *sentinelPass, Username: *user, Password: *pass,
			DB: *db, TLS: *useTLS, TLSCAFile: *ca, TLSCertFile: *cert, TLSKeyFile: *key}
		if c.URL == "" && len(c.ClusterAddrs) == 0 && len(c.SentinelAddrs) == 0 && c.SentinelMaster == "" {
			c.URL = defaultURL
		}
		return c
	}
}

// Mode tells which mode the configuration selects, or why it is invalid.
func (c *Config) Mode() (Mode, error) {
	var modes []string
	if c.URL != "" {
		modes = append(modes, "REDIS_URL")
	}
	if len(c.ClusterAddrs) > 0 {
		modes = append(modes, "REDIS_CLUSTER_ADDRS")
	}
	if len(c.SentinelAddrs) > 0 || c.SentinelMaster != "" {
		modes = append(modes, "REDIS_SENTINEL_ADDRS")
	}
	if len(modes) > 1 {
		return "", fmt.Errorf("redis: %s are exclusive: set exactly one", strings.Join(modes, " and "))
	}
	if c.SentinelPassword != "" && len(c.SentinelAddrs) == 0 {
		return "", fmt.Errorf("REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINEL_ADDRS")
	}
	switch {
	case c.URL != "":
		if c.DB != 0 {
			return "", fmt.Errorf("REDIS_DB is for sentinel mode: with REDIS_URL, put the database in its path (redis://host:port/%d)", c.DB)
		}
		if c.TLS && !strings.HasPrefix(c.URL, "rediss://") {
			return "", fmt.Errorf("REDIS_TLS=1 with REDIS_URL %s: use a rediss:// URL instead", Redact(c.URL))
		}
		return ModeSingle, nil
	case len(c.ClusterAddrs) > 0:
		if err := checkAddrs("REDIS_CLUSTER_ADDRS", c.ClusterAddrs); err != nil {
			return "", err
		}
		if c.DB != 0 {
			return "", fmt.Errorf("REDIS_DB=%d: a Redis Cluster has only database 0", c.DB)
		}
		return ModeCluster, c.checkTLSFiles()
	case len(c.SentinelAddrs) > 0 || c.SentinelMaster != "":
		if len(c.SentinelAddrs) == 0 || c.SentinelMaster == "" {
			return "", fmt.Errorf("sentinel mode needs both REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER")
		}
		if err := checkAddrs("REDIS_SENTINEL_ADDRS", c.SentinelAddrs); err != nil {
			return "", err
		}
		if c.DB < 0 {
			return "", fmt.Errorf("REDIS_DB=%d: must not be negative", c.DB)
		}
		return ModeSentinel, c.checkTLSFiles()
	}
	if c.Username != "" || c.Password != "" || c.TLS || c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "" {
		return "", fmt.Errorf("redis credentials or TLS files are set but no Redis is: set REDIS_URL, REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS")
	}
	return ModeNone, nil
}

func (c *Config) checkTLSFiles() error {
	if !c.TLS && (c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "") {
		return fmt.Errorf("REDIS_TLS_* files are set but REDIS_TLS is not")
	}
	return nil
}

func checkAddrs(name string, addrs []string) error {
	for _, a := range addrs {
		_, port, err := net.SplitHostPort(a)
		if err == nil {
			_, err = strconv.ParseUint(port, 10, 16)
		}
		if err != nil {
			return fmt.Errorf("%s: %q is not host:port", name, a)
		}
	}
	return nil
}

// String describes the configured Redis for logs, without secrets.
func (c *Config) String() string {
	switch {
	case len(c.ClusterAddrs) > 0:
		return "cluster " + strings.Join(c.ClusterAddrs, ",")
	case len(c.SentinelAddrs) > 0:
		return "sentinel master " + c.SentinelMaster + " via " + strings.Join(c.SentinelAddrs, ",")
	}
	return Redact(c.URL)
}

// Open returns a client of the configured Redis: a *redis.Client for a
// single node, a *redis.ClusterClient for a Cluster, a failover client
// (a *redis.Client that follows the sentinels' master) for Sentinel. Its
// connections carry clientName (CLIENT LIST shows which process holds
// which connection). Calls are bounded — DefaultDialTimeout to dial (one
// retry), DefaultIOTimeout per read and write (at least MinIOTimeout),
// DefaultMaxRetries — values given in the URL win over these.
func (c *Config) Open(clientName string) (redis.UniversalClient, error) {
	mode, err := c.Mode()
	if err != nil {
		return nil, err
	}
	switch mode {
	case ModeSingle:
		opts, err := c.Options(clientName)
		if err != nil {
			return nil, err
		}
		return redis.NewClient(opts), nil
	case ModeCluster:
		opts, err := c.ClusterOptions(clientName)
		if err != nil {
			return nil, err
		}
		return redis.NewClusterClient(opts), nil
	case ModeSentinel:
		opts, err := c.FailoverOptions(clientName)
		if err != nil {
			return nil, err
		}
		return redis.NewFailoverClient(opts), nil
	}
	return nil, errors.New("redis: no Redis configured: set REDIS_URL, REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS")
}

// Options parses a single-node configuration into go-redis options.
func (c *Config) Options(clientName string) (*redis.Options, error) {
	if mode, err := c.Mode(); err != nil {
		return nil, err
	} else if mode != ModeSingle {
		return nil, fmt.Errorf("redis: %q mode has no single-node options", mode)
	}
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if c.Username != "" || c.Password != "" {
		if opts.Username != "" || opts.Password != "" {
			return nil, fmt.Errorf("REDIS_URL carries credentials and REDIS_USERNAME/REDIS_PASSWORD are set too: give them in one place")
		}
		opts.Username, opts.Password = c.Username, c.Password
	}
	opts.ClientName = cmp.Or(opts.ClientName, clientName)
	opts.DialTimeout = cmp.Or(opts.DialTimeout, DefaultDialTimeout)
	opts.ReadTimeout = max(cmp.Or(opts.ReadTimeout, DefaultIOTimeout), c.MinIOTimeout)
	opts.WriteTimeout = max(cmp.Or(opts.WriteTimeout, DefaultIOTimeout), c.MinIOTimeout)
	opts.MaxRetries = cmp.Or(opts.MaxRetries, DefaultMaxRetries)
	opts.DialerRetries = cmp.Or(opts.DialerRetries, 1)
	opts.PoolSize = cmp.Or(c.PoolSize, opts.PoolSize)
	if c.TLSCAFile == "" && c.TLSCertFile == "" && c.TLSKeyFile == "" {
		return opts, nil
	}
	if opts.TLSConfig == nil {
		return nil, fmt.Errorf("REDIS_TLS_* files are set but REDIS_URL %s is not rediss://", Redact(c.URL))
	}
	if err := c.loadTLSFiles(opts.TLSConfig); err != nil {
		return nil, err
	}
	return opts, nil
}

// ClusterOptions turns a Cluster configuration into go-redis options.
func (c *Config) ClusterOptions(clientName string) (*redis.ClusterOptions, error) {
	if mode, err := c.Mode(); err != nil {
		return nil, err
	} else if mode != ModeCluster {
		return nil, fmt.Errorf("redis: %q mode has no cluster options", mode)
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &redis.ClusterOptions{Addrs: c.ClusterAddrs, ClientName: clientName,
		Username: c.Username, Password: c.Password, TLSConfig: tlsCfg,
		DialTimeout: DefaultDialTimeout, DialerRetries: 1,
		ReadTimeout: max(DefaultIOTimeout, c.MinIOTimeout), WriteTimeout: max(DefaultIOTimeout, c.MinIOTimeout),
		MaxRetries: DefaultMaxRetries, PoolSize: c.PoolSize}, nil
}

// FailoverOptions turns a Sentinel configuration into go-redis options.
func (c *Config) FailoverOptions(clientName string) (*redis.FailoverOptions, error) {
	if mode, err := c.Mode(); err != nil {
		return nil, err
	} else if mode != ModeSentinel {
		return nil, fmt.Errorf("redis: %q mode has no sentinel options", mode)
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return &redis.FailoverOptions{MasterName: c.SentinelMaster, SentinelAddrs: c.SentinelAddrs,
		SentinelPassword: c.SentinelPassword, ClientName: clientName,
		Username: c.Username, Password: c.Password, DB: c.DB, TLSConfig: tlsCfg,
		DialTimeout: DefaultDialTimeout, DialerRetries: 1,
		ReadTimeout: max(DefaultIOTimeout, c.MinIOTimeout), WriteTimeout: max(DefaultIOTimeout, c.MinIOTimeout),
		MaxRetries: DefaultMaxRetries, PoolSize: c.PoolSize}, nil
}

// tlsConfig is the TLS of Cluster and Sentinel mode: nil without REDIS_TLS.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if err := c.loadTLSFiles(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// loadTLSFiles adds the CA bundle and client certificate to cfg.
func (c *Config) loadTLSFiles(cfg *tls.Config) error {
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("REDIS_TLS_CA_FILE %s: no PEM certificate in it", c.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	if c.TLSCertFile != "" || c.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("REDIS_TLS_CERT_FILE/REDIS_TLS_KEY_FILE: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return nil
}

// Redact hides the password of a Redis URL, for logs.
func Redact(u string) string {
	if at := strings.LastIndex(u, "@"); at > 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "***" + u[at:]
		}
	}
	return u
}
