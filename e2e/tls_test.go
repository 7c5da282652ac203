package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
)

// TestTLSAndACL runs the service on a Redis reached only over TLS, as an
// ACL user confined to the queue's keys and channels and denied the
// dangerous commands: the apiserver and the worker connect with
// rediss://user:password@ and a private CA, and a job runs end to end.
func TestTLSAndACL(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := writeCert(t, dir, "ca", nil, nil)
	writeCert(t, dir, "server", ca, caKey)
	tlsPort, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.New(t, &redistest.Options{Args: []string{
		"--tls-port", strconv.Itoa(tlsPort),
		"--tls-cert-file", filepath.Join(dir, "server.pem"),
		"--tls-key-file", filepath.Join(dir, "server-key.pem"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"),
		"--tls-auth-clients", "no",
	}})
	ctx := context.Background()
	admin := srv.Client()
	defer admin.Close()
	// The service's user: only keys and channels under the {jq} hash tag
	// and its shards' tags (the README's ACL, with QUEUE_SHARDS below).
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "jobqueue", "on", ">s3cret-pass", "resetkeys", "~{jq}:*", "~{jq:s*}:*", "resetchannels", "&{jq}:*", "+@all", "-@dangerous"},
		{"ACL", "SETUSER", "default", "off"}, // nobody else gets in (this connection stays)
	} {
		if err := admin.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}

	redisURL := "rediss://jobqueue:s3cret-pass@127.0.0.1:" + strconv.Itoa(tlsPort) + "/0"
	env := []string{"REDIS_URL=" + redisURL, "REDIS_TLS_CA_FILE=" + filepath.Join(dir, "ca.pem"), "QUEUE_SHARDS=3"}
	worker := proctest.Start(t, "worker", proctest.Build(t, "github.com/compileo/jobqueue/cmd/worker"),
		append(env, "WORKER_CONCURRENCY=2"))
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	api := proctest.Start(t, "apiserver", proctest.Build(t, "github.com/compileo/jobqueue/cmd/apiserver"),
		append(env, "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(port), "API_ALLOW_NO_KEYS=1"))
	clustertest.WaitReady(t, base, 20*time.Second)

	id := submit(t, base, `{"type": "demo", "payload": {"steps": 3, "step_ms": 20}}`)
	proctest.WaitFor(t, 20*time.Second, "the job completed", func() bool {
		return !worker.Exited() && getStatus(t, base, id).Status == "completed"
	})
	if evs := stream(t, ctx, base+"/api/v1/jobs/status/"+id+"/stream", ""); len(evs) != 1 || evs[0].Data["status"] != "completed" {
		t.Fatalf("stream over TLS: %v", evs)
	}
	// The password never reaches a log.
	for _, p := range []*proctest.Proc{worker, api} {
		if out := p.Output(); strings.Contains(out, "s3cret-pass") {
			t.Fatalf("a log holds the Redis password:\n%s", out)
		}
	}
}

// writeCert writes name.pem and name-key.pem: a CA when parent is nil,
// else a certificate for 127.0.0.1 signed by parent.
func writeCert(t *testing.T, dir, name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "jobqueue test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	if parent == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+"-key.pem", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}
