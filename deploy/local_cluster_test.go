package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/client"
)

// TestLocalClusterScript runs scripts/local-cluster.sh as a person would:
// it comes up, a job submitted through its nginx port runs to the end
// (its stream through nginx too), and Ctrl-C — SIGINT to its process
// group, as a terminal sends it — stops every process it started and
// removes its directory.
func TestLocalClusterScript(t *testing.T) {
	for _, tool := range []string{"redis-server", "redis-cli", "nginx"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err == nil {
				continue
			}
			if os.Getenv("CI") != "" {
				t.Fatalf("CI: %s is needed (scripts/test.sh installs it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	ports := make([]int, 4)
	for i := range ports {
		p, err := redistest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	tmp := t.TempDir()
	cmd := exec.Command("bash", "../scripts/local-cluster.sh")
	cmd.Env = append(os.Environ(), fmt.Sprintf("LB_PORT=%d", ports[0]),
		fmt.Sprintf("API_PORTS=%d %d", ports[1], ports[2]), fmt.Sprintf("REDIS_PORT=%d", ports[3]),
		"TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever is left, should the test fail
		<-exited
	})

	// It says it is up once every process answers.
	up := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if sc.Text() == "local-cluster: up" {
				up <- lines
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case <-up:
	case err := <-exited:
		exited <- err
		t.Fatalf("the script exited before it was up: %v\n%s", err, stderr.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("the script was not up in 3 min\n%s", stderr.String())
	}

	// A job through the load balancer: submitted, streamed to the end.
	lb := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	c, err := client.New(client.Config{BaseURL: lb, HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	job, err := c.Submit(ctx, client.Submission{Type: "demo", Payload: map[string]int{"steps": 3, "step_ms": 50}})
	if err != nil {
		t.Fatalf("submit through nginx: %v", err)
	}
	var last client.Event
	for ev, err := range c.Stream(ctx, job.JobID, nil) {
		if err != nil {
			t.Fatalf("stream through nginx: %v", err)
		}
		last = ev
	}
	if last.Status != client.StateCompleted {
		t.Fatalf("the job's last event: %+v", last)
	}

	// Ctrl-C: everything stops, nothing is left behind.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 130 {
			t.Errorf("after Ctrl-C the script exited with %v, want 130", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the script did not stop within 40 s of Ctrl-C")
	}
	for _, p := range ports {
		if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second); err == nil {
			conn.Close()
			t.Errorf("port %d still answers after the script stopped", p)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the script left %v in its temporary directory", left)
	}
}

// TestReadmeFirstRun: the README's multi-process recipe runs the built
// binaries (a `go run ... &` cannot be stopped with `kill $!`), its
// redis-server writes into a --dir of its own, and git ignores what a
// first run may leave in the checkout.
func TestReadmeFirstRun(t *testing.T) {
	readme := readFile(t, "../README.md")
	for _, line := range strings.Split(readme, "\n") {
		switch {
		case strings.HasPrefix(line, "redis-server ") && !strings.Contains(line, "--dir "):
			t.Errorf("README: %q writes its data into the directory it runs in (give --dir)", line)
		case strings.Contains(line, "go run ./cmd/") && strings.HasSuffix(strings.TrimSpace(line), "&"):
			t.Errorf("README: %q starts go run in the background; kill $! would leave the program running", line)
		}
	}
	if !strings.Contains(readme, "go build -o bin/ ./cmd/...") || !strings.Contains(readme, "bash scripts/local-cluster.sh") {
		t.Error("README: the build step or the one-command topology is missing")
	}
	ignore := strings.Fields(readFile(t, "../.gitignore"))
	for _, want := range []string{"/bin/", "appendonlydir/", "dump.rdb"} {
		if !slices.Contains(ignore, want) {
			t.Errorf(".gitignore does not ignore %s", want)
		}
	}
}
