package queue

import (
	"context"
	"fmt"
)

// tickClaim is one tick of a schedule as schedule_tick.lua claims it.
type tickClaim struct {
	name       string
	tick, next int64 // ms
	jobID      string
	catchUp    bool
	jobErr     string
}

// luaScheduleTick runs lua/schedule_tick.lua: the schedule moves on from
// tick to next, recording the tick's job (or why there is none). claimed
// is false when another call claimed the tick first, or the schedule is
// gone.
func (c *Client) luaScheduleTick(ctx context.Context, t tickClaim) (claimed bool, err error) {
	k := c.keys
	catchUp := "0"
	if t.catchUp {
		catchUp = "1"
	}
	res, err := c.runScript(ctx, c.scripts.scheduleTick, []string{k.schedule(t.name), k.schedulesDue()},
		t.name, t.tick, t.next, t.jobID, catchUp, t.jobErr)
	if err != nil {
		return false, fmt.Errorf("schedule %s tick: %w", t.name, err)
	}
	switch code, _ := res[0].(int64); code {
	case codeOK:
		return true, nil
	case codeNotFound, codeWrongState:
		return false, nil
	default:
		return false, fmt.Errorf("schedule %s tick: unknown script status %v", t.name, res[0])
	}
}
