package queue

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// The Go side of the Lua scripts: loading them, running calls of them, and
// mapping their status codes to errors. Each script has one typed Go
// function, in the file named after it (lua_claim.go for lua/claim.lua),
// that builds its KEYS and ARGV in the order of the script's header and
// decodes its reply; everything else calls those functions.

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
	// codeScheduleLimit is the schedules' own; their functions decode it.
	codeScheduleLimit = 6
)

// scripts holds one loaded script per file of lua/.
type scripts struct {
	submit, claim, extend, progress, complete, fail, cancel, restart,
	promote, reap, requeue, expire, delete, register, ratelimit, forget,
	hookclaim, hookack,
	scheduleCreate, schedulePause, scheduleDelete, scheduleTick, deadline, log *redis.Script
	// The pipeline scripts, which have pipeline_lib.lua after lib.lua.
	pipelineSubmit, pipelineComplete, pipelineFail, pipelineCancel, pipelineRestart,
	pipelineExpire *redis.Script
	all []*redis.Script
}

// sharedScripts builds the scripts once per process: every Client shares
// them (a redis.Script is its source and its hash, never changed), and
// building them parses the library (luabuild.go), about 1 ms of CPU
// (more under the race detector): not to be paid per Client.
var sharedScripts = sync.OnceValue(loadScripts)

// libraries are the parsed libraries (luabuild.go): lib.lua for every
// script, lib.lua then pipeline_lib.lua for the pipeline scripts.
type libraries struct{ lib, pipeline []libDef }

func parseLibraries() libraries {
	lib := parseLib(mustRead("lib.lua"))
	return libraries{lib, append(slices.Clip(lib), parseLib(mustRead("pipeline_lib.lua"))...)}
}

// of is the library of script name: the pipeline scripts' for theirs.
func (l libraries) of(name string) []libDef {
	if strings.HasPrefix(name, "pipeline_") {
		return l.pipeline
	}
	return l.lib
}

// source is lua/<name>.lua with the definitions of its library it uses.
func (l libraries) source(name string) string {
	return withLib(l.of(name), mustRead(name+".lua"))
}

