package queue

import (
	"context"
	"encoding/json"
)

// logBatch is the lines of one run to write: its job, its run token, how
// many lines its writer dropped before sending (counted in the job's
// logs_dropped) and the lines, already checked and cut.
type logBatch struct {
	id, token string
	dropped   int
	lines     []LogLine
}

// luaLog runs lua/log.lua, one call per shard holding some of the
// batches, in one round trip: each batch is appended to its job's log
// only if its run still holds the job. It returns each batch's outcome
// (nil, or why the run no longer holds its job, or its shard's error).
func (c *Client) luaLog(ctx context.Context, batches []logBatch) []error {
	groups := c.shards.group(len(batches), func(i int) string { return batches[i].id })
	calls := make([]*luaCall, len(groups))
	for gi, g := range groups {
		k := c.shards[g.shard]
		keys := make([]string, 0, 2*len(g.idx))
		args := []any{c.keys.eventsChannel(), c.logLines}
		for _, i := range g.idx {
			b := &batches[i]
			keys = append(keys, k.job(b.id))
			args = append(args, b.id, b.token, b.dropped, len(b.lines))
			for _, l := range b.lines {
				msg, _ := json.Marshal(l.Message) // a string always encodes
				args = append(args, l.Level, l.TimeMS, msg)
			}
		}
		for _, i := range g.idx {
			keys = append(keys, k.log(batches[i].id))
		}
		calls[gi] = &luaCall{script: c.scripts.log, keys: keys, args: args}
	}
	c.runScripts(ctx, false, calls...)
	out := make([]error, len(batches))
	for gi, g := range groups {
		rows, err := calls[gi].reply, calls[gi].err
		if err == nil {
			rows, err = batchRows(rows, 1, len(g.idx), "log")
		}
		for k, i := range g.idx {
			if err != nil {
				out[i] = err
				continue
			}
			out[i] = rowError(rows[k], batches[i].id, StateRunning)
		}
	}
	return out
}
