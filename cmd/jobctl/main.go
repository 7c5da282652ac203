// Command jobctl submits, watches and manages jobs of the job queue from
// a shell, through its HTTP API (the Go SDK, pkg/client):
//
//	jobctl submit demo '{"steps": 5}' --watch
//	jobctl watch 123e4567-e89b-12d3-a456-426614174000
//	jobctl list --status failed
//	jobctl cancel --status pending --queue reports
//	jobctl stats --watch
//	jobctl pipeline submit pipeline.json --watch
//
// Every command takes --json for scripts. The server is --server or
// $JOBS_SERVER (default http://localhost:8000); an API key, if the server
// wants one, is --api-key or $JOBS_API_KEY.
//
// Exit codes: 0 success (watch: the job completed), 1 the job failed,
// 2 usage error, 3 the job was cancelled, 4 the server refused the request
// (unknown job, wrong state, invalid input, missing permission), 5 the
// server could not be reached or stayed unavailable, 130 interrupted.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
)

// Exit codes, documented in the package comment and the README.
const (
	exitOK          = 0   // done; watch: the job completed
	exitJobFailed   = 1   // watch: the job failed
	exitUsage       = 2   // bad command line
	exitCancelled   = 3   // watch: the job was cancelled
	exitRefused     = 4   // the API answered with a 4xx: unknown job, wrong state, bad input, no permission
	exitUnreachable = 5   // no answer, or 5xx/429 after the retries
	exitInterrupted = 130 // SIGINT or SIGTERM (128 + 2)
)

const defaultServer = "http://localhost:8000"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name, args, summary string
	// flags registers the command's own flags; run gets the positional
	// arguments.
	flags func(fs *flag.FlagSet) func(ctx context.Context, a *app, args []string) error
}

var commands = []command{
	{"submit", "TYPE [PAYLOAD]", "submit a job; PAYLOAD is JSON, @file or - for stdin", submitCmd},
	{"status", "ID", "show a job's status, result and error", statusCmd},
	{"watch", "ID", "follow a job live until it finishes; the exit code tells how", watchCmd},
	{"logs", "ID", "print a job's log lines; -f follows them live until the job ends", logsCmd},
	{"list", "", "list jobs, with filters and paging", listCmd},
	{"cancel", "ID...|FILTERS", "cancel jobs: by id, or all that --status, --queue... select", cancelCmd},
	{"restart", "ID...|FILTERS", "restart failed or cancelled jobs, by id or by filters", restartCmd},
	{"delete", "ID...|FILTERS", "delete finished jobs, by id or by filters", deleteCmd},
	{"stats", "", "show the queue's counts and health; --watch follows them live", statsCmd},
	{"workers", "", "list the live workers", workersCmd},
	{"pipeline", "SUBCOMMAND", "pipelines of jobs that wait on others: submit FILE [--watch], get ID, cancel ID, restart ID", pipelineCmd},
	{"queue", "SUBCOMMAND", "queues: list, pause NAME (no worker takes its jobs), resume NAME", queueCmd},
	{"rate-limit", "SUBCOMMAND", "rate limits per job type: list, set TYPE N/PERIOD (e.g. 10/1m), clear TYPE", rateLimitCmd},
	{"schedule", "SUBCOMMAND", "periodic jobs: create NAME TYPE [PAYLOAD] (--cron or --every), list, get, pause, resume, delete NAME", scheduleCmd},
	{"types", "[TYPE]", "describe the built-in job types: payload, result, example", typesCmd},
	{"keygen", "", "print a new API key line name:role:secret (no server needed)", keygenCmd},
}

// app is what every command runs with.
type app struct {
	c      *client.Client
	out    io.Writer
	errOut io.Writer
	json   bool
	// tty: out is a terminal, so watch draws its bar in place.
	tty   bool
	width int // the terminal's columns
}

// globals are the flags every command takes, before or after its name.
type globals struct {
	server, apiKey string
	json           bool
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.server, "server", g.server, "API base URL (env JOBS_SERVER)")
	fs.StringVar(&g.apiKey, "api-key", g.apiKey, "API key, sent as a bearer token (env JOBS_API_KEY)")
	fs.BoolVar(&g.json, "json", g.json, "print JSON for scripts")
}

