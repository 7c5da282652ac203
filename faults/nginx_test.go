package faults

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
)

// deployNginxConf is the load balancer configuration production uses.
const deployNginxConf = "../deploy/nginx.conf"

// nginxBinary is nginx from PATH or /usr/sbin (where Debian puts it, often
// off a non-root PATH). A missing nginx fails the test: CI installs it.
func nginxBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Fatal("nginx not found on PATH or in /usr/sbin (install it: apt-get install -y nginx-light)")
	return ""
}

var (
	upstreamServer = regexp.MustCompile(`(?m)^(\s*server\s+)\S+:\d+`)
	listenLine     = regexp.MustCompile(`(?m)^(\s*listen\s+)[^;]+;`)
	pidLine        = regexp.MustCompile(`(?m)^\s*pid\s+[^;]+;\s*$`)
	locationOpen   = regexp.MustCompile(`(?m)^(\s*location\s+/\s*\{)`)
	httpOpen       = regexp.MustCompile(`(?m)^(\s*http\s*\{)`)
)

// rewriteNginxConf derives a loopback test configuration from the deploy
// one: its upstream servers become the given addresses, it listens on
// port, its pid, error log and temp files live in dir, and each response
// names the upstream that served it (X-Upstream). Everything else — the
// timeouts, buffering and retry policy under test — is the deploy file's.
// It fails the test if the deploy file no longer has the shape it rewrites.
func rewriteNginxConf(t testing.TB, dir string, port int, upstreams []string) string {
	t.Helper()
	b, err := os.ReadFile(deployNginxConf)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	if n := len(upstreamServer.FindAllString(conf, -1)); n != len(upstreams) {
		t.Fatalf("%s has %d upstream servers; the test runs %d apiservers behind it", deployNginxConf, n, len(upstreams))
	}
	i := 0
	conf = upstreamServer.ReplaceAllStringFunc(conf, func(m string) string {
		sub := upstreamServer.FindStringSubmatch(m)
		i++
		return sub[1] + upstreams[i-1]
	})
	for _, re := range []*regexp.Regexp{listenLine, locationOpen, httpOpen} {
		if !re.MatchString(conf) {
			t.Fatalf("%s: no line matching %s to rewrite", deployNginxConf, re)
		}
	}
	conf = listenLine.ReplaceAllString(conf, fmt.Sprintf("${1}127.0.0.1:%d;", port))
	conf = locationOpen.ReplaceAllString(conf, "${1}\n        add_header X-Upstream $$upstream_addr always;")
	temp := ""
	for _, kind := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		temp += fmt.Sprintf("\n    %s_temp_path %s;", kind, filepath.Join(dir, kind))
	}
	conf = httpOpen.ReplaceAllString(conf, "${1}"+temp)
	conf = pidLine.ReplaceAllString(conf, "")
	conf = fmt.Sprintf("pid %s;\nerror_log %s warn;\n", filepath.Join(dir, "nginx.pid"),
		filepath.Join(dir, "error.log")) + conf
	return conf
}

// nginxDir is a directory for one nginx's config, logs and temp files.
// Run as root, nginx runs as nobody (see startNginx), so the directory
// belongs to nobody.
func nginxDir(t testing.TB) (string, *syscall.Credential) {
	t.Helper()
	dir, err := os.MkdirTemp("", "faults-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() != 0 {
		return dir, nil
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("running as root, nginx runs as nobody: %v", err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dir, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// startNginx runs nginx with the derived configuration in front of
// upstreams ("127.0.0.1:port") and returns its base URL. It runs as one
// unprivileged process (no master, no daemon: a SIGKILL at cleanup leaves
// nothing behind), as nobody when the test runs as root.
func startNginx(t testing.TB, upstreams []string) string {
	t.Helper()
	bin := nginxBinary(t)
	dir, cred := nginxDir(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(rewriteNginxConf(t, dir, port, upstreams)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"),
		"-g", "daemon off; master_process off;")
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	p := proctest.StartCmd(t, "nginx", cmd)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("--- nginx error.log ---\n%s", log)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	proctest.WaitFor(t, 10*time.Second, "nginx listening", func() bool {
		if p.Exited() {
			t.Fatalf("nginx exited: %v\n%s", p.Wait(0), p.Output())
		}
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
}

// TestDeployNginxConfValid runs `nginx -t` on the deploy configuration as
// the tests rewrite it, so a broken deploy/nginx.conf fails CI.
func TestDeployNginxConfValid(t *testing.T) {
	bin := nginxBinary(t)
	dir, cred := nginxDir(t)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(rewriteNginxConf(t, dir, 18080, []string{"127.0.0.1:18001", "127.0.0.1:18002"})), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-t", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "test is successful") {
		t.Fatalf("nginx -t on %s: %v\n%s", deployNginxConf, err, out)
	}
}
