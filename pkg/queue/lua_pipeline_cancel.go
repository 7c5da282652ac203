package queue

import (
	"context"
	"fmt"
)

// luaPipelineCancel runs lua/pipeline_cancel.lua on jobs of pipeline
// pid (nodes of its graph): in mode "job", jobs[0] (which must be
// unfinished) and the jobs below it (cancelled with error why); in mode
// "pipeline" (which must be running), every unfinished one. It returns
// how many it cancelled.
func (c *Client) luaPipelineCancel(ctx context.Context, pid, mode, why string, jobs []pipeNode) (int, error) {
	k := c.shards.of(pid)
	keys := make([]string, 0, 8+5*len(jobs))
	keys = append(keys, k.counts(), k.leases(), k.typeRunning(), k.typeLimits(), k.done(StateCancelled),
		k.waiting(), k.pipeline(pid), k.pipelinesDone())
	args := make([]any, 0, 6+len(jobs))
	args = append(args, c.keys.eventsChannel(), c.keys.cancelChannel(), c.wakeCap, pid, mode, why)
	for _, j := range jobs {
		keys = append(keys, k.job(j.ID), k.lane(j.Queue, j.Type), k.scheduled(j.Queue), k.retrying(j.Queue),
			k.laneWake(j.Queue, j.Type))
		args = append(args, j.ID)
	}
	keys = append(keys, k.hooks(), k.history())
	res, err := c.runScript(ctx, c.scripts.pipelineCancel, keys, args...)
	if err != nil {
		return 0, fmt.Errorf("cancel in pipeline %s: %w", pid, err)
	}
	if err := pipelineScriptError(res, pid, mode, jobs, StateCancelled); err != nil {
		return 0, err
	}
	n, _ := res[1].(int64)
	return int(n), nil
}

// pipelineScriptError is scriptError for the scripts that act on a whole
// pipeline (mode "pipeline": a refusal names the pipeline's status) or on
// one job of it and those below (mode "job": the first job's).
func pipelineScriptError(res []any, pid, mode string, jobs []pipeNode, to State) error {
	code, _ := res[0].(int64)
	if mode == "pipeline" && code == codeWrongState {
		status, _ := res[1].(string)
		action := "cancel"
		if to == StatePending {
			action = "restart"
		}
		return &PipelineStateError{ID: pid, Status: PipelineStatus(status), Action: action}
	}
	if mode == "pipeline" && code == codeNotFound {
		return fmt.Errorf("pipeline %s: %w", pid, ErrPipelineNotFound)
	}
	id := pid
	if len(jobs) > 0 {
		id = jobs[0].ID
	}
	return scriptError(res, id, to)
}
