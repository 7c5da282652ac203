package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
)

// Each command registers its flags on fs and returns its body.

func submitCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	payload := fs.String("payload", "", "the job's payload: JSON, @file, or - for stdin (or give it after TYPE)")
	queue := fs.String("queue", "", "queue (default: the server's, \"default\")")
	priority := fs.Int("priority", 0, "0 to 100, higher runs first")
	var maxRetries optionalCount
	fs.Var(&maxRetries, "max-retries", "runs allowed after a failed first run (default: the server's, 3)")
	timeout := fs.Duration("timeout", 0, "bound of each run, e.g. 10m (default: none)")
	delay := fs.Duration("delay", 0, "run this much later, e.g. 30s")
	runAt := fs.String("run-at", "", "run at this RFC 3339 time")
	uniqueKey := fs.String("unique-key", "", "refuse the submission while a job with this key exists")
	deadline := fs.String("deadline", "", "fail the job unless it started by then: a duration from now (10m) or an RFC 3339 time")
	callbackURL := fs.String("callback-url", "", "POST the job's record here, signed, when it ends (the server needs a WEBHOOK_SECRET)")
	watch := fs.Bool("watch", false, "then watch the job until it finishes (exit code as watch)")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) < 1 || len(args) > 2 {
			return usagef("want TYPE and an optional PAYLOAD, got %d arguments", len(args))
		}
		if len(args) == 2 {
			if *payload != "" {
				return usagef("give the payload once: after TYPE or with --payload")
			}
			*payload = args[1]
		}
		// Checked here, so the error names the flag rather than the API's
		// field (delay_seconds, timeout_seconds).
		if *delay < 0 {
			return usagef("--delay %s: want a duration of 0 or more, e.g. 30s", *delay)
		}
		if *timeout < 0 {
			return usagef("--timeout %s: want a duration of 0 or more, e.g. 10m", *timeout)
		}
		sub := client.Submission{Type: args[0], Queue: *queue, Priority: *priority, Timeout: *timeout,
			Delay: *delay, UniqueKey: *uniqueKey, CallbackURL: *callbackURL}
		if *payload != "" {
			raw, err := readPayload(*payload)
			if err != nil {
				return err
			}
			sub.Payload = raw
		}
		if maxRetries.set {
			sub.MaxRetries = client.Retries(maxRetries.n)
		}
		if *runAt != "" {
			t, err := time.Parse(time.RFC3339, *runAt)
			if err != nil {
				return usagef("--run-at %q: want an RFC 3339 time like 2024-01-21T10:30:00Z", *runAt)
			}
			sub.RunAt = t
		}
		if *deadline != "" {
			t, err := parseDeadline(*deadline, time.Now())
			if err != nil {
				return err
			}
			sub.Deadline = t
		}
		job, err := a.c.Submit(ctx, sub)
		if err != nil {
			return err
		}
		if a.json {
			if err := a.printJSON(job); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(a.out, job.JobID) // alone, so ID=$(jobctl submit ...) works
		}
		if *watch {
			return a.watch(ctx, job.JobID)
		}
		return nil
	}
}

// readPayload reads a payload argument: JSON, @file or - (stdin); it
// must be valid JSON.
func readPayload(arg string) (json.RawMessage, error) {
	var data []byte
	var err error
	switch {
	case arg == "-":
		data, err = io.ReadAll(os.Stdin)
	case strings.HasPrefix(arg, "@"):
		data, err = os.ReadFile(arg[1:])
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, usagef("payload file %s: %v", pe.Path, pe.Err)
		}
	default:
		data = []byte(arg)
	}
	if err != nil {
		return nil, usagef("payload: %v", err)
	}
	if !json.Valid(data) {
		return nil, usagef("payload is not valid JSON: %.80s", data)
	}
	return json.RawMessage(data), nil
}

// optionalCount is an integer flag of 0 or more that may be left out; its
// help states no default of its own (the server's applies).
type optionalCount struct {
	n   int
	set bool
}

func (c *optionalCount) String() string {
	if c == nil || !c.set {
		return ""
	}
	return strconv.Itoa(c.n)
}

func (c *optionalCount) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a whole number")
	}
	if n < 0 {
		return errors.New("want 0 or more")
	}
	c.n, c.set = n, true
	return nil
}

func statusCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		st, err := a.c.Status(ctx, id)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(st)
		}
		tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "job\t%s\n", st.JobID)
		fmt.Fprintf(tw, "status\t%s\n", st.Status)
		fmt.Fprintf(tw, "progress\t%s\n", strings.TrimSpace(fmt.Sprintf("%.0f%%  %s", st.Progress, st.CurrentStep)))
		fmt.Fprintf(tw, "created\t%s\n", when(st.CreatedAt))
		fmt.Fprintf(tw, "started\t%s\n", when(st.StartedAt))
		fmt.Fprintf(tw, "completed\t%s\n", when(st.CompletedAt))
		fmt.Fprintf(tw, "updated\t%s\n", when(st.UpdatedAt))
		if st.Result != nil {
			fmt.Fprintf(tw, "result\t%s\n", st.Result)
		}
		if st.Error != "" {
			fmt.Fprintf(tw, "error\t%s\n", st.Error)
		}
		return tw.Flush()
	}
}

func watchCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		return a.watch(ctx, id)
	}
}

func listCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	var p client.ListParams
	status := fs.String("status", "", "only jobs in this state (pending, scheduled, running, retrying, completed, failed, cancelled)")
	fs.StringVar(&p.Type, "type", "", "only jobs of this type")
	fs.StringVar(&p.Queue, "queue", "", "only jobs of this queue")
	fs.IntVar(&p.Limit, "limit", 0, "jobs per page, 1 to 500 (default: the server's, 50)")
	fs.StringVar(&p.Cursor, "cursor", "", "the page after a previous list's cursor")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 0 {
			return usagef("list takes no arguments, got %q", args)
		}
		p.Status = client.State(*status)
		page, err := a.c.List(ctx, &p)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(page)
		}
		tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATUS\tTYPE\tQUEUE\tPROGRESS\tCREATED\tSTEP")
		for _, j := range page.Jobs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f%%\t%s\t%s\n", j.JobID, j.Status, j.Type, j.Queue,
				j.Progress, when(j.CreatedAt), j.CurrentStep)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if page.NextCursor != "" {
			fmt.Fprintf(a.errOut, "more: %s\n", nextPageCommand(p, page.NextCursor))
		}
		return nil
	}
}

// nextPageCommand is the command line that lists the next page: the same
// filters and page size, and the cursor. (The cursor alone would do, as
// it records the filters; repeating them says which list it is.)
func nextPageCommand(p client.ListParams, cursor string) string {
	cmd := "jobctl list"
	for _, f := range [][2]string{{"status", string(p.Status)}, {"type", p.Type}, {"queue", p.Queue}} {
		if f[1] != "" {
			cmd += " --" + f[0] + " " + f[1]
		}
	}
	if p.Limit > 0 {
		cmd += fmt.Sprintf(" --limit %d", p.Limit)
	}
	return cmd + " --cursor " + cursor
}

func cancelCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	return transitionCmd(fs, (*client.Client).Cancel,
		bulkAction{(*client.Client).CancelMatching, "cancel", "cancelled"})
}

func restartCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	return transitionCmd(fs, (*client.Client).Restart,
		bulkAction{(*client.Client).RestartMatching, "restart", "restarted"})
}

func deleteCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	return transitionCmd(fs, (*client.Client).Delete,
		bulkAction{(*client.Client).DeleteMatching, "delete", "deleted"})
}

