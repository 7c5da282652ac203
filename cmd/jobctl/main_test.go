package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/compileo/jobqueue/internal/testmain"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/servertest"
	"github.com/creack/pty"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

// result is what a run of jobctl printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// jobctl runs the built binary, as a person or a script would, with env
// added to the environment; it is killed if it runs past a minute.
func jobctl(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := jobctlCmd(t, env, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("jobctl %q: %v", args, err)
	}
	return result{out.String(), errOut.String(), cmd.ProcessState.ExitCode()}
}

func jobctlCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	bin := proctest.Build(t, "github.com/compileo/jobqueue/cmd/jobctl")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// want fails the test unless r exited with code and its stdout matches
// the regular expression.
func (r result) want(t *testing.T, code int, stdout string) {
	t.Helper()
	if r.code != code || !regexp.MustCompile(stdout).MatchString(r.stdout) {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit %d and stdout matching %q", r.code, r.stdout, r.stderr, code, stdout)
	}
}

// live starts the service for one test and returns the environment that
// points jobctl at it.
func live(t *testing.T) (*servertest.Server, []string) {
	t.Helper()
	srv := servertest.New(t, nil)
	return srv, []string{"JOBS_SERVER=" + srv.URL}
}

// submitted runs `jobctl submit` and returns the job id it printed.
func submitted(t *testing.T, env []string, args ...string) string {
	t.Helper()
	r := jobctl(t, env, append([]string{"submit"}, args...)...)
	r.want(t, exitOK, `^[0-9a-f-]{36}\n$`)
	return strings.TrimSpace(r.stdout)
}

func TestWatchExitCodesTellTheOutcome(t *testing.T) {
	t.Parallel()
	srv := servertest.New(t, &servertest.Options{Concurrency: -1}) // the worker starts later
	env := []string{"JOBS_SERVER=" + srv.URL}

	// Completed: one line per change (stdout is a pipe), then the result.
	// The worker starts once watch has shown the waiting job, so watch
	// sees the job run.
	id := submitted(t, env, "demo", `{"steps": 3, "step_ms": 20}`)
	w := startJobctl(t, env, "watch", id)
	w.waitLine(t, `^pending +0%$`)
	if err := srv.StartWorker(ctxT(t), 4); err != nil {
		t.Fatal(err)
	}
	rest, code := w.finish(t)
	out := strings.Join(rest, "\n")
	if code != exitOK || !regexp.MustCompile(`(?m)^running +\d+%  Processing step \d of 3\n(.*\n)*completed: \{"steps":3,"step_ms":20\}$`).MatchString(out) ||
		strings.Contains(out, "\r") {
		t.Fatalf("watch: exit %d, stdout after the first line:\n%s", code, out)
	}

	// Failed: exit 1 with the error, here from submit --watch.
	r := jobctl(t, env, "submit", "--max-retries", "0", "--watch", "demo", `{"steps": 2, "step_ms": 1, "fail_at": 2}`)
	r.want(t, exitJobFailed, `(?s)^[0-9a-f-]{36}\n.*failed: demo: failure injected at step 2\n$`)

	// Cancelled while watched: exit 3.
	long := submitted(t, env, "demo", `{"steps": 10000, "step_ms": 50}`)
	w = startJobctl(t, env, "watch", long)
	w.waitLine(t, `^running +\d+%  Processing step \d+ of 10000$`)
	jobctl(t, env, "cancel", long).want(t, exitOK, `^Job `+long+` cancelled successfully\n$`)
	if rest, code := w.finish(t); code != exitCancelled || rest[len(rest)-1] != "cancelled" {
		t.Fatalf("watch of a cancelled job: exit %d, stdout:\n%s", code, strings.Join(rest, "\n"))
	}

	// Watching a finished job tells its outcome at once, in JSON too:
	// the events, then the final status.
	r = jobctl(t, env, "watch", long, "--json")
	r.want(t, exitCancelled, `"status":"cancelled"`)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var ev, final map[string]any
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &ev) != nil || json.Unmarshal([]byte(lines[1]), &final) != nil ||
		ev["id"] == nil || ev["status"] != "cancelled" || final["job_id"] != long || final["completed_at"] == nil {
		t.Fatalf("watch --json:\n%s", r.stdout)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// runningJobctl is a jobctl process whose stdout is read line by line.
type runningJobctl struct {
	cmd   *exec.Cmd
	lines chan string
}

func startJobctl(t *testing.T, env []string, args ...string) *runningJobctl {
	t.Helper()
	cmd := jobctlCmd(t, env, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &runningJobctl{cmd: cmd, lines: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	return r
}

// waitLine reads lines until one matches re.
func (r *runningJobctl) waitLine(t *testing.T, re string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("jobctl ended before a line matching %q", re)
			}
			if regexp.MustCompile(re).MatchString(line) {
				return
			}
		case <-timeout:
			t.Fatalf("no line matching %q in 30 s", re)
		}
	}
}

