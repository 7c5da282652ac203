package queue

import (
	"context"
	"fmt"
)

// luaScheduleCreate runs lua/schedule_create.lua: a new schedule named
// name, with the hash fields fields (name, value, ...), due at next (ms).
// A taken name is ErrScheduleExists, a full registry ErrScheduleLimit.
func (c *Client) luaScheduleCreate(ctx context.Context, name string, next int64, fields []any) error {
	k := c.keys
	args := append([]any{name, c.maxSchedules, next}, fields...)
	res, err := c.runScript(ctx, c.scripts.scheduleCreate,
		[]string{k.schedule(name), k.schedules(), k.schedulesDue()}, args...)
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", name, err)
	}
	switch code, _ := res[0].(int64); code {
	case codeOK:
		return nil
	case codeDuplicate:
		return fmt.Errorf("schedule %s: %w", name, ErrScheduleExists)
	case codeScheduleLimit:
		return fmt.Errorf("%w: there are %d already (Config.MaxSchedules); delete one first", ErrScheduleLimit, c.maxSchedules)
	default:
		return fmt.Errorf("create schedule %s: unknown script status %v", name, res[0])
	}
}
