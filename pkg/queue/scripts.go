package queue

import (
	"context"
	"embed"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

//go:embed lua/*.lua
var luaFS embed.FS

// Script status codes; lua/lib.lua documents the convention.
const (
	codeOK         = 0
	codeNotFound   = 1
	codeWrongState = 2
	codeLeaseLost  = 3
	codeDuplicate  = 4
	codeQueueLimit = 5
)

// scripts holds one loaded script per file of lua/.
type scripts struct {
	submit, claim, extend, progress, complete, fail, cancel, restart,
	promote, reap, requeue, expire, delete, register, ratelimit, forget *redis.Script
	all []*redis.Script
}

func loadScripts() *scripts {
	lib := mustRead("lib.lua")
	s := &scripts{}
	for name, dst := range map[string]**redis.Script{
		"submit": &s.submit, "claim": &s.claim, "extend": &s.extend,
		"progress": &s.progress, "complete": &s.complete, "fail": &s.fail,
		"cancel": &s.cancel, "restart": &s.restart, "promote": &s.promote,
		"reap": &s.reap, "requeue": &s.requeue, "expire": &s.expire,
		"delete": &s.delete, "register": &s.register, "ratelimit": &s.ratelimit,
		"forget": &s.forget,
	} {
		*dst = redis.NewScript(lib + "\n" + mustRead(name+".lua"))
		s.all = append(s.all, *dst)
	}
	return s
}

func mustRead(name string) string {
	b, err := luaFS.ReadFile("lua/" + name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen
	}
	return string(b)
}

// preload loads every script into the server's script cache so that
// EVALSHA works in pipelines, where go-redis cannot fall back to EVAL.
func (s *scripts) preload(ctx context.Context, rdb redis.Scripter) error {
	for _, sc := range s.all {
		if err := sc.Load(ctx, rdb).Err(); err != nil {
			return fmt.Errorf("load lua scripts: %w", err)
		}
	}
	return nil
}

// run executes a script (EVALSHA, EVAL on a cold cache) and returns its reply.
func evalScript(ctx context.Context, rdb redis.Scripter, s *redis.Script, keys []string, args ...any) ([]any, error) {
	res, err := s.Run(ctx, rdb, keys, args...).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("lua script returned an empty reply")
	}
	return res, nil
}

// isNoScript reports a script missing from the server cache (a restarted
// or failed-over Redis); callers reload and retry once.
func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// scriptError is the one mapping from a script's status code to a Go
// error. to is the state the caller asked for, for TransitionError.
func scriptError(res []any, id string, to State) error {
	code, _ := res[0].(int64)
	detail := ""
	if len(res) > 1 {
		detail, _ = res[1].(string)
	}
	switch code {
	case codeOK:
		return nil
	case codeNotFound:
		return fmt.Errorf("job %s: %w", id, ErrJobNotFound)
	case codeWrongState:
		return &TransitionError{ID: id, From: State(detail), To: to}
	case codeLeaseLost:
		return &LeaseLostError{ID: id, Status: State(detail)}
	case codeDuplicate:
		return &DuplicateError{JobID: detail}
	case codeQueueLimit:
		return fmt.Errorf("%w: the queue registry holds its most names (%s); submit to a queue that has jobs", ErrQueueLimit, detail)
	default:
		return fmt.Errorf("job %s: unknown script status %v", id, res[0])
	}
}
