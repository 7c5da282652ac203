package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/compileo/jobqueue/pkg/client"
)

// logsCmd prints a job's log: the kept lines, or with -f each new line as
// it is written, until the job ends.
func logsCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	follow := fs.Bool("f", false, "follow: print new lines as they come, until the job ends")
	return func(ctx context.Context, a *app, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		if !*follow {
			logs, err := a.c.Logs(ctx, id, 0)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(logs)
			}
			if logs.Dropped > 0 {
				fmt.Fprintf(a.errOut, "(%d earlier lines dropped)\n", logs.Dropped)
			}
			for _, l := range logs.Lines {
				a.printLogLine(l)
			}
			return nil
		}
		for l, err := range a.c.FollowLogs(ctx, id, nil) {
			if err != nil {
				if ctx.Err() != nil {
					return outcome(exitInterrupted)
				}
				return err
			}
			if a.json {
				if err := a.printJSON(l); err != nil {
					return err
				}
				continue
			}
			a.printLogLine(l)
		}
		return nil
	}
}

// printLogLine prints "time level message".
func (a *app) printLogLine(l client.LogLine) {
	fmt.Fprintf(a.out, "%s %-5s %s\n", l.Timestamp.Local().Format("15:04:05.000"), l.Level, l.Message)
}
