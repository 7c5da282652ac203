package queue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"
)

// A job of a pipeline keeps neither its key nor its edges in its hash
// (layout 3, pipeline.go): its parents and children are in its pipeline's graph,
// which never changes once the pipeline is created. A Client reads a
// pipeline's graph once and keeps it (pipeGraphs), so that the claims,
// the reads of parents' results and the completions of its jobs learn
// their edges without Redis reading or sending them once per job: every
// field of a job's hash costs each claim of it a read, a reply and a
// scan of the hash's compact encoding.

// pipeGraphNodes bounds the nodes (jobs) of the graphs a Client keeps:
// about 20 MB at 200 bytes a node.
const pipeGraphNodes = 100_000

// pipeGraphs is the graphs of pipelines a Client has read, by pipeline
// id, the oldest dropped first past pipeGraphNodes nodes in all.
type pipeGraphs struct {
	mu     sync.Mutex
	graphs map[string]*pipeGraph
	order  []string // ids, oldest first
	nodes  int
	max    int // pipeGraphNodes; smaller in tests
}

// get is the graph kept for pipeline pid, nil if none is.
func (p *pipeGraphs) get(pid string) *pipeGraph {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.graphs[pid]
}

// put keeps g as pipeline pid's graph, dropping the oldest kept past the
// bound (a graph alone bigger than the bound is not kept).
func (p *pipeGraphs) put(pid string, g *pipeGraph) {
	p.mu.Lock()
	defer p.mu.Unlock()
	limit := cmp.Or(p.max, pipeGraphNodes)
	if p.graphs == nil {
		p.graphs = map[string]*pipeGraph{}
	}
	if _, ok := p.graphs[pid]; ok || len(g.nodes) > limit {
		return
	}
	for p.nodes+len(g.nodes) > limit && len(p.order) > 0 {
		old := p.order[0]
		p.order = p.order[1:]
		p.nodes -= len(p.graphs[old].nodes)
		delete(p.graphs, old)
	}
	p.graphs[pid] = g
	p.order = append(p.order, pid)
	p.nodes += len(g.nodes)
}

// pipeGraphsOf is the graphs of the pipelines pids (each once), from
// those kept or, for the others, read in one round trip and kept. A
// pipeline that is gone has no graph in the map.
func (c *Client) pipeGraphsOf(ctx context.Context, pids []string) (map[string]*pipeGraph, error) {
	out := make(map[string]*pipeGraph, len(pids))
	cmds := map[string]*redis.StringCmd{}
	var pipe redis.Pipeliner
	for _, pid := range pids {
		if _, ok := out[pid]; ok || cmds[pid] != nil {
			continue
		}
		if g := c.graphs.get(pid); g != nil {
			out[pid] = g
			continue
		}
		if pipe == nil {
			pipe = c.rdb.Pipeline()
		}
		cmds[pid] = pipe.HGet(ctx, c.shards.of(pid).pipeline(pid), "graph")
	}
	if pipe == nil {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, storageErr(err)
	}
	for pid, cmd := range cmds {
		if cmd.Err() != nil { // redis.Nil: the pipeline is gone
			continue
		}
		var nodes []pipeNode
		if err := json.Unmarshal([]byte(cmd.Val()), &nodes); err != nil {
			return nil, fmt.Errorf("pipeline %s: its graph: %w", pid, err)
		}
		g := newPipeGraph(nodes)
		c.graphs.put(pid, g)
		out[pid] = g
	}
	return out, nil
}

// withEdges gives each job of jobs that belongs to a pipeline and whose
// edges are not known yet its key, parents and children, from its
// pipeline's graph. A job missing from its graph (or whose pipeline is
// gone) gets none.
func (c *Client) withEdges(ctx context.Context, jobs []*Job) error {
	return c.fillEdges(ctx, len(jobs), func(i int) string {
		if jobs[i].edges {
			return ""
		}
		return jobs[i].Pipeline
	}, func(i int, g *pipeGraph) {
		j := jobs[i]
		key, parents, children := g.edges(j.ID)
		j.PipelineKey = cmp.Or(j.PipelineKey, key)
		j.parents, j.children, j.edges = parents, children, true
	})
}

// runEdges is withEdges for completions: each run of a pipeline whose
// children are not known gets them.
func (c *Client) runEdges(ctx context.Context, runs []completeRun) error {
	return c.fillEdges(ctx, len(runs), func(i int) string {
		if runs[i].edges {
			return ""
		}
		return runs[i].pipeline
	}, func(i int, g *pipeGraph) {
		_, _, runs[i].children = g.edges(runs[i].id)
		runs[i].edges = true
	})
}

// fillEdges hands each of n items that lacks its edges (lacking: its
// pipeline's id, "" for an item that needs none) its pipeline's graph
// (nil for a pipeline that is gone), the graphs read in one round trip
// at most (pipeGraphsOf). Items that need none cost no read.
func (c *Client) fillEdges(ctx context.Context, n int, lacking func(i int) string, fill func(i int, g *pipeGraph)) error {
	var pids []string
	for i := range n {
		if pid := lacking(i); pid != "" {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil
	}
	graphs, err := c.pipeGraphsOf(ctx, pids)
	if err != nil {
		return err
	}
	for i := range n {
		if pid := lacking(i); pid != "" {
			fill(i, graphs[pid])
		}
	}
	return nil
}

// edges is job id's key, parents (key → job id) and children in the
// graph (none for a job not in it, or a nil graph). A child's priority is
// "" for 0 (pipeChild).
func (g *pipeGraph) edges(id string) (string, map[string]string, []pipeChild) {
	if g == nil {
		return "", nil, nil
	}
	at := g.byID(id)
	if at < 0 {
		return "", nil, nil
	}
	var parents map[string]string
	if n := g.nodes[at]; len(n.DependsOn) > 0 {
		parents = make(map[string]string, len(n.DependsOn))
		for _, d := range n.DependsOn {
			parents[d] = g.nodes[g.byKey[d]].ID
		}
	}
	var children []pipeChild
	for _, k := range g.kids[at] {
		n := g.nodes[k]
		prio := ""
		if n.Priority != 0 {
			prio = strconv.Itoa(n.Priority)
		}
		children = append(children, pipeChild{id: n.ID, queue: cmp.Or(n.Queue, DefaultQueue), typ: n.Type,
			parents: len(n.DependsOn), priority: prio})
	}
	return g.nodes[at].Key, parents, children
}
