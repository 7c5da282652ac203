package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
)

// The API keys the Python SDK's tests use.
const (
	sdkAdminKey  = "sdk-admin-0123456789abcdef"
	sdkReadKey   = "sdk-read-0123456789abcdef"
	sdkWorkerKey = "sdk-worker-0123456789abcdef"
)

// sdkMinTests is how many test cases sdk/python/tests holds at least: a
// smaller count means a module was not found or not loaded.
const sdkMinTests = 64

// TestPythonSDK runs the Python SDK's unittest suite (sdk/python/tests,
// standard library only): its Client against real processes (two
// apiservers with API keys, a third one rate limited, a Go worker
// running the built-in types), and its Worker against the suite's own
// fake of the lease protocol, signals and subprocesses included, and
// against the real apiservers (test_worker_live.py: results, progress on
// the stream, cancellation, retries, a worker process killed mid-job).
// Every case must run: a skipped one fails this test.
func TestPythonSDK(t *testing.T) {
	python := requirePython3(t)
	root, err := filepath.Abs(filepath.Join("..", "sdk", "python"))
	if err != nil {
		t.Fatal(err)
	}
	cl := clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 1,
		APIEnv: []string{"API_KEYS=sdk:admin:" + sdkAdminKey + ",reader:read:" + sdkReadKey +
			",runner:worker:" + sdkWorkerKey}})
	limited := cl.StartAPI("API_RATE_LIMIT=1/s", "API_RATE_BURST=1")
	clustertest.WaitReady(t, limited.URL, 20*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tests := filepath.Join(root, "tests")
	cmd := exec.CommandContext(ctx, python, "-m", "unittest", "discover", "-v", "-s", tests, "-t", tests)
	cmd.Dir = tests
	cmd.Env = append(os.Environ(),
		"PYTHONPATH="+filepath.Join(root, "src"),
		"PYTHONDONTWRITEBYTECODE=1",
		"JOBQUEUE_TEST_URL="+cl.APIs()[0].URL,
		"JOBQUEUE_TEST_URL2="+cl.APIs()[1].URL,
		"JOBQUEUE_TEST_LIMITED_URL="+limited.URL,
		"JOBQUEUE_TEST_API_KEY="+sdkAdminKey,
		"JOBQUEUE_TEST_READ_KEY="+sdkReadKey,
		"JOBQUEUE_TEST_WORKER_KEY="+sdkWorkerKey,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if ctx.Err() != nil {
		t.Fatal("the Python SDK's tests did not finish in 4 min")
	}
	if err != nil {
		t.Fatalf("the Python SDK's tests failed: %v", err)
	}
	ran := 0
	if m := regexp.MustCompile(`Ran (\d+) tests?`).FindSubmatch(out); m != nil {
		ran, _ = strconv.Atoi(string(m[1]))
	}
	if ran < sdkMinTests {
		t.Fatalf("ran %d tests, want every case of sdk/python/tests (at least %d)", ran, sdkMinTests)
	}
	if m := regexp.MustCompile(`skipped=(\d+)`).FindSubmatch(out); m != nil {
		t.Fatalf("%s Python SDK tests were skipped; each must run here", m[1])
	}
}

// requirePython3 returns the path of python3; without one the test fails
// under CI and is skipped elsewhere.
func requirePython3(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: python3 is needed (apt-get install -y python3): %v", err)
		}
		t.Skip("python3 not installed")
	}
	return path
}
