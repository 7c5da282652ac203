package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/compileo/jobqueue/pkg/client"
	"github.com/compileo/jobqueue/pkg/queue"
)

// rateLimitCmd is `jobctl rate-limit list|set TYPE N/PERIOD|clear TYPE`.
func rateLimitCmd(*flag.FlagSet) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		if len(args) == 0 {
			return usagef("want a subcommand: list, set TYPE N/PERIOD (e.g. 10/1m) or clear TYPE")
		}
		switch sub, args := args[0], args[1:]; {
		case sub == "list" && len(args) == 0:
			rs, err := a.c.ListRateLimits(ctx)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"rate_limits": rs})
			}
			return a.printRates(rs)
		case sub == "set" && len(args) == 2:
			r, err := queue.ParseRate(args[1])
			if err != nil {
				return usagef("%v", err)
			}
			got, err := a.c.SetRateLimit(ctx, args[0], r.Rate, r.Per)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(got)
			}
			return a.printRates([]client.RateLimit{*got})
		case sub == "clear" && len(args) == 1:
			if err := a.c.ClearRateLimit(ctx, args[0]); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]string{"type": args[0], "message": "Rate limit of " + args[0] + " cleared"})
			}
			_, err := fmt.Fprintf(a.out, "Rate limit of %s cleared\n", args[0])
			return err
		}
		return usagef("want rate-limit list, set TYPE N/PERIOD or clear TYPE")
	}
}

func (a *app) printRates(rs []client.RateLimit) error {
	tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tLIMIT\tSTARTED\tPENDING\tSTATE")
	for _, r := range rs {
		state := "open"
		if r.Waiting {
			state = "jobs wait"
		}
		fmt.Fprintf(tw, "%s\t%d per %gs\t%d\t%d\t%s\n", r.Type, r.Rate, r.PerSeconds, r.Started, r.Pending, state)
	}
	return tw.Flush()
}
