package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/compileo/jobqueue/pkg/handlers/jobtypes"
)

// typesCmd prints the built-in job types: all of them in a line each, or
// one with its payload, result and an example. The descriptions are
// package jobtypes's, as the docs and the OpenAPI document are.
func typesCmd(fs *flag.FlagSet) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		var types []jobtypes.Type
		switch len(args) {
		case 0:
			types = jobtypes.All()
		case 1:
			t, ok := jobtypes.Lookup(args[0])
			if !ok {
				return usagef("no built-in type is called %q; 'jobctl types' lists them", args[0])
			}
			types = []jobtypes.Type{t}
		default:
			return usagef("want at most one TYPE, got %d arguments", len(args))
		}
		if a.json {
			for _, t := range types {
				if err := a.printJSON(typeView(t)); err != nil {
					return err
				}
			}
			return nil
		}
		if len(args) == 1 {
			_, err := fmt.Fprint(a.out, types[0].Text())
			return err
		}
		tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TYPE\tDOES")
		for _, t := range types {
			fmt.Fprintf(tw, "%s\t%s\n", t.Name, t.Summary)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.errOut, "more: jobctl types TYPE (its payload, its result and an example)")
		return nil
	}
}

// jobTypeJSON is a type as --json prints it: the examples as JSON values
// rather than strings holding JSON.
type jobTypeJSON struct {
	jobtypes.Type
	ExamplePayload json.RawMessage `json:"example_payload"`
	ExampleResult  json.RawMessage `json:"example_result"`
}

func typeView(t jobtypes.Type) jobTypeJSON {
	return jobTypeJSON{Type: t, ExamplePayload: json.RawMessage(t.ExamplePayload),
		ExampleResult: json.RawMessage(t.ExampleResult)}
}
