package queue

import (
	"context"
	"fmt"
)

// luaSchedulePause runs lua/schedule_pause.lua: pause the schedule, or
// resume it due at next (ms; unused by a pause); now (ms) stamps the
// change.
func (c *Client) luaSchedulePause(ctx context.Context, name string, pause bool, next, now int64) error {
	flag := "0"
	if pause {
		flag = "1"
	}
	k := c.keys
	res, err := c.runScript(ctx, c.scripts.schedulePause,
		[]string{k.schedule(name), k.schedulesDue()}, name, flag, next, now)
	if err != nil {
		return fmt.Errorf("pause schedule %s: %w", name, err)
	}
	return scheduleError(res, name)
}

// scheduleError maps the status of a schedule script that answers OK or
// NOT_FOUND.
func scheduleError(res []any, name string) error {
	switch code, _ := res[0].(int64); code {
	case codeOK:
		return nil
	case codeNotFound:
		return fmt.Errorf("schedule %s: %w", name, ErrScheduleNotFound)
	default:
		return fmt.Errorf("schedule %s: unknown script status %v", name, res[0])
	}
}
