package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
)

// scheduleCmd is `jobctl schedule create|list|get|pause|resume|delete`.
func scheduleCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	cron := fs.String("cron", "", "create: 5-field cron expression, e.g. '*/5 * * * *'")
	tz := fs.String("timezone", "", "create: IANA time zone of --cron, e.g. Europe/Paris (default UTC)")
	every := fs.Duration("every", 0, "create: a tick every this long, whole seconds, e.g. 30s (instead of --cron)")
	payload := fs.String("payload", "", "create: the job's payload: JSON, @file or - for stdin (or give it after TYPE)")
	queue := fs.String("queue", "", "create: the job's queue")
	priority := fs.Int("priority", 0, "create: the job's priority, 0 to 100")
	var maxRetries optionalCount
	fs.Var(&maxRetries, "max-retries", "create: the job's retries (default: the server's, 3)")
	timeout := fs.Duration("timeout", 0, "create: bound of each run of the job, e.g. 10m")
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) == 0 {
			return usagef("want a subcommand: create NAME TYPE [PAYLOAD], list, get NAME, pause NAME, resume NAME or delete NAME")
		}
		sub, args := args[0], args[1:]
		if sub == "list" {
			if len(args) != 0 {
				return usagef("schedule list takes no arguments")
			}
			return a.listSchedules(ctx)
		}
		if sub == "create" {
			if len(args) < 2 || len(args) > 3 {
				return usagef("want schedule create NAME TYPE [PAYLOAD]")
			}
			if *every%time.Second != 0 || *every < 0 {
				return usagef("--every %s: want whole seconds, e.g. 30s", *every)
			}
			req := client.ScheduleRequest{Name: args[0], Cron: *cron, Timezone: *tz, EverySeconds: int64(*every / time.Second),
				Job: client.Submission{Type: args[1], Queue: *queue, Priority: *priority, Timeout: *timeout}}
			if len(args) == 3 {
				*payload = args[2]
			}
			if *payload != "" {
				raw, err := readPayload(*payload)
				if err != nil {
					return err
				}
				req.Job.Payload = raw
			}
			if maxRetries.set {
				req.Job.MaxRetries = client.Retries(maxRetries.n)
			}
			s, err := a.c.CreateSchedule(ctx, req)
			return a.printSchedule(s, err)
		}
		if len(args) != 1 {
			return usagef("want schedule %s NAME", sub)
		}
		name := args[0]
		switch sub {
		case "get":
			s, err := a.c.GetSchedule(ctx, name)
			return a.printSchedule(s, err)
		case "pause":
			s, err := a.c.PauseSchedule(ctx, name)
			return a.printSchedule(s, err)
		case "resume":
			s, err := a.c.ResumeSchedule(ctx, name)
			return a.printSchedule(s, err)
		case "delete":
			if err := a.c.DeleteSchedule(ctx, name); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]string{"name": name, "message": "Schedule " + name + " deleted"})
			}
			_, err := fmt.Fprintf(a.out, "Schedule %s deleted\n", name)
			return err
		}
		return usagef("unknown subcommand %q: want create, list, get, pause, resume or delete", sub)
	}
}

// listSchedules prints every schedule, page after page.
func (a *app) listSchedules(ctx context.Context) error {
	var all []client.Schedule
	for cursor := ""; ; {
		page, err := a.c.ListSchedules(ctx, cursor, 0)
		if err != nil {
			return err
		}
		all = append(all, page.Schedules...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if a.json {
		return a.printJSON(map[string]any{"schedules": all})
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWHEN\tTYPE\tQUEUE\tNEXT RUN\tLAST RUN\tLAST JOB\tFIRED")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", s.Name, scheduleWhen(s), s.Job.Type, s.Job.Queue,
			nextRun(s), when(s.LastRunAt), orDash(s.LastJobID), s.Fired)
	}
	return tw.Flush()
}

// printSchedule prints one schedule, or returns err.
func (a *app) printSchedule(s *client.Schedule, err error) error {
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(s)
	}
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "schedule\t%s\n", s.Name)
	fmt.Fprintf(tw, "when\t%s\n", scheduleWhen(*s))
	fmt.Fprintf(tw, "job\t%s on %s, priority %d, payload %s\n", s.Job.Type, s.Job.Queue, s.Job.Priority, s.Job.Payload)
	fmt.Fprintf(tw, "next run\t%s\n", nextRun(*s))
	fmt.Fprintf(tw, "last run\t%s\n", when(s.LastRunAt))
	fmt.Fprintf(tw, "last job\t%s\n", orDash(s.LastJobID))
	if s.LastError != "" {
		fmt.Fprintf(tw, "last error\t%s\n", s.LastError)
	}
	fmt.Fprintf(tw, "fired\t%d (caught up %d)\n", s.Fired, s.CaughtUp)
	return tw.Flush()
}

// scheduleWhen says when a schedule ticks: "cron */5 * * * * (Europe/Paris)" or "every 30s".
func scheduleWhen(s client.Schedule) string {
	if s.EverySeconds > 0 {
		return "every " + (time.Duration(s.EverySeconds) * time.Second).String()
	}
	return "cron " + s.Cron + " (" + s.Timezone + ")"
}

func nextRun(s client.Schedule) string {
	if s.Paused {
		return "paused"
	}
	return when(s.NextRunAt)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
