package main

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/servertest"
	"github.com/compileo/jobqueue/pkg/api"
	"github.com/compileo/jobqueue/pkg/client"
)

func TestSparkline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cols []column
		want string
	}{
		{nil, ""},
		{[]column{{0, false}, {0, true}, {1, true}, {4, true}, {0, false}}, " ▁▄█"},
		{[]column{{0, true}, {0, true}}, "▁▁"},               // all zero: flat
		{[]column{{1, true}, {100, true}}, "▂█"},             // small but not zero
		{[]column{{0, false}, {0, false}, {5, true}}, "  █"}, // blanks before the first sample stay
		{[]column{{2, true}, {4, true}, {6, true}, {8, true}}, "▄▅▇█"},
	} {
		if got := sparkline(tc.cols); got != tc.want {
			t.Errorf("sparkline(%v) = %q, want %q", tc.cols, got, tc.want)
		}
	}
}

// Samples fall into the columns of the last 30 minutes: a gauge shows
// its highest value in each, a counter what finished in each (a fall,
// when the server expires old jobs, counts 0); a rate is per minute over
// the last minute.
func TestColumnsAndRate(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration, running, completed int64) sample {
		return sample{at: now.Add(-ago), st: &client.Stats{RunningJobs: running, CompletedJobs: completed}}
	}
	samples := []sample{
		at(40*time.Minute, 9, 0),                 // before the window: only a base for the next delta
		at(29*time.Minute+30*time.Second, 1, 10), // column 0: +10
		at(29*time.Minute, 3, 12),                // column 0: +2, running 3
		at(2*time.Minute, 2, 12),                 // column 9 of 10: +0
		at(90*time.Second, 5, 20),                // column 9: +8
		at(30*time.Second, 0, 17),                // column 9: expired jobs, +0
		at(0, 1, 23),                             // column 9: +6
	}
	running, completed := watchRows[2], watchRows[4]
	got := columns(samples, running, now, 10)
	want := []column{{3, true}, {}, {}, {}, {}, {}, {}, {}, {}, {5, true}}
	if !equalColumns(got, want) {
		t.Errorf("running columns %v, want %v", got, want)
	}
	got = columns(samples, completed, now, 10)
	want = []column{{12, true}, {}, {}, {}, {}, {}, {}, {}, {}, {14, true}}
	if !equalColumns(got, want) {
		t.Errorf("completed columns %v, want %v", got, want)
	}
	// The oldest sample within the last minute is 30 s old: 6 more jobs
	// since, 12 a minute.
	if r := perMinute(samples, completed.value, now); r != 12 {
		t.Errorf("completed per minute %v, want 12", r)
	}
	if r := perMinute(samples[:1], completed.value, now); r != 0 {
		t.Errorf("one sample: %v per minute, want 0", r)
	}
}

