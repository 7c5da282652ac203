package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// What clients do to pipelines (pipeline.go has the model): submit one,
// read one, cancel or restart one; and the routing of a job's own
// transitions to the pipeline scripts when the job is in a pipeline.

// PipelineSubmitted is a created pipeline.
type PipelineSubmitted struct {
	ID        string
	Status    PipelineStatus
	CreatedAt time.Time
	// Jobs maps each job's key to its id.
	Jobs map[string]string
}

// SubmitPipeline creates a pipeline and all its jobs at once, or nothing:
// an invalid job is a *PipelineItemError, a unique key held a
// *DuplicateError. The pipeline and its jobs live in one shard: its
// unique key's, else the shard of its first limited type (whose running
// count is the fleet's, limits.go), else the next in turn.
func (c *Client) SubmitPipeline(ctx context.Context, p PipelineParams) (*PipelineSubmitted, error) {
	ps, ids, err := c.preparePipeline(ctx, &p)
	if err != nil {
		return nil, err
	}
	res, err := c.submitPipeline(ctx, ps)
	if err != nil {
		return nil, err
	}
	if res.created == "" {
		return nil, res.err
	}
	return &PipelineSubmitted{ID: ps.id, Status: PipelineRunning, CreatedAt: msTime(res.created), Jobs: ids}, res.err
}

// preparePipeline checks p and lays it out for pipeline_submit.lua: ids
// for the pipeline and its jobs (in its shard) and its graph, which holds
// every job's edges (pipegraphs.go). It returns the ids of the jobs by key.
func (c *Client) preparePipeline(ctx context.Context, p *PipelineParams) (*pipeSubmit, map[string]string, error) {
	if _, err := p.Validate(); err != nil {
		return nil, nil, err
	}
	n, err := c.pipelineShard(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	ids := make(map[string]string, len(p.Jobs))
	for _, j := range p.Jobs {
		ids[j.Key] = c.shards.newID(n)
	}
	nodes := make([]pipeNode, len(p.Jobs))
	for i, j := range p.Jobs {
		nodes[i] = pipeNode{Key: j.Key, ID: ids[j.Key], Type: j.Type, Queue: j.Queue, DependsOn: j.DependsOn,
			Priority: j.Priority}
	}
	graph, err := json.Marshal(nodes)
	if err != nil {
		return nil, nil, err
	}
	ps := &pipeSubmit{id: c.shards.newID(n), uniqueKey: p.UniqueKey, graph: string(graph),
		callback: p.CallbackURL, owner: p.Owner, jobs: make([]pipeSubmitJob, len(p.Jobs))}
	for i := range p.Jobs {
		ps.jobs[i] = pipeSubmitJob{id: ids[p.Jobs[i].Key], p: &p.Jobs[i]}
	}
	return ps, ids, nil
}

// coalescedPipelineJobs is the most jobs of a pipeline submitted with
// whatever other submissions are waiting (pipeSubmits); a bigger one goes
// alone, so that no script call holds Redis for long.
const coalescedPipelineJobs = 100

// pipelineSubmitChunk bounds the pipelines of one coalesced call.
const pipelineSubmitChunk = 16

// submitPipeline creates ps, with the other pipelines being submitted
// when it is small.
func (c *Client) submitPipeline(ctx context.Context, ps *pipeSubmit) (pipeCreated, error) {
	if len(ps.jobs) > coalescedPipelineJobs {
		return c.luaPipelineSubmit(ctx, []*pipeSubmit{ps})[0], nil
	}
	res, err := c.pipeSubmits.do(ctx, []*pipeSubmit{ps})
	if err != nil {
		return pipeCreated{}, err
	}
	return res[0], nil
}

// pipelineShard is the shard a pipeline is created in.
func (c *Client) pipelineShard(ctx context.Context, p *PipelineParams) (int, error) {
	if len(c.shards) == 1 {
		return 0, nil
	}
	if p.UniqueKey != "" {
		return c.shards.home("unique:" + p.UniqueKey), nil
	}
	for _, j := range p.Jobs {
		limited, err := c.isLimited(ctx, j.Type)
		if err != nil {
			return 0, err
		}
		if limited {
			return c.shards.home("type:" + j.Type), nil
		}
	}
	return c.batchShard(), nil
}

// readPipeline reads a pipeline's hash: the pipeline without its jobs'
// records, and its graph.
func (c *Client) readPipeline(ctx context.Context, id string) (*Pipeline, *pipeGraph, error) {
	h, err := c.rdb.HGetAll(ctx, c.shards.of(id).pipeline(id)).Result()
	if err != nil {
		return nil, nil, storageErr(err)
	}
	if len(h) == 0 {
		return nil, nil, fmt.Errorf("pipeline %s: %w", id, ErrPipelineNotFound)
	}
	p, g := pipelineFromHash(id, h)
	return p, g, nil
}

// GetPipeline reads a pipeline and its jobs' records (two round trips).
func (c *Client) GetPipeline(ctx context.Context, id string) (*Pipeline, error) {
	p, _, err := c.readPipeline(ctx, id)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(p.Jobs))
	for i, m := range p.Jobs {
		ids[i] = m.ID
	}
	jobs, err := c.GetMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range p.Jobs {
		p.Jobs[i].Job = jobs[i]
	}
	return p, nil
}

// CancelPipeline cancels every unfinished job of a running pipeline (a
// running one at once and for good, as Cancel does). An ended pipeline
// gives *PipelineStateError.
func (c *Client) CancelPipeline(ctx context.Context, id string) error {
	_, g, err := c.readPipeline(ctx, id)
	if err != nil {
		return err
	}
	_, err = c.luaPipelineCancel(ctx, id, "pipeline", "", g.nodes)
	return err
}

