package queue

import (
	"context"
	"fmt"
)

// luaPipelineRestart runs lua/pipeline_restart.lua on jobs of pipeline
// pid (nodes of g, parents first): in mode "job", jobs[0] (which must be
// failed or cancelled) and the failed or cancelled jobs below it; in mode
// "pipeline" (which must be failed or cancelled), every failed or
// cancelled one. Each goes back to pending, or waiting while a parent has
// not completed. It returns how many it restarted.
func (c *Client) luaPipelineRestart(ctx context.Context, pid, mode string, g *pipeGraph, jobs []int) (int, error) {
	k := c.shards.of(pid)
	keys := []string{k.counts(), k.done(StateFailed), k.done(StateCancelled), k.seq(), k.waiting(),
		k.queues(), k.pipeline(pid), k.pipelinesDone()}
	args := []any{c.keys.eventsChannel(), c.wakeCap, pid, mode}
	nodes := make([]pipeNode, len(jobs))
	for i, at := range jobs {
		j := g.nodes[at]
		nodes[i] = j
		parents := g.parentIDs(at)
		keys = append(keys, k.job(j.ID), k.lane(j.Queue, j.Type), k.laneWake(j.Queue, j.Type), k.laneTypes(j.Queue))
		for _, p := range parents {
			keys = append(keys, k.job(p))
		}
		args = append(args, j.ID, j.Type, j.Queue, len(parents))
	}
	res, err := c.runScript(ctx, c.scripts.pipelineRestart, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("restart in pipeline %s: %w", pid, err)
	}
	if err := pipelineScriptError(res, pid, mode, nodes, StatePending); err != nil {
		return 0, err
	}
	n, _ := res[1].(int64)
	return int(n), nil
}
