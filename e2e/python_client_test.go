package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
)

// TestPythonClient runs a Python client of the Jobs API and its unittest
// cases (testdata/jobs_api_client.py, standard library only) against real
// processes: polling with backoff, the long poll, the SSE stream, restart
// of a failed job, queue health and adaptive polling, as a Python user of
// the API would write them.
func TestPythonClient(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: python3 is needed (apt-get install -y python3): %v", err)
		}
		t.Skip("python3 not installed")
	}
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", "-m", "unittest", "-v", "jobs_api_client")
	cmd.Dir = "testdata"
	cmd.Env = append(os.Environ(), "JOBS_API_URL="+cl.APIs()[0].URL, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if ctx.Err() != nil {
		t.Fatal("the Python client's tests did not finish in 2 min")
	}
	if err != nil {
		t.Fatalf("the Python client's tests failed: %v", err)
	}
	// unittest says "Ran N tests"; zero would mean the module was not found.
	ran := 0
	if m := regexp.MustCompile(`Ran (\d+) tests?`).FindSubmatch(out); m != nil {
		ran, _ = strconv.Atoi(string(m[1]))
	}
	if ran < 12 {
		t.Fatalf("ran %d tests, want every case of jobs_api_client.py (12)", ran)
	}
}
