package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// cancel, restart and delete act on every job their filters select,
// after a count and a confirmation (or --yes), page by page.
func TestBulkCommands(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	var ids []string
	for range 3 {
		ids = append(ids, submitted(t, env, "demo", "--queue", "parked")) // no worker takes it
	}

	// Without a terminal to ask on, --yes is required; ids and filters
	// do not mix; no id and no filter is a usage error.
	r := jobctl(t, env, "cancel", "--queue", "parked")
	if r.code != exitUsage || !strings.Contains(r.stderr, "give --yes") {
		t.Fatalf("no terminal, no --yes: %+v", r)
	}
	jobctl(t, env, "cancel", ids[0], "--queue", "parked").want(t, exitUsage, `^$`)
	jobctl(t, env, "delete").want(t, exitUsage, `^$`)
	jobctl(t, env, "cancel", "--status", "completed", "--yes").want(t, exitRefused, `^$`)

	jobctl(t, env, "cancel", "--queue", "parked", "--page", "2", "--yes").want(t, exitOK, `^cancelled 3 jobs\n$`)
	jobctl(t, env, "status", ids[2]).want(t, exitOK, `status +cancelled`)
	var totals struct {
		Changed int `json:"changed"`
	}
	r = jobctl(t, env, "restart", "--status", "cancelled", "--queue", "parked", "--yes", "--json")
	if json.Unmarshal([]byte(r.stdout), &totals) != nil || totals.Changed != 3 {
		t.Fatalf("restart --json: %+v", r)
	}
	jobctl(t, env, "delete", "--queue", "parked", "--yes").want(t, exitOK, `^deleted 0 jobs\n$`)

	// On a terminal: the count, the question, and no as the answer.
	run := startUnderTerminal(t, 100, jobctlCmd(t, env, "cancel", "--queue", "parked", "--type", "demo"))
	run.waitFor(t, "Cancel 3 jobs (the jobs with type=demo queue=parked)? [y/N] ")
	if _, err := run.tty.Write([]byte("n\n")); err != nil {
		t.Fatal(err)
	}
	if out, code := run.wait(t); code != exitOK || !strings.Contains(out, "nothing changed") {
		t.Fatalf("answered no: exit %d\n%s", code, out)
	}
	jobctl(t, env, "status", ids[0]).want(t, exitOK, `status +pending`)
	run = startUnderTerminal(t, 100, jobctlCmd(t, env, "cancel", "--all"))
	run.waitFor(t, "Cancel 3 jobs (every job)? [y/N] ")
	if _, err := run.tty.Write([]byte("y\n")); err != nil {
		t.Fatal(err)
	}
	if out, code := run.wait(t); code != exitOK || !strings.Contains(out, "cancelled 3 jobs") {
		t.Fatalf("answered yes: exit %d\n%s", code, out)
	}
	jobctl(t, env, "delete", "--status", "cancelled", "--yes").want(t, exitOK, `^deleted 3 jobs\n$`)
	jobctl(t, env, "delete", ids[0]).want(t, exitRefused, `^$`)
}
