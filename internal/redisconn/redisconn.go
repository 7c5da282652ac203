// Package redisconn is the one place the commands turn their Redis
// configuration (REDIS_URL and the TLS variables) into a client, and wait
// for a Redis that is not up yet.
package redisconn

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/compileo/jobqueue/internal/envflag"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// Config locates a Redis and says how to talk to it.
type Config struct {
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS;
	// go-redis's query options (dial_timeout=, pool_size=, ...) apply.
	URL string
	// TLSCAFile verifies the server with this PEM CA bundle instead of
	// the system's roots (rediss:// only).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile present a client certificate (PEM), for
	// servers run with tls-auth-clients.
	TLSCertFile, TLSKeyFile string
}

// AddFlags registers the Redis flags, each with its environment variable,
// and returns a function that reads them into a Config once fs is parsed.
func AddFlags(fs *envflag.Set, defaultURL, urlHelp string) func() Config {
	url := fs.String("redis-url", "REDIS_URL", defaultURL, urlHelp)
	ca := fs.String("redis-tls-ca", "REDIS_TLS_CA_FILE", "", "PEM CA bundle that verifies a rediss:// server (default: the system's roots)")
	cert := fs.String("redis-tls-cert", "REDIS_TLS_CERT_FILE", "", "PEM client certificate for a rediss:// server that verifies clients")
	key := fs.String("redis-tls-key", "REDIS_TLS_KEY_FILE", "", "PEM key of -redis-tls-cert")
	return func() Config {
		return Config{URL: *url, TLSCAFile: *ca, TLSCertFile: *cert, TLSKeyFile: *key}
	}
}

// Options parses the configuration into go-redis options for a process
// of the given role, whose connections carry that name (CLIENT LIST shows
// which process holds which connection). Calls are bounded — 1 s to dial (one retry), 1 s per read and write, one retry —
// so an unreachable Redis shows as a fast error rather than a hang;
// values given in the URL win over these.
func (c *Config) Options(clientName string) (*redis.Options, error) {
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ClientName = cmp.Or(opts.ClientName, clientName)
	opts.DialTimeout = cmp.Or(opts.DialTimeout, time.Second)
	opts.ReadTimeout = cmp.Or(opts.ReadTimeout, time.Second)
	opts.WriteTimeout = cmp.Or(opts.WriteTimeout, time.Second)
	opts.MaxRetries = cmp.Or(opts.MaxRetries, 1)
	opts.DialerRetries = cmp.Or(opts.DialerRetries, 1)
	if c.TLSCAFile == "" && c.TLSCertFile == "" && c.TLSKeyFile == "" {
		return opts, nil
	}
	if opts.TLSConfig == nil {
		return nil, fmt.Errorf("REDIS_TLS_* files are set but REDIS_URL %s is not rediss://", Redact(c.URL))
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("REDIS_TLS_CA_FILE %s: no PEM certificate in it", c.TLSCAFile)
		}
		opts.TLSConfig.RootCAs = pool
	}
	if c.TLSCertFile != "" || c.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("REDIS_TLS_CERT_FILE/REDIS_TLS_KEY_FILE: %w", err)
		}
		opts.TLSConfig.Certificates = []tls.Certificate{cert}
	}
	return opts, nil
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

// WaitReachable calls f until it succeeds or fails for another reason
// than an unreachable Redis, backing off from 100 ms to 5 s: a process
// started before its Redis waits for it.
func WaitReachable(ctx context.Context, log *slog.Logger, f func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil || !errors.Is(err, queue.ErrUnavailable) {
			return err
		}
		log.Warn("waiting for redis", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis unreachable: %w", ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}