// RestartPipeline runs the failed and cancelled jobs of a failed or
// cancelled pipeline again under their ids; those with a parent not
// completed wait again. Completed jobs keep their results. A running or
// completed pipeline gives *PipelineStateError.
func (c *Client) RestartPipeline(ctx context.Context, id string) error {
	_, g, err := c.readPipeline(ctx, id)
	if err != nil {
		return err
	}
	_, err = c.luaPipelineRestart(ctx, id, "pipeline", g, g.order)
	return err
}

// jobInPipeline reads the graph of pipeline pid and finds job id in it.
func (c *Client) jobInPipeline(ctx context.Context, pid, id string) (*pipeGraph, int, error) {
	_, g, err := c.readPipeline(ctx, pid)
	if err != nil {
		return nil, 0, err
	}
	at := g.byID(id)
	if at < 0 {
		return nil, 0, fmt.Errorf("job %s is not in its pipeline %s's graph", id, pid)
	}
	return g, at, nil
}

// cancelInPipeline cancels job id of pipeline pid and every unfinished
// job below it (with an error naming it).
func (c *Client) cancelInPipeline(ctx context.Context, pid, id string) error {
	g, at, err := c.jobInPipeline(ctx, pid, id)
	if err != nil {
		return err
	}
	jobs := []pipeNode{g.nodes[at]}
	for _, b := range g.below(at) {
		jobs = append(jobs, g.nodes[b])
	}
	why := fmt.Sprintf("cancelled: job %s (%s) was cancelled", g.nodes[at].Key, id)
	_, err = c.luaPipelineCancel(ctx, pid, "job", why, jobs)
	return err
}

// restartInPipeline restarts job id of pipeline pid and the failed or
// cancelled jobs below it.
func (c *Client) restartInPipeline(ctx context.Context, pid, id string) error {
	g, at, err := c.jobInPipeline(ctx, pid, id)
	if err != nil {
		return err
	}
	_, err = c.luaPipelineRestart(ctx, pid, "job", g, append([]int{at}, g.below(at)...))
	return err
}

// failInPipeline records a failed run of job j of a pipeline (token ""
// for the reaper's), cancelling the jobs below it when it fails for good.
func (c *Client) failInPipeline(ctx context.Context, j *Job, token, message string, permanent bool, backoff time.Duration) (State, error) {
	g, at, err := c.jobInPipeline(ctx, j.Pipeline, j.ID)
	if err != nil {
		return "", err
	}
	below := g.below(at)
	ids := make([]string, len(below))
	for i, b := range below {
		ids[i] = g.nodes[b].ID
	}
	if j.PipelineKey == "" {
		j.PipelineKey = g.nodes[at].Key
	}
	return c.luaPipelineFail(ctx, j, token, message, permanent, backoff, ids)
}

// reapInPipeline fails job id of pipeline pid (queue, typ), whose lease
// expired with no attempts left, and cancels the jobs below it. It
// reports whether it did (a job no longer so is left alone).
func (c *Client) reapInPipeline(ctx context.Context, id, queue, typ, pid string) (bool, error) {
	j := &Job{ID: id, Queue: cmp.Or(queue, DefaultQueue), Type: typ, Pipeline: pid}
	_, err := c.failInPipeline(ctx, j, "", "", false, 0)
	var te *TransitionError
	if errors.As(err, &te) || errors.Is(err, ErrJobNotFound) {
		return false, nil
	}
	return err == nil, err
}

// inputsChunk bounds the jobs of one coalesced read of inputs.
const inputsChunk = 256

// inputsRead is one job's inputs as readInputs read them.
type inputsRead struct {
	inputs map[string]json.RawMessage
	err    error
}

// readInputs is inputsOf for the inputReads coalescer: the inputs of
// concurrent handlers (those of a claim start together) in one round trip.
func (c *Client) readInputs(ctx context.Context, jobs []*Job) []inputsRead {
	in, err := c.inputsOf(ctx, jobs)
	out := make([]inputsRead, len(jobs))
	for i := range out {
		if err != nil {
			out[i].err = err
		} else {
			out[i].inputs = in[i]
		}
	}
	return out
}

// inputsOf reads the results of the parents of a job of a pipeline, by
// their keys, in one round trip for all of jobs (nil maps for jobs
// without parents); a parent of several of them (the jobs below one job
// are often claimed together) is read once.
func (c *Client) inputsOf(ctx context.Context, jobs []*Job) ([]map[string]json.RawMessage, error) {
	if err := c.withEdges(ctx, jobs); err != nil {
		return nil, err
	}
	out := make([]map[string]json.RawMessage, len(jobs))
	pipe := c.rdb.Pipeline()
	cmds := map[string]*redis.StringCmd{}
	for _, j := range jobs {
		for _, id := range j.parents {
			if cmds[id] == nil {
				cmds[id] = pipe.HGet(ctx, c.shards.of(id).job(id), fResult)
			}
		}
	}
	if len(cmds) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, storageErr(err)
	}
	for i, j := range jobs {
		if len(j.parents) == 0 {
			continue
		}
		out[i] = make(map[string]json.RawMessage, len(j.parents))
		for key, id := range j.parents {
			v := strings.TrimSpace(cmds[id].Val())
			if v == "" {
				v = "null" // a parent that returned nothing
			}
			out[i][key] = json.RawMessage(v)
		}
	}
	return out, nil
}