func equalColumns(a, b []column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Not on a terminal, --watch prints one line per read, and --json one
// object per read; Ctrl-C ends it with exit 0.
func TestStatsWatchLines(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	for _, asJSON := range []bool{false, true} {
		args := []string{"stats", "--watch", "--interval", "100ms"}
		if asJSON {
			args = append(args, "--json")
		}
		cmd := jobctlCmd(t, env, args...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var lines []string
		for len(lines) < 3 && sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		for sc.Scan() { // the rest, until it exits
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("--watch ended with %v after %q", err, lines)
		}
		if len(lines) < 3 {
			t.Fatalf("%d lines before Ctrl-C: %q", len(lines), lines)
		}
		line := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S* pending=0 scheduled=0 running=0 retrying=0 completed=0 failed=0 cancelled=0 workers=1 health=healthy$`)
		for _, l := range lines {
			if asJSON {
				var st client.Stats
				if err := json.Unmarshal([]byte(l), &st); err != nil || st.QueueType != "redis" || st.ActiveWorkers != 1 {
					t.Errorf("--json line %q: %v", l, err)
				}
			} else if !line.MatchString(l) {
				t.Errorf("line %q", l)
			}
		}
	}
}

// On a terminal, --watch redraws one block in place, with a sparkline
// per count, each line within the terminal's width.
func TestStatsWatchRedraws(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	submitted(t, env, "demo", "--payload", `{"steps": 1, "step_ms": 0}`)
	const cols = 70
	r := startUnderTerminal(t, cols, jobctlCmd(t, env, "stats", "--watch", "--interval", "100ms"))
	redraw := "\x1b[10F\x1b[J" // back up over the 10 lines of the block, then clear
	proctest.WaitFor(t, 30*time.Second, "two redraws", func() bool { return strings.Count(r.output(), redraw) >= 2 })
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	out, code := r.wait(t)
	if code != exitOK {
		t.Fatalf("exit %d after Ctrl-C", code)
	}
	draws := strings.Split(out, redraw)
	last := strings.Split(strings.TrimRight(draws[len(draws)-1], "\r\n"), "\r\n")
	if len(last) != 10 {
		t.Fatalf("a block of %d lines: %q", len(last), last)
	}
	for _, l := range last {
		if n := len([]rune(l)); n >= cols {
			t.Errorf("line of %d runes on %d columns: %q", n, cols, l)
		}
	}
	if !regexp.MustCompile(`^health healthy   workers 1 \(concurrency 4\)   \d\d:\d\d:\d\d$`).MatchString(last[0]) {
		t.Errorf("header %q", last[0])
	}
	if !regexp.MustCompile(`^completed +1 +[0-9.]+  +[▁▂▃▄▅▆▇█]+$`).MatchString(last[6]) {
		t.Errorf("completed row %q: want the count, its rate and a sparkline", last[6])
	}
	if !regexp.MustCompile(`^pending +0 +▁+$`).MatchString(last[2]) {
		t.Errorf("pending row %q: want 0 and a flat sparkline", last[2])
	}
}

// A watch the server refuses ends at once (exit 4); one that cannot
// reach the server says so once and keeps trying until Ctrl-C.
func TestStatsWatchRefusedOrUnreachable(t *testing.T) {
	t.Parallel()
	keys, err := api.ParseKeys("ops:admin:watch-secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.New(t, &servertest.Options{Keys: keys})
	r := jobctl(t, []string{"JOBS_SERVER=" + srv.URL, "JOBS_API_KEY="}, "stats", "--watch")
	if r.code != exitRefused || !strings.Contains(r.stderr, "401") {
		t.Fatalf("a refused watch: %+v", r)
	}

	cmd := jobctlCmd(t, nil, "stats", "--watch", "--interval", "100ms", "--server", "http://127.0.0.1:1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.Contains(sc.Text(), "connection refused; retrying every 100ms") {
		t.Fatalf("first line on stderr: %q", sc.Text())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for sc.Scan() {
		rest = append(rest, sc.Text())
	}
	if err := cmd.Wait(); err != nil || len(rest) != 0 {
		t.Fatalf("after Ctrl-C: %v, and more on stderr: %q (the failure is said once)", err, rest)
	}
}

func TestHistoryColumns(t *testing.T) {
	t.Parallel()
	h := &client.History{StepSeconds: 60}
	for i := range 30 {
		h.Points = append(h.Points, client.HistoryPoint{Completed: int64(i % 3)})
	}
	completed := func(p *client.HistoryPoint) int64 { return p.Completed }
	got := historyColumns(h, completed, 10) // three minutes a column: 0+1+2
	for i, c := range got {
		if !c.ok || c.v != 3 {
			t.Fatalf("column %d = %+v, want 3 (in %v)", i, c, got)
		}
	}
	if got := historyColumns(h, completed, 30); got[2].v != 2 || got[3].v != 0 || !got[3].ok {
		t.Fatalf("a column a minute: %v", got)
	}
}