// finish reads the remaining lines and waits for the exit code.
func (r *runningJobctl) finish(t *testing.T) ([]string, int) {
	t.Helper()
	var rest []string
	for line := range r.lines { // the process is killed after a minute
		rest = append(rest, line)
	}
	err := r.cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return rest, r.cmd.ProcessState.ExitCode()
}

// TestWatchDrawsABarOnATerminal runs watch under a pseudo-terminal, as in
// a person's shell: one bar redrawn in place, then the result.
func TestWatchDrawsABarOnATerminal(t *testing.T) {
	t.Parallel()
	for _, cols := range []uint16{100, 40} {
		srv := servertest.New(t, &servertest.Options{Concurrency: -1})
		env := []string{"JOBS_SERVER=" + srv.URL, "TERM=xterm"}
		id := submitted(t, env, "demo", `{"steps": 5, "step_ms": 30}`)
		term := startUnderTerminal(t, cols, jobctlCmd(t, env, "watch", id))
		term.waitFor(t, "pending") // the first draw: the worker starts only now
		if err := srv.StartWorker(ctxT(t), 4); err != nil {
			t.Fatal(err)
		}
		out, code := term.wait(t)
		if code != exitOK {
			t.Fatalf("exit %d; output %q", code, out)
		}
		// The terminal turns "\n" into "\r\n". The bar is redrawn on one
		// line, each time after a carriage return.
		lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
		if len(lines) != 3 || lines[2] != "" || lines[1] != `completed: {"steps":5,"step_ms":30}` {
			t.Fatalf("want the bar's line, the result and nothing else; got %q", lines)
		}
		draws := strings.Split(lines[0], "\r")[1:]
		if len(draws) < 3 { // pending, running..., completed
			t.Fatalf("the bar was drawn %d times: %q", len(draws), lines[0])
		}
		for _, d := range draws {
			if !strings.HasPrefix(d, "[") || !strings.HasSuffix(d, "\x1b[K") || len([]rune(d))-3 >= int(cols) {
				t.Fatalf("a draw of the bar %q on %d columns", d, cols)
			}
		}
		if first := draws[0]; !regexp.MustCompile(`^\[-{10,30}\]   0%  pending`).MatchString(first) {
			t.Fatalf("first draw %q", first)
		}
		last := strings.TrimSuffix(draws[len(draws)-1], "\x1b[K")
		if !regexp.MustCompile(`^\[#{10,30}\] 100%  completed`).MatchString(last) {
			t.Fatalf("last draw %q", last)
		}
	}
}

// terminalRun is a process whose standard streams are a pseudo-terminal.
type terminalRun struct {
	cmd    *exec.Cmd
	tty    *os.File
	mu     sync.Mutex
	out    bytes.Buffer
	copied chan struct{}
}

