package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
)

// pipelinePoll is how often pipeline submit --watch reads the pipeline.
const pipelinePoll = 250 * time.Millisecond

// pipelineFile is a pipeline as jobctl reads it from a file: the body of
// POST /api/v1/pipelines.
type pipelineFile struct {
	Jobs []struct {
		Key            string          `json:"key"`
		Type           string          `json:"type"`
		Payload        json.RawMessage `json:"payload"`
		Queue          string          `json:"queue"`
		Priority       int             `json:"priority"`
		MaxRetries     *int            `json:"max_retries"`
		TimeoutSeconds int64           `json:"timeout_seconds"`
		DependsOn      []string        `json:"depends_on"`
		CallbackURL    string          `json:"callback_url"`
	} `json:"jobs"`
	UniqueKey   string `json:"unique_key"`
	CallbackURL string `json:"callback_url"`
}

// pipelineCmd is `jobctl pipeline submit FILE [--watch] | get ID | cancel ID | restart ID`.
func pipelineCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	watch := fs.Bool("watch", false, "submit: follow the pipeline until it ends, a bar per job; the exit code tells how")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) != 2 {
			return usagef("want a subcommand: submit FILE (JSON {\"jobs\": [...]}, or - for stdin), get ID, cancel ID or restart ID")
		}
		sub, arg := args[0], args[1]
		switch sub {
		case "submit":
			id, err := a.submitPipeline(ctx, arg)
			if err != nil || !*watch {
				return err
			}
			return a.watchPipeline(ctx, id)
		case "get":
			p, err := a.c.GetPipeline(ctx, arg)
			if err != nil {
				return err
			}
			return a.printPipeline(p)
		case "cancel", "restart":
			act, done := a.c.CancelPipeline, "cancelled"
			if sub == "restart" {
				act, done = a.c.RestartPipeline, "restarted"
			}
			if err := act(ctx, arg); err != nil {
				return err
			}
			msg := "Pipeline " + arg + " " + done
			if a.json {
				return a.printJSON(map[string]string{"pipeline_id": arg, "message": msg})
			}
			fmt.Fprintln(a.out, msg)
			return nil
		}
		return usagef("unknown subcommand %q: want submit, get, cancel or restart", sub)
	}
}

// submitPipeline submits the pipeline of file (- for stdin) and prints
// its id and jobs' ids.
func (a *app) submitPipeline(ctx context.Context, file string) (string, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(strings.TrimPrefix(file, "@"))
	}
	if err != nil {
		return "", usagef("pipeline file: %v", err)
	}
	var f pipelineFile
	if err := json.Unmarshal(data, &f); err != nil {
		return "", usagef("pipeline file %s: %v", file, err)
	}
	jobs := make([]client.PipelineJob, len(f.Jobs))
	for i, j := range f.Jobs {
		jobs[i] = client.PipelineJob{Key: j.Key, DependsOn: j.DependsOn, Submission: client.Submission{Type: j.Type,
			Queue: j.Queue, Priority: j.Priority, MaxRetries: j.MaxRetries, Timeout: time.Duration(j.TimeoutSeconds) * time.Second,
			CallbackURL: j.CallbackURL}}
		if len(j.Payload) > 0 {
			jobs[i].Payload = j.Payload
		}
	}
	s, err := a.c.SubmitPipelineWith(ctx, jobs, client.PipelineOptions{UniqueKey: f.UniqueKey, CallbackURL: f.CallbackURL})
	if err != nil {
		return "", err
	}
	if a.json {
		return s.PipelineID, a.printJSON(s)
	}
	fmt.Fprintf(a.out, "pipeline %s\n", s.PipelineID)
	for _, j := range f.Jobs {
		fmt.Fprintf(a.out, "  %-16s %s\n", j.Key, s.Jobs[j.Key])
	}
	return s.PipelineID, nil
}

// watchPipeline reads the pipeline until it ends, drawing a bar per job
// (a line per change when out is not a terminal). The exit code tells
// the end: 0 completed, 1 failed, 3 cancelled.
func (a *app) watchPipeline(ctx context.Context, id string) error {
	drawn := 0 // lines of bars on the terminal
	seen := map[string]string{}
	for {
		p, err := a.c.GetPipeline(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(a.errOut, "jobctl: interrupted; pipeline %s goes on ('jobctl pipeline cancel %s' stops it)\n", id, id)
				return outcome(exitInterrupted)
			}
			return err
		}
		switch {
		case a.json:
		case a.tty:
			if drawn > 0 {
				fmt.Fprintf(a.out, "\x1b[%dA", drawn) // back to the first bar
			}
			for _, j := range p.Jobs {
				bar := &progress{w: a.out, tty: true, width: a.width}
				fmt.Fprintf(a.out, "%-12s ", truncate(j.Key, 12))
				bar.draw(client.Event{Status: j.Status, Progress: j.Progress})
				bar.end()
			}
			drawn = len(p.Jobs)
		default:
			for _, j := range p.Jobs {
				line := fmt.Sprintf("%-9s %3.0f%%", j.Status, j.Progress)
				if seen[j.Key] != line {
					fmt.Fprintf(a.out, "%s %s\n", j.Key, line)
					seen[j.Key] = line
				}
			}
		}
		if p.Status.Ended() {
			if a.json {
				if err := a.printJSON(p); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.out, "pipeline %s\n", p.Status)
			}
			switch p.Status {
			case client.PipelineFailed:
				return outcome(exitJobFailed)
			case client.PipelineCancelled:
				return outcome(exitCancelled)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(a.errOut, "jobctl: interrupted; pipeline %s goes on ('jobctl pipeline cancel %s' stops it)\n", id, id)
			return outcome(exitInterrupted)
		case <-time.After(pipelinePoll):
		}
	}
}

// printPipeline prints a pipeline: its status, then a row per job.
func (a *app) printPipeline(p *client.Pipeline) error {
	if a.json {
		return a.printJSON(p)
	}
	fmt.Fprintf(a.out, "pipeline %s\nstatus   %s (%.0f%%)\ncreated  %s\n", p.PipelineID, p.Status, p.Progress, when(p.CreatedAt))
	if !p.CompletedAt.IsZero() {
		fmt.Fprintf(a.out, "ended    %s\n", when(p.CompletedAt))
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tJOB\tTYPE\tSTATUS\tPROGRESS\tDEPENDS ON")
	for _, j := range p.Jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f%%\t%s\n", j.Key, j.JobID, j.Type, j.Status, j.Progress, strings.Join(j.DependsOn, ","))
	}
	return tw.Flush()
}