func loadScripts() *scripts {
	libs := parseLibraries()
	s := &scripts{}
	for name, dst := range map[string]**redis.Script{
		"submit": &s.submit, "claim": &s.claim, "extend": &s.extend,
		"progress": &s.progress, "complete": &s.complete, "fail": &s.fail,
		"cancel": &s.cancel, "restart": &s.restart, "promote": &s.promote,
		"reap": &s.reap, "requeue": &s.requeue, "expire": &s.expire,
		"delete": &s.delete, "register": &s.register, "ratelimit": &s.ratelimit,
		"forget": &s.forget, "schedule_create": &s.scheduleCreate, "schedule_pause": &s.schedulePause,
		"schedule_delete": &s.scheduleDelete, "schedule_tick": &s.scheduleTick,
		"deadline":  &s.deadline,
		"hookclaim": &s.hookclaim, "hookack": &s.hookack, "log": &s.log,
		"pipeline_submit": &s.pipelineSubmit, "pipeline_complete": &s.pipelineComplete,
		"pipeline_fail": &s.pipelineFail, "pipeline_cancel": &s.pipelineCancel,
		"pipeline_restart": &s.pipelineRestart, "pipeline_expire": &s.pipelineExpire,
	} {
		*dst = redis.NewScript(libs.source(name))
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
// It asks first which are there already (one SCRIPT EXISTS): a process
// that starts beside others, as a fleet's workers do, then sends none of
// the scripts' text, which Redis would hash whole to find it has it.
func (s *scripts) preload(ctx context.Context, rdb redis.Scripter) error {
	hashes := make([]string, len(s.all))
	for i, sc := range s.all {
		hashes[i] = sc.Hash()
	}
	have, err := rdb.ScriptExists(ctx, hashes...).Result()
	if err != nil || len(have) != len(s.all) {
		have = nil // load them all: a load that fails says why
	}
	for i, sc := range s.all {
		if have != nil && have[i] {
			continue
		}
		if err := sc.Load(ctx, rdb).Err(); err != nil {
			return fmt.Errorf("load lua scripts: %w", err)
		}
	}
	return nil
}

// luaCall is one call of one script: its keys and arguments, in the order
// of the script's header, and, once run, its reply or error.
type luaCall struct {
	script *redis.Script
	keys   []string
	args   []any

	reply []any
	err   error
	// wait is the WAIT that ended the call's pipeline, in a durable run
	// with Config.WaitReplicas set (write.go); nil otherwise.
	wait *redis.Cmd
}

// scriptAttempts bounds how often one call is sent: once, and once more
// after the script cache was reloaded.
const scriptAttempts = 2

// runScripts runs calls in one round trip (pipelined EVALSHAs) and gives
// each its reply or its error, translated at the storage edge. It is the
// one place a script missing from the server's cache (a restarted or
// failed-over Redis answers NOSCRIPT) is handled: every script is loaded
// again and the refused calls are sent once more, no more. A durable run
// ends its pipelines with WAIT (write.go): submissions use it.
func (c *Client) runScripts(ctx context.Context, durable bool, calls ...*luaCall) {
	c.runScriptsWith(ctx, durable, nil, calls...)
}

// runScriptsWith is runScripts with more commands in the first round
// trip: before (when not nil) adds them to its write first. Its error is
// every call's.
func (c *Client) runScriptsWith(ctx context.Context, durable bool, before func(context.Context, *write) error, calls ...*luaCall) {
	todo := calls
	for attempt := 1; len(todo) > 0; attempt++ {
		c.sendScripts(ctx, durable, before, todo)
		before = nil // sent with the first attempt
		var again []*luaCall
		for _, cl := range todo {
			if isNoScript(cl.err) {
				again = append(again, cl)
			}
		}
		if len(again) == 0 || attempt == scriptAttempts {
			break
		}
		if err := c.scripts.preload(ctx, c.rdb); err != nil {
			for _, cl := range again {
				cl.err = err
			}
			break
		}
		todo = again
	}
	for _, cl := range calls {
		if cl.err == nil && len(cl.reply) == 0 {
			cl.err = errors.New("lua script returned an empty reply")
		}
		cl.err = storageErr(cl.err)
	}
}

// sendScripts sends calls once: a lone call on its own, several (or a
// durable one, or with more commands before) through write pipelines.
func (c *Client) sendScripts(ctx context.Context, durable bool, before func(context.Context, *write) error, calls []*luaCall) {
	if len(calls) == 1 && before == nil && !(durable && c.waitReplicas > 0) {
		cl := calls[0]
		cl.reply, cl.err = cl.script.EvalSha(ctx, c.rdb, cl.keys, cl.args...).Slice()
		return
	}
	w := c.newWrite(durable)
	if before != nil {
		if err := before(ctx, w); err != nil {
			for _, cl := range calls {
				cl.reply, cl.err = nil, err
			}
			return
		}
	}
	cmds := make([]*redis.Cmd, len(calls))
	pipes := make([]*writePipe, len(calls))
	for i, cl := range calls {
		p, err := w.pipeFor(ctx, cl.keys[0])
		if err != nil {
			cl.reply, cl.err = nil, err
			continue
		}
		pipes[i], cmds[i] = p, cl.script.EvalSha(ctx, p, cl.keys, cl.args...)
	}
	w.exec(ctx)
	for i, cl := range calls {
		if cmds[i] != nil {
			cl.reply, cl.err = cmds[i].Slice()
			cl.wait = pipes[i].wait
		}
	}
}

// runScript runs one call and returns its reply.
func (c *Client) runScript(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]any, error) {
	cl := &luaCall{script: s, keys: keys, args: args}
	c.runScripts(ctx, false, cl)
	return cl.reply, cl.err
}

// isNoScript reports a script missing from the server cache.
func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

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

// batchRows is the per-item rows of a batch script's reply: the
// elements after its first head ones, one per item. A reply of another
// length is an error (a script and its caller out of step).
func batchRows(reply []any, head, items int, name string) ([]any, error) {
	if len(reply) != head+items {
		return nil, fmt.Errorf("%s: %d replies for %d items", name, len(reply)-head, items)
	}
	return reply[head:], nil
}

// rowError is scriptError for one row of a batch script's reply.
func rowError(row any, id string, to State) error {
	r, _ := row.([]any)
	if len(r) == 0 {
		return fmt.Errorf("job %s: unexpected script reply %v", id, row)
	}
	return scriptError(r, id, to)
}
