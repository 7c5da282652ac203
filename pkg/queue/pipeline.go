package queue

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Pipelines: jobs that wait on other jobs. A pipeline is a directed
// acyclic graph of up to MaxPipelineJobs jobs, created at once (or not
// at all) in one shard, its home, beside its hash: every script that
// moves one of its jobs touches one Redis Cluster slot. A job whose
// parents have not all completed waits (StateWaiting); the completion of
// its last unfinished parent makes it pending in the same script
// (lua/pipeline_complete.lua). A job that fails for good cancels every
// job below it (lua/pipeline_fail.lua); the others run on. The
// pipeline's status follows its jobs: running until each has ended, then
// failed if any failed, cancelled if any was cancelled, else completed.
//
// What each job of a pipeline stores beside a plain job's fields:
//
//	pipeline  the pipeline's id
//	waits     how many of its parents have not completed (waiting only,
//	          and only with several parents: one parent's completion is
//	          always the last)
//
// and the pipeline's hash: status, created_at, completed_at, updated_at,
// version, jobs (their number), completed, failed, cancelled (how many
// ended so), restarts (of jobs of it), layout, unique_key, graph (the
// jobs, JSON: pipeNode, each with its key, id, type, queue, parents and
// priority), and, with a callback URL, callback_url and the delivery
// fields of its last end (deliveries.go), as a job's hash holds them.
//
// A job's key and edges are in the graph only (layout 3): each process
// reads a pipeline's graph once (pipegraphs.go) rather than every claim
// reading them from the job's hash. Before layout 3, each job also
// stored them, and they are still read from there:
//
//	pipeline_key  its key in the pipeline
//	parents       JSON {"<key>": "<job id>"}: whose results it receives
//	children      JSON [["<id>", "<queue>", "<type>", "<its number of parents>", "<its priority, if not 0>"], ...]: whom its completion may unblock
//
// (layout 2: the children's priorities are known; none before it.)
// Workers read both layouts; upgrade them before the processes that
// submit pipelines, since an older worker would complete a job of layout
// 3 without releasing its children.

// MaxPipelineJobs bounds the jobs of one pipeline.
const MaxPipelineJobs = 1000

// pipelineKeyPattern is what a job's key in its pipeline may be.
var pipelineKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// PipelineStatus is a pipeline's place in its lifecycle.
type PipelineStatus string

// The statuses of a pipeline.
const (
	// PipelineRunning: some job of it has not ended.
	PipelineRunning PipelineStatus = "running"
	// PipelineCompleted: every job of it completed.
	PipelineCompleted PipelineStatus = "completed"
	// PipelineFailed: every job ended, and one failed at least.
	PipelineFailed PipelineStatus = "failed"
	// PipelineCancelled: every job ended, none failed, one was cancelled
	// at least (the pipeline, or one of its jobs).
	PipelineCancelled PipelineStatus = "cancelled"
)

// Ended reports whether every job of the pipeline has ended.
func (s PipelineStatus) Ended() bool { return s != PipelineRunning && s != "" }

// PipelineJob is one job of a pipeline submission: the parameters of a
// job, its key in the pipeline and the keys of the jobs it depends on.
type PipelineJob struct {
	EnqueueParams
	// Key names the job in its pipeline: 1-64 of [A-Za-z0-9_-], unique.
	Key string
	// DependsOn are the keys of its parents: it runs once they all
	// completed, and receives their results.
	DependsOn []string
}

// PipelineParams describes a pipeline to submit.
type PipelineParams struct {
	// Jobs are the pipeline's jobs, 1 to MaxPipelineJobs.
	Jobs []PipelineJob
	// UniqueKey, when set, refuses a second pipeline (or job) with the
	// same key while the first one exists (*DuplicateError).
	UniqueKey string
	// Owner, as EnqueueParams.Owner, for every job of the pipeline.
	Owner string
	// CallbackURL, when set, receives the pipeline's record each time
	// the pipeline ends (deliveries.go), as a job's callback URL does
	// its job's.
	CallbackURL string
}

// PipelineItemError is an invalid job of a pipeline submission: the
// whole submission is refused. It wraps ErrInvalid.
type PipelineItemError struct {
	Index int    // the job's index in PipelineParams.Jobs
	Key   string // its key, as given
	Err   error
}

func (e *PipelineItemError) Error() string {
	return fmt.Sprintf("jobs[%d] (key %q): %v", e.Index, e.Key, e.Err)
}

func (e *PipelineItemError) Unwrap() error { return e.Err }

