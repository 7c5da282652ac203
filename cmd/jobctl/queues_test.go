package main

import (
	"encoding/json"
	"testing"
)

func TestQueueCommands(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	jobctl(t, env, "queue", "pause", "held").want(t, exitOK, `(?m)^QUEUE +STATE +PENDING +RUNNING +SCHEDULED +RETRYING +OLDEST PENDING\nheld +paused +0 +0 +0 +0 `)
	submitted(t, env, "demo", "--queue", "held")
	jobctl(t, env, "queue", "list").want(t, exitOK, `(?m)^held +paused +1 `)
	var out struct {
		Queues []map[string]any `json:"queues"`
	}
	r := jobctl(t, env, "queue", "list", "--json")
	if json.Unmarshal([]byte(r.stdout), &out) != nil || len(out.Queues) == 0 {
		t.Fatalf("list --json: %+v", r)
	}
	jobctl(t, env, "queue", "resume", "held").want(t, exitOK, `(?m)^held +active `)
	jobctl(t, env, "queue", "pause", "bad name").want(t, exitRefused, `^$`)
	jobctl(t, env, "queue").want(t, exitUsage, `^$`)
	jobctl(t, env, "queue", "explode", "x").want(t, exitUsage, `^$`)
}

func TestSubmitDeadlineFlag(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	submitted(t, env, "demo", "--queue", "later", "--deadline", "1h")
	submitted(t, env, "demo", "--queue", "later", "--deadline", "2099-01-01T00:00:00Z")
	jobctl(t, env, "submit", "demo", "--deadline", "2001-01-01T00:00:00Z").want(t, exitRefused, `^$`)
	jobctl(t, env, "submit", "demo", "--deadline", "soon").want(t, exitUsage, `^$`)
}

func TestRateLimitCommands(t *testing.T) {
	t.Parallel()
	_, env := live(t)
	jobctl(t, env, "rate-limit", "set", "demo", "10/1m").want(t, exitOK, `(?m)^TYPE +LIMIT +STARTED +PENDING +STATE\ndemo +10 per 60s +0 +0 +open\n$`)
	jobctl(t, env, "rate-limit", "list").want(t, exitOK, `(?m)^demo +10 per 60s `)
	jobctl(t, env, "rate-limit", "clear", "demo").want(t, exitOK, `^Rate limit of demo cleared\n$`)
	jobctl(t, env, "rate-limit", "clear", "demo").want(t, exitRefused, `^$`)
	jobctl(t, env, "rate-limit", "set", "demo", "0/1m").want(t, exitRefused, `^$`)
	jobctl(t, env, "rate-limit", "set", "demo", "lots").want(t, exitUsage, `^$`)
	jobctl(t, env, "rate-limit").want(t, exitUsage, `^$`)
}
