package queue

import (
	"context"
	"fmt"
)

// luaDelete runs lua/delete.lua on each of jobs, in one round trip:
// removes a finished job, and its unique key (the job's uniqueKey, ""
// for none) while the key still names it. It returns each job's
// outcome, by index.
func (c *Client) luaDelete(ctx context.Context, jobs []jobRef) []error {
	calls := make([]*luaCall, len(jobs))
	for i, j := range jobs {
		k := c.shards.of(j.id)
		uk := k.job(j.id) // the script's "no unique key"
		if j.uniqueKey != "" {
			uk = k.unique(j.uniqueKey)
		}
		calls[i] = &luaCall{script: c.scripts.delete,
			keys: []string{k.job(j.id), k.counts(), k.done(StateCompleted),
				k.done(StateFailed), k.done(StateCancelled), uk, k.jobEvents(j.id), k.log(j.id)},
			args: []any{j.id}}
	}
	c.runScripts(ctx, false, calls...)
	errs := make([]error, len(jobs))
	for i, cl := range calls {
		if cl.err != nil {
			errs[i] = fmt.Errorf("delete %s: %w", jobs[i].id, cl.err)
		} else {
			errs[i] = scriptError(cl.reply, jobs[i].id, "deleted")
		}
	}
	return errs
}