// Validate checks p (filling each job's defaults) and returns the order
// in which its jobs can run: every job after its parents. An invalid job,
// an unknown, duplicate or self reference, or a cycle is a
// *PipelineItemError naming the job.
func (p *PipelineParams) Validate() ([]int, error) {
	if len(p.Jobs) == 0 || len(p.Jobs) > MaxPipelineJobs {
		return nil, invalidf("jobs: want 1 to %d jobs, got %d", MaxPipelineJobs, len(p.Jobs))
	}
	if len(p.UniqueKey) > MaxUniqueKeyLen {
		return nil, invalidf("unique_key longer than %d bytes", MaxUniqueKeyLen)
	}
	if err := ValidateCallbackURL(p.CallbackURL); err != nil {
		return nil, err
	}
	at := make(map[string]int, len(p.Jobs))
	for i := range p.Jobs {
		j := &p.Jobs[i]
		bad := func(err error) error { return &PipelineItemError{Index: i, Key: j.Key, Err: err} }
		if !pipelineKeyPattern.MatchString(j.Key) {
			return nil, bad(invalidf("key %q: want 1-64 of [A-Za-z0-9_-]", j.Key))
		}
		if _, dup := at[j.Key]; dup {
			return nil, bad(invalidf("duplicate key %q", j.Key))
		}
		at[j.Key] = i
		if err := j.EnqueueParams.Validate(); err != nil {
			return nil, bad(err)
		}
		if !j.RunAt.IsZero() {
			return nil, bad(invalidf("run_at: a job of a pipeline runs when its parents complete"))
		}
		if j.UniqueKey != "" {
			return nil, bad(invalidf("unique_key: give the pipeline one, not its jobs"))
		}
	}
	for i, j := range p.Jobs {
		seen := map[string]bool{}
		for _, d := range j.DependsOn {
			var err error
			switch _, ok := at[d]; {
			case !ok:
				err = invalidf("depends_on: unknown key %q", d)
			case d == j.Key:
				err = invalidf("depends_on: the job depends on itself")
			case seen[d]:
				err = invalidf("depends_on: key %q given twice", d)
			}
			if err != nil {
				return nil, &PipelineItemError{Index: i, Key: j.Key, Err: err}
			}
			seen[d] = true
		}
	}
	return p.order(at)
}

// order sorts the jobs so that each comes after its parents (Kahn's
// algorithm, stable in submission order), or names a job on a cycle.
func (p *PipelineParams) order(at map[string]int) ([]int, error) {
	n := len(p.Jobs)
	deps := make([][]int, n)
	for i, j := range p.Jobs {
		for _, d := range j.DependsOn {
			deps[i] = append(deps[i], at[d])
		}
	}
	out, left := topoOrder(deps)
	if left >= 0 {
		return nil, &PipelineItemError{Index: left, Key: p.Jobs[left].Key,
			Err: invalidf("depends_on: the job is on a cycle")}
	}
	return out, nil
}

// topoOrder orders nodes 0..n-1 given each one's parents so that parents
// come first, in index order where free to. left is a node on a cycle,
// or -1 when there is none.
func topoOrder(parents [][]int) (out []int, left int) {
	n := len(parents)
	indeg := make([]int, n)
	kids := make([][]int, n)
	for i, ps := range parents {
		indeg[i] = len(ps)
		for _, p := range ps {
			kids[p] = append(kids[p], i)
		}
	}
	var ready []int
	for i := range n {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		out = append(out, i)
		for _, k := range kids[i] {
			if indeg[k]--; indeg[k] == 0 {
				ready = append(ready, k)
			}
		}
	}
	if len(out) == n {
		return out, -1
	}
	for i := range n {
		if indeg[i] > 0 {
			return nil, i
		}
	}
	return nil, -1 // cannot happen
}

// pipeNode is one job of a pipeline's stored graph.
type pipeNode struct {
	Key       string   `json:"key"`
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Queue     string   `json:"queue"`
	DependsOn []string `json:"depends_on,omitempty"`
	// Priority is the job's priority as submitted (layout 3 on).
	Priority int `json:"priority,omitempty"`
}

// pipeGraph is a pipeline's graph as stored, with its order.
type pipeGraph struct {
	nodes []pipeNode
	byKey map[string]int
	ids   map[string]int // node by job id
	kids  [][]int        // each node's children, in submission order
	order []int          // parents first
}

func newPipeGraph(nodes []pipeNode) *pipeGraph {
	g := &pipeGraph{nodes: nodes, byKey: make(map[string]int, len(nodes)), ids: make(map[string]int, len(nodes)),
		kids: make([][]int, len(nodes))}
	for i, n := range nodes {
		g.byKey[n.Key] = i
		g.ids[n.ID] = i
	}
	parents := make([][]int, len(nodes))
	for i, n := range nodes {
		for _, d := range n.DependsOn {
			parents[i] = append(parents[i], g.byKey[d])
			g.kids[g.byKey[d]] = append(g.kids[g.byKey[d]], i)
		}
	}
	g.order, _ = topoOrder(parents) // acyclic: checked at submission
	return g
}

