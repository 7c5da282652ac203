package main

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/testmain"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

// server is a run in the background, as main starts it.
type server struct {
	base string
	logs *proctest.LogBuffer
	stop context.CancelFunc
	done chan error
}

// start runs run(ctx, cfg) on port 0 and waits until it listens; the
// server is stopped at cleanup if the test did not stop it.
func start(t *testing.T, env map[string]string) *server {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := parseConfig([]string{"-addr", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{logs: &proctest.LogBuffer{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	cfg.logOut = s.logs
	cfg.onReady = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.done <- run(ctx, cfg) }()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case err := <-s.done:
		t.Fatalf("run: %v\n%s", err, s.logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("not listening after 20s\n%s", s.logs)
	}
	t.Cleanup(func() {
		cancel()
		<-s.done
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	return s
}

// shutdown cancels run's context and returns what run returned.
func (s *server) shutdown(t *testing.T) error {
	t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15s of its context ending")
		return nil
	}
}

var client = &http.Client{Timeout: 20 * time.Second}

func request(t *testing.T, method, url, body string, want int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, data, want)
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, url, data, err)
		}
	}
	return out
}

// streamLines opens an SSE stream and returns its lines as they come.
func streamLines(t *testing.T, url string) <-chan string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://u:p@example:6380/2")
	t.Setenv("HTTP_ADDR", ":9000")
	t.Setenv("API_BODY_LIMIT", "2048")
	t.Setenv("API_REQUEST_TIMEOUT", "500ms")
	t.Setenv("API_BODY_TIMEOUT", "3s")
	t.Setenv("API_SSE_HEARTBEAT", "5s")
	t.Setenv("DEV_WORKERS", "2")
	t.Setenv("LOG_FORMAT", "json")
	t.Setenv("API_KEYS", "ops:admin:0123456789abcdef0123")
	keysFile := t.TempDir() + "/keys"
	if err := os.WriteFile(keysFile, []byte("# readers\ndash:read:fedcba9876543210fedc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("API_KEYS_FILE", keysFile)
	t.Setenv("API_RATE_LIMIT", "50/10s")
	t.Setenv("API_AUTH_FAILURE_LIMIT", "5/m")
	t.Setenv("API_MAX_STREAMS_PER_CALLER", "10")
	t.Setenv("API_STREAM_TOKEN_TTL", "2m")
	t.Setenv("API_LIST_PAGE_BYTES", "65536")
	t.Setenv("API_MAX_QUEUES", "50")
	t.Setenv("API_MAX_JOB_TIMEOUT", "2h")
	t.Setenv("API_JOB_QUOTA", "0")
	t.Setenv("API_CORS_ORIGINS", "https://a.example, https://b.example")
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Redis.URL != "redis://u:p@example:6380/2" || cfg.Addr != ":9000" || cfg.API.BodyLimit != 2048 ||
		cfg.API.RequestTimeout != 500*time.Millisecond || cfg.API.BodyTimeout != 3*time.Second || cfg.API.Heartbeat != 5*time.Second ||
		cfg.DevWorkers != 2 || cfg.LogFmt != "json" || cfg.Queue.Prefix != "jq" {
		t.Fatalf("%+v", cfg)
	}
	if len(cfg.API.Keys) != 2 || cfg.API.Keys[1].Name != "dash" || cfg.API.RateLimit.Rate != 50 ||
		cfg.API.RateLimit.Period != 10*time.Second || len(cfg.API.CORSOrigins) != 2 ||
		cfg.API.AuthFailureLimit.Rate != 5 || cfg.API.AuthFailureLimit.Period != time.Minute ||
		cfg.API.MaxStreamsPerCaller != 10 || cfg.API.StreamTokenTTL != 2*time.Minute || cfg.API.ListBytes != 65536 || cfg.Queue.MaxQueues != 50 || cfg.API.MaxJobTimeout != 2*time.Hour || cfg.API.JobQuota >= 0 || cfg.API.MaxStreams != autoMaxStreams() || cfg.API.MaxStreams < 1 {
		t.Fatalf("api config %+v", cfg.API)
	}
	if cfg, _ := parseConfig([]string{"-max-streams", "100"}); cfg.API.MaxStreams != 100 {
		t.Fatal("-max-streams not taken")
	}
	if cfg, _ := parseConfig([]string{"-addr", ":1"}); cfg.Addr != ":1" {
		t.Fatal("a flag must win over its variable")
	}
	for k, v := range map[string]string{"API_REQUEST_TIMEOUT": "soon", "API_BODY_LIMIT": "0", "API_BODY_TIMEOUT": "0s", "DEV_WORKERS": "-1",
		"API_KEYS": "ops:superuser:0123456789abcdef0123", "API_RATE_LIMIT": "lots", "API_AUTH_FAILURE_LIMIT": "many", "API_MAX_STREAMS_PER_CALLER": "0", "API_MAX_STREAMS": "-1", "API_STREAM_TOKEN_TTL": "0s", "API_LIST_PAGE_BYTES": "0", "API_MAX_QUEUES": "0", "API_MAX_JOB_TIMEOUT": "200h", "API_JOB_QUOTA": "-5", "API_KEYS_FILE": "/nonexistent",
		"REDIS_CLUSTER_ADDRS": "127.0.0.1:7000"} { // beside REDIS_URL
		t.Setenv(k, v)
		if _, err := parseConfig(nil); err == nil {
			t.Fatalf("%s=%s accepted", k, v)
		}
		os.Unsetenv(k)
	}
}

// On a real Redis the server refuses to start without keys unless the
// operator says explicitly that the API is to be open; dev mode (no
// Redis configured) needs no keys.
func TestNoKeysNeedsConsent(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
	if _, err := parseConfig(nil); err == nil || !strings.Contains(err.Error(), "API_ALLOW_NO_KEYS") ||
		!strings.Contains(err.Error(), "jobctl keygen") {
		t.Fatalf("no keys on a real Redis: %v", err)
	}
	for _, ok := range [][]string{{"-allow-no-keys"}, {"-api-keys", "ops:admin:0123456789abcdef0123"}} {
		if _, err := parseConfig(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	t.Setenv("API_ALLOW_NO_KEYS", "1")
	if _, err := parseConfig(nil); err != nil {
		t.Errorf("API_ALLOW_NO_KEYS=1: %v", err)
	}
	t.Setenv("API_ALLOW_NO_KEYS", "0")
	t.Setenv("REDIS_URL", "")
	if _, err := parseConfig(nil); err != nil {
		t.Errorf("dev mode without keys: %v", err)
	}
	t.Setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
	if _, err := parseConfig(nil); err == nil {
		t.Error("API_ALLOW_NO_KEYS=0 taken for consent")
	}
}

// With REDIS_URL the server is a pure API process: it serves, and a
// shutdown ends an open stream cleanly and returns.
func TestRunOnRedis(t *testing.T) {
	srv := redistest.Shared(t)
	s := start(t, map[string]string{"REDIS_URL": srv.URL(), "QUEUE_PREFIX": redistest.Prefix(t), "LOG_LEVEL": "info",
		"API_ALLOW_NO_KEYS": "1"})
	if !strings.Contains(s.logs.String(), "apiserver listening") || strings.Contains(s.logs.String(), "DEV MODE") {
		t.Fatalf("log:\n%s", s.logs)
	}
	request(t, "GET", s.base+"/readyz", "", 200)
	job := request(t, "POST", s.base+"/api/v1/jobs", `{"type": "demo"}`, 201)
	id := job["job_id"].(string)
	st := request(t, "GET", s.base+"/api/v1/jobs/queue/stats", "", 200)
	if st["pending_jobs"] != 1.0 || st["active_workers"] != 0.0 {
		t.Fatalf("stats %v", st)
	}

	lines := streamLines(t, s.base+"/api/v1/jobs/status/"+id+"/stream")
	if l := <-lines; !strings.HasPrefix(l, "id: ") {
		t.Fatalf("first line %q", l)
	}
	if err := s.shutdown(t); err != nil {
		t.Fatalf("run: %v", err)
	}
	var rest []string
	for l := range lines { // the stream ends: the channel closes
		rest = append(rest, l)
	}
	if !strings.Contains(strings.Join(rest, "\n"), "retry: 1000") {
		t.Fatalf("stream at shutdown: %q", rest)
	}
	if _, err := client.Get(s.base + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

// Without REDIS_URL: embedded Redis, in-process worker, loud warnings;
// the built-in demo job runs to completion.
func TestDevMode(t *testing.T) {
	s := start(t, map[string]string{"REDIS_URL": "", "DEV_WORKERS": "2"})
	logs := s.logs.String()
	if strings.Count(logs, "level=WARN msg=\"DEV MODE") < 4 || !strings.Contains(logs, "NOT FOR PRODUCTION") {
		t.Fatalf("dev mode must warn loudly; log:\n%s", logs)
	}
	id := request(t, "POST", s.base+"/api/v1/jobs", `{"type": "demo", "payload": {"steps": 3, "step_ms": 10}}`, 201)["job_id"].(string)
	var last string
	for l := range streamLines(t, s.base+"/api/v1/jobs/status/"+id+"/stream") {
		if strings.HasPrefix(l, "data: ") {
			last = l
		}
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(last, "data: ")), &ev); err != nil || ev["status"] != "completed" {
		t.Fatalf("last event %q", last)
	}
	st := request(t, "GET", s.base+"/api/v1/jobs/status/"+id, "", 200)
	if st["result"].(map[string]any)["steps"] != 3.0 {
		t.Fatalf("status %v", st)
	}
	if stats := request(t, "GET", s.base+"/api/v1/jobs/queue/stats", "", 200); stats["active_workers"] != 1.0 || stats["completed_jobs"] != 1.0 {
		t.Fatalf("stats %v", stats)
	}
	if err := s.shutdown(t); err != nil {
		t.Fatal(err)
	}
}

// An apiserver started before its Redis waits for it, and stops waiting
// when told to.
func TestRunWaitsForRedis(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("REDIS_URL", "redis://127.0.0.1:"+strconv.Itoa(port))
	t.Setenv("API_ALLOW_NO_KEYS", "true")
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &proctest.LogBuffer{}
	cfg.logOut = logs
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err = run(ctx, cfg)
	if err == nil || time.Since(t0) > 3*time.Second || !strings.Contains(logs.String(), "waiting for redis") {
		t.Fatalf("run: %v after %s; log:\n%s", err, time.Since(t0), logs)
	}
	cfg.Redis.URL = "http://nope"
	if err := run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("bad url: %v", err)
	}
}