// usageError is a bad command line: exit 2, with the usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// run is the whole program: main only adds the signals and the exit.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{server: cmp.Or(os.Getenv("JOBS_SERVER"), defaultServer), apiKey: os.Getenv("JOBS_API_KEY")}
	top := flag.NewFlagSet("jobctl", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	g.register(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, top)
			return exitOK
		}
		fmt.Fprintln(stderr, "jobctl:", err)
		usage(stderr, top)
		return exitUsage
	}
	if top.NArg() == 0 {
		usage(stderr, top)
		return exitUsage
	}
	name := top.Arg(0)
	if name == "help" {
		usage(stdout, top)
		return exitOK
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == name })
	if i < 0 {
		fmt.Fprintf(stderr, "jobctl: unknown command %q\nRun 'jobctl help' for the commands.\n", name)
		return exitUsage
	}
	cmd := commands[i]
	fs := flag.NewFlagSet("jobctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	runCmd := cmd.flags(fs)
	pos, err := parseInterleaved(fs, top.Args()[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, cmd, fs)
			return exitOK
		}
		usageFailure(stderr, cmd, err)
		return exitUsage
	}

	tr := transport()
	defer tr.CloseIdleConnections()
	c, err := client.New(client.Config{BaseURL: g.server, APIKey: g.apiKey, UserAgent: "jobctl/1",
		HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		fmt.Fprintln(stderr, "jobctl:", err)
		return exitUsage
	}
	a := &app{c: c, out: stdout, errOut: stderr, json: g.json}
	a.tty, a.width = terminal(stdout)
	err = runCmd(ctx, a, pos)
	var ue *usageError
	if errors.As(err, &ue) {
		usageFailure(stderr, cmd, err)
		return exitUsage
	}
	var oc outcome
	if errors.As(err, &oc) {
		return int(oc)
	}
	var q quiet
	switch {
	case err == nil || errors.As(err, &q):
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "jobctl: interrupted")
	default:
		fmt.Fprintln(stderr, "jobctl:", err)
	}
	return exitCode(ctx, err)
}

// outcome ends a command with an exit code that is not an error to
// report: a watched job that failed or was cancelled.
type outcome int

func (o outcome) Error() string { return fmt.Sprintf("exit %d", int(o)) }

// exitCode maps a command's error to the documented exit codes.
func exitCode(ctx context.Context, err error) int {
	var apiErr *client.Error
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.As(err, &apiErr):
		if apiErr.StatusCode < 500 && !apiErr.Temporary() {
			return exitRefused
		}
		return exitUnreachable
	}
	return exitUnreachable // a connection that failed
}

// transport is the SDK's HTTP transport with bounds on the parts of a
// request that must not hang (a long poll waits at most 30 s before its
// headers come).
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = client.DefaultPollTimeout + 30*time.Second
	return t
}

// parseInterleaved parses flags anywhere among the positional arguments
// (`jobctl status ID --json` as well as `jobctl status --json ID`).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil // after "--", nothing is a flag
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func usage(w io.Writer, top *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: jobctl [--server URL] [--api-key KEY] [--json] COMMAND [ARGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-15s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "\nFlags (before or after the command):\n")
	printDefaults(w, top)
	fmt.Fprint(w, `
Exit codes: 0 success (watch: completed), 1 job failed, 2 usage error,
3 job cancelled, 4 request refused (unknown job, wrong state, bad input),
5 server unreachable or unavailable, 130 interrupted.
Run 'jobctl COMMAND -h' for a command's flags.
`)
}

// usageFailure reports a bad command line: the error and where to read
// the command's flags, not the flags themselves (they would bury the
// error).
func usageFailure(w io.Writer, c command, err error) {
	fmt.Fprintf(w, "jobctl: %v\nRun 'jobctl %s -h' for its flags.\n", err, c.name)
}

func commandUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: jobctl %s [flags] %s\n  %s\n\nFlags:\n", c.name, c.args, c.summary)
	printDefaults(w, fs)
}

func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// oneID is the single job id a command takes.
func oneID(args []string) (string, error) {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return "", usagef("want one job id, got %d arguments", len(args))
	}
	return args[0], nil
}