// byID is the index of job id in the graph, -1 when it is not there.
func (g *pipeGraph) byID(id string) int {
	if i, ok := g.ids[id]; ok {
		return i
	}
	return -1
}

// below is the jobs below node i (its children, theirs, ...), parents
// first.
func (g *pipeGraph) below(i int) []int {
	under := map[int]bool{i: true}
	var out []int
	for _, k := range g.order { // parents first: a node's parents are decided before it
		if under[k] && k != i {
			out = append(out, k)
			continue
		}
		for _, d := range g.nodes[k].DependsOn {
			if under[g.byKey[d]] {
				under[k] = true
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// parentIDs is the job ids of node i's parents.
func (g *pipeGraph) parentIDs(i int) []string {
	out := make([]string, len(g.nodes[i].DependsOn))
	for k, d := range g.nodes[i].DependsOn {
		out[k] = g.nodes[g.byKey[d]].ID
	}
	return out
}

// pipeChild is a child of a job, as its pipeline's graph gives it
// (pipeGraph.edges) or, before layout 3, as its parent stored it: enough
// to name the child's keys when the parent completes, its number of
// parents (0: not known, as stored before it was kept), which lets a
// completion of all of them at once release it without counting down,
// and its priority, which lets a release in a pipeline nothing has
// altered skip reading the child ("" for 0, or not known before layout 2).
type pipeChild struct {
	id, queue, typ string
	parents        int
	priority       string
}

// decodeChildren reads the children field a job stored before layout 3:
// JSON [[id, queue, type, parents, priority], ...], the priority left out
// when 0, and before layout 2 the first three or four columns only; a
// damaged one reads as none.
func decodeChildren(v string) []pipeChild {
	var rows [][5]string
	if json.Unmarshal([]byte(v), &rows) != nil {
		return nil
	}
	out := make([]pipeChild, len(rows))
	for i, r := range rows {
		n, _ := strconv.Atoi(r[3])
		out[i] = pipeChild{id: r[0], queue: r[1], typ: r[2], parents: max(n, 0), priority: r[4]}
	}
	return out
}

// Pipeline is a pipeline as it now is.
type Pipeline struct {
	ID          string
	Status      PipelineStatus
	CreatedAt   time.Time
	CompletedAt time.Time
	UpdatedAt   time.Time
	// Version grows by one on every change of the pipeline's status.
	Version   int64
	UniqueKey string
	// CallbackURL receives the pipeline's record when it ends; "" for none.
	CallbackURL string
	// Delivery is the callback of the pipeline's last end; nil before
	// one (or without a callback URL).
	Delivery *Delivery
	// Jobs are its jobs in submission order.
	Jobs []PipelineMember
}

// PipelineMember is one job of a Pipeline.
type PipelineMember struct {
	Key       string
	DependsOn []string
	// Job is the job's record; nil if it is gone (deleted by hand in Redis).
	Job *Job
	// ID, Type and Queue are the job's, as submitted.
	ID, Type, Queue string
}

// Progress is the mean of its jobs' progress (0-100).
func (p *Pipeline) Progress() float64 {
	if len(p.Jobs) == 0 {
		return 0
	}
	sum := 0.0
	for _, m := range p.Jobs {
		if m.Job != nil {
			sum += m.Job.Progress
		}
	}
	return sum / float64(len(p.Jobs))
}

// pipelineFromHash builds a Pipeline (without its jobs' records) from its hash.
func pipelineFromHash(id string, h map[string]string) (*Pipeline, *pipeGraph) {
	p := &Pipeline{ID: id, Status: PipelineStatus(h["status"]), CreatedAt: msTime(h["created_at"]),
		CompletedAt: msTime(h["completed_at"]), UpdatedAt: msTime(h["updated_at"]), UniqueKey: h["unique_key"],
		CallbackURL: h[fCallback]}
	p.Version, _ = strconv.ParseInt(h["version"], 10, 64)
	for _, f := range []string{fHookID, fHookState, fHookTries, fHookAttempts, fHookToken} {
		if v, ok := h[f]; ok {
			deliveryField(&p.Delivery, f, v)
		}
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	var nodes []pipeNode
	_ = json.Unmarshal([]byte(h["graph"]), &nodes) // written by SubmitPipeline only
	for _, n := range nodes {
		p.Jobs = append(p.Jobs, PipelineMember{Key: n.Key, DependsOn: n.DependsOn, ID: n.ID, Type: n.Type, Queue: n.Queue})
	}
	return p, newPipeGraph(nodes)
}
