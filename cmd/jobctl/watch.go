package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/compileo/jobqueue/pkg/client"
	"golang.org/x/term"
)

// watch follows the job's stream until it finishes, drawing its progress,
// then prints the result or the error. The exit code tells the outcome:
// 0 completed, 1 failed, 3 cancelled.
func (a *app) watch(ctx context.Context, id string) error {
	p := &progress{w: a.out, tty: a.tty, width: a.width}
	var last client.Event
	for ev, err := range a.c.Stream(ctx, id, nil) {
		if err != nil {
			p.end()
			if ctx.Err() != nil {
				fmt.Fprintf(a.errOut, "jobctl: interrupted; job %s goes on ('jobctl cancel %s' stops it)\n", id, id)
				return outcome(exitInterrupted)
			}
			return err
		}
		last = ev
		if a.json {
			if err := a.printJSON(ev); err != nil {
				return err
			}
			continue
		}
		p.draw(ev)
	}
	p.end()

	// The stream's events carry no result or error: the status has them.
	st, err := a.c.Status(ctx, id)
	if err != nil {
		return err
	}
	if !st.Status.Terminal() { // restarted meanwhile: report what was watched
		st = &client.Status{JobID: id, Status: last.Status, Progress: last.Progress, CurrentStep: last.CurrentStep}
	}
	if a.json {
		if err := a.printJSON(st); err != nil {
			return err
		}
	} else {
		switch st.Status {
		case client.StateCompleted:
			if st.Result != nil {
				fmt.Fprintf(a.out, "completed: %s\n", st.Result)
			} else {
				fmt.Fprintln(a.out, "completed")
			}
		default:
			if st.Error != "" {
				fmt.Fprintf(a.out, "%s: %s\n", st.Status, st.Error)
			} else {
				fmt.Fprintln(a.out, st.Status)
			}
		}
	}
	switch st.Status {
	case client.StateFailed:
		return outcome(exitJobFailed)
	case client.StateCancelled:
		return outcome(exitCancelled)
	}
	return nil
}

// The progress bar has maxBar cells, fewer on a narrow terminal so that
// the status and step stay in view, but never fewer than minBar.
const (
	maxBar = 30
	minBar = 10
)

// progress shows a job's events: on a terminal one bar redrawn in place
// (carriage return, then clear to the end of the line); elsewhere (a
// pipe, a file, a CI log) one line per change, which stays readable.
type progress struct {
	w     io.Writer
	tty   bool
	width int
	drawn bool   // a bar is on the terminal's current line
	last  string // the last line printed (not a terminal)
}

func (p *progress) draw(ev client.Event) {
	pct := min(max(ev.Progress, 0), 100)
	if !p.tty {
		line := strings.TrimSpace(fmt.Sprintf("%-9s %3.0f%%  %s", ev.Status, pct, ev.CurrentStep))
		if line != p.last {
			fmt.Fprintln(p.w, line)
			p.last = line
		}
		return
	}
	cells := min(max(p.width-50, minBar), maxBar)
	filled := int(pct / 100 * float64(cells))
	line := fmt.Sprintf("[%s%s] %3.0f%%  %-9s %s", strings.Repeat("#", filled),
		strings.Repeat("-", cells-filled), pct, ev.Status, ev.CurrentStep)
	// A line longer than the terminal would wrap, and the carriage return
	// would then redraw only its last part.
	line = truncate(strings.TrimRight(line, " "), p.width-1)
	fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	p.drawn = true
}

// end moves past the bar, if one is drawn.
func (p *progress) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// terminal reports whether w is a terminal, and its width in columns.
func terminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("TERM") == "dumb" {
		return false, 0
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		cols = 80
	}
	return true, cols
}
