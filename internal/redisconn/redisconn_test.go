package redisconn

import (
	"testing"
	"time"
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
	for _, c := range []Config{
		{URL: "http://nope"},
		{URL: "redis://example:6379", TLSCAFile: "/etc/hostname"}, // TLS files without rediss://
		{URL: "rediss://example:6379", TLSCAFile: "/nonexistent"},
		{URL: "rediss://example:6379", TLSCAFile: "redisconn.go"}, // no PEM in it
		{URL: "rediss://example:6379", TLSCertFile: "/nonexistent", TLSKeyFile: "/nonexistent"},
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
