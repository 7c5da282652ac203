package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/compileo/jobqueue/pkg/client"
)

// queueCmd is `jobctl queue list|pause NAME|resume NAME`.
func queueCmd(*flag.FlagSet) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) == 0 {
			return usagef("want a subcommand: list, pause NAME or resume NAME")
		}
		sub, args := args[0], args[1:]
		if sub == "list" {
			if len(args) != 0 {
				return usagef("queue list takes no arguments")
			}
			return a.listQueues(ctx)
		}
		if len(args) != 1 {
			return usagef("want queue %s NAME", sub)
		}
		var q *client.Queue
		var err error
		switch sub {
		case "pause":
			q, err = a.c.PauseQueue(ctx, args[0])
		case "resume":
			q, err = a.c.ResumeQueue(ctx, args[0])
		default:
			return usagef("unknown subcommand %q: want list, pause or resume", sub)
		}
		if err != nil {
			return err
		}
		if a.json {
			return a.printJSON(q)
		}
		return a.printQueues([]client.Queue{*q})
	}
}

// listQueues prints every queue.
func (a *app) listQueues(ctx context.Context) error {
	qs, err := a.c.ListQueues(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{"queues": qs})
	}
	return a.printQueues(qs)
}

func (a *app) printQueues(qs []client.Queue) error {
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tSTATE\tPENDING\tRUNNING\tSCHEDULED\tRETRYING\tOLDEST PENDING")
	for _, q := range qs {
		state := "active"
		if q.Paused {
			state = "paused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.1fs\n", q.Name, state, q.Pending, q.Running, q.Scheduled,
			q.Retrying, q.OldestPendingAge)
	}
	return tw.Flush()
}
