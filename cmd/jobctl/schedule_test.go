package main

import (
	"encoding/json"
	"testing"
)

func TestScheduleCommands(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	jobctl(t, env, "schedule", "create", "nightly", "demo", `{"steps": 1}`, "--cron", "0 2 * * *",
		"--timezone", "Europe/Paris", "--queue", "reports").
		want(t, exitOK, `(?m)^schedule +nightly\nwhen +cron 0 2 \* \* \* \(Europe/Paris\)\njob +demo on reports`)
	jobctl(t, env, "schedule", "create", "often", "demo", "--every", "30s").want(t, exitOK, `when +every 30s`)
	jobctl(t, env, "schedule", "create", "often", "demo", "--every", "30s").want(t, exitRefused, `^$`)
	jobctl(t, env, "schedule", "create", "bad", "demo", "--cron", "nope").want(t, exitRefused, `^$`)
	jobctl(t, env, "schedule", "create", "frac", "demo", "--every", "1500ms").want(t, exitUsage, `^$`)
	jobctl(t, env, "schedule", "list").want(t, exitOK, `(?s)^NAME +WHEN +TYPE +QUEUE +NEXT RUN +LAST RUN +LAST JOB +FIRED\nnightly +cron .*\noften +every 30s +demo +default `)
	jobctl(t, env, "schedule", "pause", "often").want(t, exitOK, `next run +paused`)
	jobctl(t, env, "schedule", "resume", "often").want(t, exitOK, `next run +\d{4}-`)
	var s map[string]any
	r := jobctl(t, env, "schedule", "get", "often", "--json")
	if json.Unmarshal([]byte(r.stdout), &s) != nil || s["every_seconds"] != 30.0 || s["paused"] != false {
		t.Fatalf("get --json: %+v", r)
	}
	jobctl(t, env, "schedule", "delete", "often").want(t, exitOK, `^Schedule often deleted\n$`)
	jobctl(t, env, "schedule", "get", "often").want(t, exitRefused, `^$`)
	jobctl(t, env, "schedule").want(t, exitUsage, `^$`)
	jobctl(t, env, "schedule", "explode", "x").want(t, exitUsage, `^$`)
}
