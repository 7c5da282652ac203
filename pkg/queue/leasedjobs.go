package queue

import "sync"

// leasedJobs remembers, for the jobs a Client leased, what completing them
// needs besides their token: their lane (queue and type) and pipeline,
// which never change once a job is submitted. A completion through the
// same Client (an apiserver that served the lease) then skips the round
// trip that reads them, as a Go worker does with the jobs it claimed; a
// completion through another one reads them. Two generations bound it:
// once the newer holds leasedJobsGeneration jobs the older is dropped, so
// the jobs never completed here (failed, expired, completed elsewhere)
// are forgotten.
type leasedJobs struct {
	mu       sync.Mutex
	cur, old map[string]leasedJob
}

type leasedJob struct {
	queue, typ, pipeline string
	children             []pipeChild
	edges                bool // children known
}

// leasedJobsGeneration bounds each generation of leasedJobs.
const leasedJobsGeneration = 20000

// add remembers jobs, just leased.
func (l *leasedJobs) add(jobs []*Job) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, j := range jobs {
		if len(l.cur) >= leasedJobsGeneration || l.cur == nil {
			l.old, l.cur = l.cur, make(map[string]leasedJob, min(leasedJobsGeneration, 1024))
		}
		l.cur[j.ID] = leasedJob{queue: j.Queue, typ: j.Type, pipeline: j.Pipeline, children: j.children, edges: j.edges}
	}
}

// take returns what was remembered of job id, and forgets it.
func (l *leasedJobs) take(id string) (leasedJob, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if j, ok := l.cur[id]; ok {
		delete(l.cur, id)
		return j, true
	}
	j, ok := l.old[id]
	delete(l.old, id)
	return j, ok
}
