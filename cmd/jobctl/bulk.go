package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
	"golang.org/x/term"
)

// Bulk actions: cancel, restart and delete take job ids, or the list's
// filters to act on every job they select, page by page through the
// API's bulk routes. Before acting, a dry run counts the jobs and the
// user confirms (--yes skips the question).

// bulkFlags are the filters and switches of a bulk action.
type bulkFlags struct {
	status, typ, queue          *string
	createdAfter, createdBefore *string
	all, yes                    *bool
	limit                       *int
}

func addBulkFlags(fs *flag.FlagSet) *bulkFlags {
	return &bulkFlags{
		status:        fs.String("status", "", "act on the jobs in this state"),
		typ:           fs.String("type", "", "act on the jobs of this type"),
		queue:         fs.String("queue", "", "act on the jobs of this queue"),
		createdAfter:  fs.String("created-after", "", "act on the jobs created at or after this RFC 3339 time"),
		createdBefore: fs.String("created-before", "", "act on the jobs created before this RFC 3339 time"),
		all:           fs.Bool("all", false, "act on every job the action applies to (with no filter)"),
		yes:           fs.Bool("yes", false, "do not ask for confirmation"),
		limit:         fs.Int("page", 500, "jobs per request, 1 to 1000"),
	}
}

// given reports whether any filter or --all was given: the command acts
// on the jobs they select rather than on ids.
func (f *bulkFlags) given() bool {
	return *f.status != "" || *f.typ != "" || *f.queue != "" || *f.createdAfter != "" ||
		*f.createdBefore != "" || *f.all
}

// params turns the flags into the API's parameters.
func (f *bulkFlags) params() (client.BulkParams, error) {
	p := client.BulkParams{Status: client.State(*f.status), Type: *f.typ, Queue: *f.queue, All: *f.all, Limit: *f.limit}
	for _, t := range []struct {
		flag string
		val  string
		dst  *time.Time
	}{{"created-after", *f.createdAfter, &p.CreatedAfter}, {"created-before", *f.createdBefore, &p.CreatedBefore}} {
		if t.val == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.val)
		if err != nil {
			return p, usagef("--%s %q: want an RFC 3339 time like 2024-01-21T10:30:00Z", t.flag, t.val)
		}
		*t.dst = v
	}
	if p.Limit < 1 || p.Limit > 1000 {
		return p, usagef("--page %d: want 1 to 1000", p.Limit)
	}
	return p, nil
}

// describe names the selection for people: "jobs with status=pending queue=q".
func (f *bulkFlags) describe() string {
	var parts []string
	for _, kv := range [][2]string{{"status", *f.status}, {"type", *f.typ}, {"queue", *f.queue},
		{"created-after", *f.createdAfter}, {"created-before", *f.createdBefore}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "every job"
	}
	return "the jobs with " + strings.Join(parts, " ")
}

// bulkAction is one of the SDK's bulk calls and the words that tell of it.
type bulkAction struct {
	call func(*client.Client, context.Context, *client.BulkParams) (*client.BulkResult, error)
	verb string // "cancel"
	done string // "cancelled"
}

// runBulk counts the jobs f selects, asks for confirmation unless --yes,
// then pages through the action, printing its progress on stderr and
// the totals on stdout.
func (a *app) runBulk(ctx context.Context, f *bulkFlags, act bulkAction) error {
	p, err := f.params()
	if err != nil {
		return err
	}
	if !*f.yes && !term.IsTerminal(int(os.Stdin.Fd())) {
		return usagef("standard input is not a terminal, so %s cannot ask for confirmation: give --yes", act.verb)
	}
	n, err := a.countMatching(ctx, p, act)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(a.errOut, "no job to %s: none of %s is in a state the action applies to\n", act.verb, f.describe())
		return a.printBulkTotals(act, client.BulkResult{SkippedByStatus: map[string]int{}})
	}
	if !*f.yes {
		fmt.Fprintf(a.errOut, "%s %d jobs (%s)? [y/N] ", strings.ToUpper(act.verb[:1])+act.verb[1:], n, f.describe())
		answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(answer)); ans != "y" && ans != "yes" {
			fmt.Fprintln(a.errOut, "nothing changed")
			return nil
		}
	}
	total := client.BulkResult{SkippedByStatus: map[string]int{}}
	for {
		res, err := act.call(a.c, ctx, &p)
		if err != nil {
			return err
		}
		total.Matched += res.Matched
		total.Changed += res.Changed
		total.Skipped += res.Skipped
		for k, v := range res.SkippedByStatus {
			total.SkippedByStatus[k] += v
		}
		if !a.json {
			fmt.Fprintf(a.errOut, "%s %d of about %d\n", act.done, total.Changed, n)
		}
		if res.NextCursor == "" {
			return a.printBulkTotals(act, total)
		}
		p.Cursor = res.NextCursor
	}
}

// countMatching pages through a dry run and adds up its matches.
func (a *app) countMatching(ctx context.Context, p client.BulkParams, act bulkAction) (int, error) {
	p.DryRun, p.Limit = true, 1000
	n := 0
	for {
		res, err := act.call(a.c, ctx, &p)
		if err != nil {
			return 0, err
		}
		n += res.Matched
		if res.NextCursor == "" {
			return n, nil
		}
		p.Cursor = res.NextCursor
	}
}

// printBulkTotals prints what the whole action did.
func (a *app) printBulkTotals(act bulkAction, t client.BulkResult) error {
	if a.json {
		return a.printJSON(map[string]any{"changed": t.Changed, "skipped": t.Skipped, "skipped_by_status": t.SkippedByStatus})
	}
	line := fmt.Sprintf("%s %d jobs", act.done, t.Changed)
	if t.Skipped > 0 {
		var why []string
		for k, v := range t.SkippedByStatus {
			why = append(why, fmt.Sprintf("%d %s", v, k))
		}
		line += fmt.Sprintf("; skipped %d that had moved on (%s)", t.Skipped, strings.Join(why, ", "))
	}
	_, err := fmt.Fprintln(a.out, line)
	return err
}
