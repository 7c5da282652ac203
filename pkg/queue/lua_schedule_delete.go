package queue

import (
	"context"
	"fmt"
)

// luaScheduleDelete runs lua/schedule_delete.lua: the schedule is gone.
func (c *Client) luaScheduleDelete(ctx context.Context, name string) error {
	k := c.keys
	res, err := c.runScript(ctx, c.scripts.scheduleDelete,
		[]string{k.schedule(name), k.schedules(), k.schedulesDue()}, name)
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", name, err)
	}
	return scheduleError(res, name)
}
