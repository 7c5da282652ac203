package e2e

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
)

// TestSeedPythonClient runs the seed's own Python client functions
// (testdata/seed_client.py, copied verbatim from the guide) against real
// processes: the clients the API was promised to, as they will run.
func TestSeedPythonClient(t *testing.T) {
	if err := exec.Command("python3", "-c", "import requests").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: python3 with requests is needed (apt-get install -y python3-requests): %v", err)
		}
		t.Skip("python3 with requests not installed")
	}
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 1})
	cmd := exec.Command("python3", "testdata/seed_driver.py")
	cmd.Env = append(os.Environ(), "BASE="+cl.APIs()[0].URL)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("the seed's client did not finish in 2 min:\n%s", out)
	}
	t.Logf("%s", out)
	if err != nil || !strings.Contains(string(out), "ok: monitor_job_with_recovery reports an unknown job") {
		t.Fatalf("seed client: %v\n%s", err, out)
	}
}