// transitionCmd runs cancel, restart or delete on each id (the exit code
// is the last failure's), or, given filters, on every job they select
// (bulk.go).
func transitionCmd(fs *flag.FlagSet, move func(*client.Client, context.Context, string) error, bulk bulkAction) func(context.Context, *app, []string) error {
	filters := addBulkFlags(fs)
	return func(ctx context.Context, a *app, args []string) error {
		switch {
		case len(args) > 0 && filters.given():
			return usagef("give job ids or filters, not both")
		case len(args) == 0 && filters.given():
			return a.runBulk(ctx, filters, bulk)
		case len(args) == 0:
			return usagef("want job ids, or filters (--status, --type, --queue, --created-after, --created-before), or --all")
		}
		var failed error
		for _, id := range args {
			if err := move(a.c, ctx, id); err != nil {
				if len(args) == 1 {
					return err
				}
				fmt.Fprintf(a.errOut, "jobctl: %s: %v\n", id, err)
				failed = err
				continue
			}
			// The API's own message, in text or JSON.
			msg := "Job " + id + " " + bulk.done + " successfully"
			if a.json {
				if err := a.printJSON(map[string]string{"job_id": id, "message": msg}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintln(a.out, msg)
		}
		if failed != nil {
			return quiet{failed}
		}
		return nil
	}
}

// quiet is an error already reported; it only sets the exit code.
type quiet struct{ error }

func (q quiet) Unwrap() error { return q.error }

func statsCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	watch := fs.Bool("watch", false, "read the stats again every interval until Ctrl-C: on a terminal, redrawn with sparklines of the last 30 minutes; elsewhere one line per read")
	interval := fs.Duration("interval", defaultWatchInterval, "with --watch, the time between two reads")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 0 {
			return usagef("stats takes no arguments")
		}
		if *watch {
			if *interval < minWatchInterval {
				return usagef("--interval %s: want %s or more", *interval, minWatchInterval)
			}
			return (&statsWatch{a: a, interval: *interval}).run(ctx)
		}
		st, err := a.c.Stats(ctx)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(st)
		}
		tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
		// Each value with its reason: the jobs' health, the workers' hosts,
		// the limits (so "healthy" beside "critical" is not a riddle).
		h, why := st.QueueHealth, st.HealthReasons
		fmt.Fprintf(tw, "health\t%s\n", withReason(h.Status, why.Status))
		fmt.Fprintf(tw, "resources\t%s\n", withReason(h.ResourceUtilization, why.ResourceUtilization))
		fmt.Fprintf(tw, "limits\t%s\n", withReason(h.LimitEnforcement, why.LimitEnforcement))
		fmt.Fprintf(tw, "cpu\t%.1f%% on the workers' hosts (mean, every process); %.1f%% by the workers themselves (100%% = one core)\n",
			st.CPUUsagePercent, st.WorkersCPUPercent)
		if err := tw.Flush(); err != nil {
			return err
		}
		tw = tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "pending\t%d\tscheduled\t%d\tretrying\t%d\trunning\t%d\n", st.PendingJobs,
			st.ScheduledJobs, st.RetryingJobs, st.RunningJobs)
		fmt.Fprintf(tw, "completed\t%d\tfailed\t%d\tcancelled\t%d\ttotal\t%d\n", st.CompletedJobs,
			st.FailedJobs, st.CancelledJobs, st.TotalJobs)
		fmt.Fprintf(tw, "workers\t%d\tconcurrency\t%d\tmemory\t%.1f MB\n", st.ActiveWorkers,
			st.WorkersConcurrency, st.MemoryUsageMB)
		for _, q := range st.Queues {
			fmt.Fprintf(tw, "queue %s\t\tpending\t%d\tscheduled\t%d\tretrying\t%d\n", q.Name, q.Pending,
				q.Scheduled, q.Retrying)
		}
		return tw.Flush()
	}
}

func workersCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 0 {
			return usagef("workers takes no arguments")
		}
		ws, err := a.c.Workers(ctx)
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(map[string]any{"workers": ws})
		}
		tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tHOST\tPID\tQUEUES\tRUNNING\tHOST CPU\tOWN CPU\tRSS\tSTARTED\tTHROTTLED")
		for _, w := range ws {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d/%d\t%.1f%%\t%.1f%%\t%.1f MB\t%s\t%t\n", w.ID, w.Host, w.PID,
				strings.Join(w.Queues, ","), w.RunningJobs, w.Concurrency, w.CPUPercent, w.ProcessCPUPercent,
				w.RSSMB, when(w.StartedAt), w.Throttled)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(ws) == 0 {
			fmt.Fprintln(a.errOut, "no live worker: jobs wait until one starts")
		}
		return nil
	}
}

// withReason is a health value and, when the server gave one, its reason.
func withReason(value, reason string) string {
	if reason == "" {
		return value
	}
	return value + ": " + reason
}

// printJSON prints v as one line of JSON.
func (a *app) printJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.out, "%s\n", data)
	return err
}

// when renders a time for people: local, to the second; "-" when unset.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// parseDeadline reads --deadline: a duration from now, or an RFC 3339 time.
func parseDeadline(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, usagef("--deadline %q: want a duration from now (10m) or an RFC 3339 time like 2024-01-21T10:30:00Z", v)
	}
	return t, nil
}