// startUnderTerminal starts cmd on a pseudo-terminal of cols columns.
func startUnderTerminal(t *testing.T, cols uint16, cmd *exec.Cmd) *terminalRun {
	t.Helper()
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	r := &terminalRun{cmd: cmd, tty: tty, copied: make(chan struct{})}
	t.Cleanup(func() { _ = tty.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf) // EIO once the process is gone
			r.mu.Lock()
			r.out.Write(buf[:n])
			r.mu.Unlock()
			if err != nil {
				close(r.copied)
				return
			}
		}
	}()
	return r
}

func (r *terminalRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// waitFor waits until the output contains s.
func (r *terminalRun) waitFor(t *testing.T, s string) {
	t.Helper()
	proctest.WaitFor(t, 30*time.Second, "terminal output "+s, func() bool {
		return strings.Contains(r.output(), s)
	})
}

// wait waits for the process to end and returns all it wrote and its
// exit code.
func (r *terminalRun) wait(t *testing.T) (string, int) {
	t.Helper()
	err := r.cmd.Wait()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	select {
	case <-r.copied:
	case <-time.After(30 * time.Second):
		t.Fatal("the terminal's output did not end")
	}
	return r.output(), r.cmd.ProcessState.ExitCode()
}

func TestCommands(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	id := submitted(t, env, "demo", "--payload", `{"steps": 2, "step_ms": 1}`, "--queue", "default",
		"--priority", "5", "--unique-key", "once")
	jobctl(t, env, "watch", id).want(t, exitOK, `completed`)

	jobctl(t, env, "status", id).want(t, exitOK,
		`(?m)^job +`+id+`\nstatus +completed\nprogress +100%  Job completed successfully\n(.*\n)*result +\{"steps":2,"step_ms":1\}\n$`)
	var st map[string]any
	r := jobctl(t, env, "--json", "status", id)
	if json.Unmarshal([]byte(r.stdout), &st) != nil || st["status"] != "completed" || st["job_id"] != id {
		t.Fatalf("status --json: %+v", r)
	}

	// The unique key is still held: refused, exit 4.
	r = jobctl(t, env, "submit", "demo", "--unique-key", "once")
	if r.code != exitRefused || !strings.Contains(r.stderr, "409 duplicate, job "+id) {
		t.Fatalf("duplicate submit: %+v", r)
	}

	// A callback URL reaches the server: this one has no webhook secret.
	r = jobctl(t, env, "submit", "demo", "--callback-url", "https://93.184.216.34/hook")
	if r.code != exitRefused || !strings.Contains(r.stderr, "callbacks are off") {
		t.Fatalf("submit with a callback: %+v", r)
	}

	// Cancel and restart, and their refusals.
	waiting := submitted(t, env, "demo", "--queue", "nobody") // no worker takes it
	jobctl(t, env, "cancel", waiting).want(t, exitOK, `^Job `+waiting+` cancelled successfully\n$`)
	r = jobctl(t, env, "cancel", waiting)
	if r.code != exitRefused || !strings.Contains(r.stderr, "409 invalid_transition") {
		t.Fatalf("cancel twice: %+v", r)
	}
	jobctl(t, env, "restart", waiting, "--json").want(t, exitOK,
		`^\{"job_id":"`+waiting+`","message":"Job `+waiting+` restarted successfully"\}\n$`)
	r = jobctl(t, env, "restart", waiting, id)
	if r.code != exitRefused || strings.Count(r.stderr, "409 invalid_transition") != 2 {
		t.Fatalf("restart of a pending and a completed job: %+v", r)
	}

	// Listing: a table, or JSON; filters.
	jobctl(t, env, "list").want(t, exitOK, `(?s)^ID +STATUS +TYPE +QUEUE +PROGRESS +CREATED +STEP\n.*`+id+` +completed +demo +default +100%`)
	var page struct {
		Jobs []struct {
			JobID string `json:"job_id"`
		} `json:"jobs"`
		NextCursor string `json:"next_cursor"`
	}
	r = jobctl(t, env, "list", "--status", "pending", "--json")
	if json.Unmarshal([]byte(r.stdout), &page) != nil || len(page.Jobs) != 1 || page.Jobs[0].JobID != waiting {
		t.Fatalf("list --status pending: %+v", r)
	}
	r = jobctl(t, env, "list", "--limit", "1")
	if r.code != exitOK || !strings.Contains(r.stderr, "more: jobctl list --limit 1 --cursor ") {
		t.Fatalf("list --limit 1: %+v", r)
	}
	// The hint repeats the filters, so running it pages the same list.
	r = jobctl(t, env, "list", "--status", "completed", "--type", "demo", "--limit", "1")
	if r.code != exitOK || !strings.Contains(r.stderr, "more: jobctl list --status completed --type demo --limit 1 --cursor ") {
		t.Fatalf("list --status completed --type demo --limit 1: %+v", r)
	}

	// The queue and its workers.
	jobctl(t, env, "stats").want(t, exitOK, `(?m)^health +healthy.*\n(.*\n)*completed +1 +failed +0 +cancelled +0 +total +2\nworkers +1 +concurrency +4`)
	// Each health value says why, and the CPU says whose it is.
	jobctl(t, env, "stats").want(t, exitOK, `(?m)^health +healthy: 1 worker alive, none throttled; 1 job waits to run; 0 of 1 finished jobs failed\n`+
		`resources +(optimal|high|critical): host CPU at [0-9.]+% \(the mean over the workers' hosts, every process counted\).*\n`+
		`limits +inactive: no worker has a CPU or memory limit.*\n`+
		`cpu +[0-9.]+% on the workers' hosts \(mean, every process\); [0-9.]+% by the workers themselves \(100% = one core\)\n`)
	var stats map[string]any
	r = jobctl(t, env, "stats", "--json")
	if json.Unmarshal([]byte(r.stdout), &stats) != nil || stats["pending_jobs"] != 1.0 || stats["queue_type"] != "redis" {
		t.Fatalf("stats --json: %+v", r)
	}
	jobctl(t, env, "workers").want(t, exitOK, `(?m)^ID +HOST +PID +QUEUES +RUNNING +HOST CPU +OWN CPU +RSS +STARTED +THROTTLED\n\S+ +\S+ +\d+ +default +\d/4 `)
	var ws struct {
		Workers []map[string]any `json:"workers"`
	}
	r = jobctl(t, env, "workers", "--json")
	if json.Unmarshal([]byte(r.stdout), &ws) != nil || len(ws.Workers) != 1 || ws.Workers[0]["concurrency"] != 4.0 {
		t.Fatalf("workers --json: %+v", r)
	}

	// A payload from a file or stdin.
	file := t.TempDir() + "/payload.json"
	if err := os.WriteFile(file, []byte(`{"steps": 1, "step_ms": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	jobctl(t, env, "submit", "demo", "@"+file, "--watch").want(t, exitOK, `completed: \{"steps":1,"step_ms":1\}`)
	cmd := jobctlCmd(t, env, "submit", "demo", "-", "--watch", "--json")
	cmd.Stdin = strings.NewReader(`{"steps": 1, "step_ms": 2}`)
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), `"result":{"steps":1,"step_ms":2}`) {
		t.Fatalf("payload from stdin: %v %s", err, out)
	}
}

func TestErrorsAndExitCodes(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{nil, exitUsage, "Usage: jobctl"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"status"}, exitUsage, "want one job id"},
		{[]string{"status", "a", "b"}, exitUsage, "want one job id"},
		{[]string{"submit"}, exitUsage, "want TYPE"},
		{[]string{"submit", "demo", "{not json"}, exitUsage, "payload is not valid JSON"},
		{[]string{"submit", "demo", "--run-at", "tomorrow"}, exitUsage, "--run-at"},
		{[]string{"list", "--limit", "many"}, exitUsage, "invalid value"},
		{[]string{"stats", "--server", "localhost:8000"}, exitUsage, "base URL"},
		{[]string{"stats", "--watch", "--interval", "10ms"}, exitUsage, "--interval 10ms: want 100ms or more"},
		{[]string{"status", "123e4567-e89b-12d3-a456-426614174000"}, exitRefused, "404 not_found"},
		{[]string{"watch", "123e4567-e89b-12d3-a456-426614174000"}, exitRefused, "404 not_found"},
		{[]string{"status", "nope"}, exitRefused, "400 invalid_argument"},
		{[]string{"submit", "thumbnail"}, exitRefused, "400 unknown_job_type"},
		{[]string{"list", "--status", "nope"}, exitRefused, "400 invalid_argument"},
		{[]string{"--server", "http://127.0.0.1:1", "stats"}, exitUnreachable, "connection refused"},
	} {
		r := jobctl(t, env, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || r.stdout != "" {
			t.Errorf("jobctl %q: exit %d, stderr %q, stdout %q; want exit %d and %q", tc.args, r.code, r.stderr,
				r.stdout, tc.code, tc.stderr)
		}
	}
	for _, args := range [][]string{{"-h"}, {"help"}, {"watch", "-h"}} {
		if r := jobctl(t, env, args...); r.code != exitOK || !strings.Contains(r.stdout, "Usage: jobctl") {
			t.Errorf("jobctl %q: %+v", args, r)
		}
	}
}

// TestUsageErrorsAreShort: a bad command line gets the error, named as
// the user typed it, and a one-line hint; never the whole flag list.
func TestUsageErrorsAreShort(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	missing := filepath.Join(t.TempDir(), "missing.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"submit", "demo", "@" + missing}, "jobctl: payload file " + missing + ": no such file or directory\nRun 'jobctl submit -h' for its flags.\n"},
		{[]string{"submit", "demo", "--delay", "-5s"}, "jobctl: --delay -5s: want a duration of 0 or more, e.g. 30s\nRun 'jobctl submit -h' for its flags.\n"},
		{[]string{"submit", "demo", "--timeout", "-1m"}, "jobctl: --timeout -1m0s: want a duration of 0 or more, e.g. 10m\nRun 'jobctl submit -h' for its flags.\n"},
		{[]string{"submit", "demo", "--max-retries", "-2"}, "jobctl: invalid value \"-2\" for flag -max-retries: want 0 or more\nRun 'jobctl submit -h' for its flags.\n"},
		{[]string{"submit", "demo", "--bogus"}, "jobctl: flag provided but not defined: -bogus\nRun 'jobctl submit -h' for its flags.\n"},
		{[]string{"frobnicate"}, "jobctl: unknown command \"frobnicate\"\nRun 'jobctl help' for the commands.\n"},
	} {
		if r := jobctl(t, env, tc.args...); r.code != exitUsage || r.stderr != tc.want || r.stdout != "" {
			t.Errorf("jobctl %q: exit %d, stderr %q; want exit %d, stderr %q", tc.args, r.code, r.stderr, exitUsage, tc.want)
		}
	}
	// Each flag's help states its default once.
	r := jobctl(t, env, "submit", "-h")
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Count(line, "(default") > 1 {
			t.Errorf("submit -h: %q states two defaults", line)
		}
	}
	if !strings.Contains(r.stdout, "-max-retries") {
		t.Fatalf("submit -h: %q", r.stdout)
	}
}

// TestTypes: jobctl describes the built-in types without a server: a
// line each, or one type's payload, result and example, or JSON.
func TestTypes(t *testing.T) {
	t.Parallel()
	env := []string{"JOBS_SERVER=http://127.0.0.1:1"} // never asked
	r := jobctl(t, env, "types")
	r.want(t, exitOK, `(?m)^TYPE +DOES\ndemo +sleeps through .*\ndocument_parsing +.*\nchunking +.*\ntaxonomy_generation +.*\ndataset_generation +.*\n$`)
	if !strings.Contains(r.stderr, "jobctl types TYPE") {
		t.Errorf("types: stderr %q gives no hint", r.stderr)
	}
	jobctl(t, env, "types", "chunking").want(t, exitOK,
		`(?s)^chunking: splits documents .*\nPayload:\n  documents +list .*\n  chunk_size +integer +1-100000, default 200.*\nResult:\n.*  per_document +map .*\nExample payload:\n\{\n.*\nIts result:\n\{\n.*"per_document": \{"intro": 3\}\n\}\n$`)
	var v struct {
		Type           string          `json:"type"`
		ExamplePayload json.RawMessage `json:"example_payload"`
	}
	r = jobctl(t, env, "types", "demo", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Type != "demo" || string(v.ExamplePayload) != `{"steps":3,"step_ms":10}` {
		t.Fatalf("types demo --json: %+v (%v)", r, err)
	}
	if r := jobctl(t, env, "types", "thumbnail"); r.code != exitUsage || !strings.Contains(r.stderr, `no built-in type is called "thumbnail"`) {
		t.Fatalf("types thumbnail: %+v", r)
	}
}

// TestServerAndKeyFromFlagsOrEnvironment: the flag wins over the variable,
// and the key goes out as a bearer token.
func TestServerAndKeyFromFlagsOrEnvironment(t *testing.T) {
	t.Parallel()
	srv, _ := live(t)
	target, _ := url.Parse(srv.URL)
	var mu sync.Mutex
	var auth []string
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		(&httputil.ReverseProxy{Rewrite: func(p *httputil.ProxyRequest) { p.SetURL(target) }}).ServeHTTP(w, r)
	}))
	defer front.Close()

	jobctl(t, []string{"JOBS_SERVER=" + front.URL, "JOBS_API_KEY=from-env"}, "stats").want(t, exitOK, "health")
	jobctl(t, []string{"JOBS_SERVER=http://127.0.0.1:1", "JOBS_API_KEY=from-env"},
		"stats", "--server", front.URL, "--api-key", "from-flag").want(t, exitOK, "health")
	jobctl(t, []string{"JOBS_SERVER=" + front.URL, "JOBS_API_KEY="}, "stats").want(t, exitOK, "health")
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 3 || auth[0] != "Bearer from-env" || auth[1] != "Bearer from-flag" || auth[2] != "" {
		t.Fatalf("Authorization headers %q", auth)
	}
}

// TestRun calls run in the test process, as main does.
func TestRun(t *testing.T) {
	t.Parallel()
	srv, _ := live(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--server", srv.URL, "submit", "demo", `{"steps": 1, "step_ms": 1}`, "--watch"}, &out, &errOut)
	if code != exitOK || !strings.HasSuffix(out.String(), "completed: {\"steps\":1,\"step_ms\":1}\n") || errOut.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	// An interrupted watch says the job goes on, and exits 130.
	out.Reset()
	code = run(context.Background(), []string{"--server", srv.URL, "submit", "demo", `{"steps": 10000, "step_ms": 50}`}, &out, &errOut)
	id := strings.TrimSpace(out.String())
	if code != exitOK {
		t.Fatalf("submit: exit %d %s", code, errOut.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &notifyWriter{wrote: make(chan struct{}, 1)}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--server", srv.URL, "watch", id}, w, &errOut) }()
	<-w.wrote // the first event is out: the watch is under way
	cancel()
	if code := <-done; code != exitInterrupted || !strings.Contains(errOut.String(), "interrupted; job "+id+" goes on") {
		t.Fatalf("interrupted watch: exit %d, stderr %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"--server", srv.URL, "cancel", id}, io.Discard, io.Discard); code != exitOK {
		t.Fatalf("cancel: exit %d", code)
	}
}

// notifyWriter signals its first write.
type notifyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}
