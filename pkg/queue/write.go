package queue

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// write is where the script calls of one round trip go: a single
// pipeline, or, for a durable write (a submission) with WAIT on a cluster,
// one pipeline per master, each ending with WAIT on the connection that
// wrote (WAIT counts the replicas that have this connection's writes; a
// cluster client would send the keyless WAIT to any master).
type write struct {
	c *Client
	// wait: end each pipeline with WAIT (a durable write, with
	// Config.WaitReplicas set).
	wait  bool
	pipes map[string]*writePipe // by master address ("" without WAIT on a cluster)
}

type writePipe struct {
	redis.Pipeliner
	wait *redis.Cmd // WAIT at its end, with Config.WaitReplicas
}

// newWrite starts a write; a durable one waits for Config.WaitReplicas.
func (c *Client) newWrite(durable bool) *write {
	return &write{c: c, wait: durable && c.waitReplicas > 0, pipes: map[string]*writePipe{}}
}

// pipeFor is the pipeline for a script call whose first key is key.
func (w *write) pipeFor(ctx context.Context, key string) (*writePipe, error) {
	addr, pipeline := "", w.c.rdb.Pipeline
	if cc, cluster := w.c.rdb.(*redis.ClusterClient); cluster && w.wait {
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, storageErr(err)
		}
		addr, pipeline = node.Options().Addr, node.Pipeline
	}
	p := w.pipes[addr]
	if p == nil {
		p = &writePipe{Pipeliner: pipeline()}
		w.pipes[addr] = p
	}
	return p, nil
}

// exec sends every pipeline (at once when there are several); each
// command's own result tells how it went.
func (w *write) exec(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range w.pipes {
		if w.wait {
			// Pipeliner has no Wait; the read timeout of the connection
			// must exceed waitTimeout (redisconn checks it).
			p.wait = p.Do(ctx, "wait", w.c.waitReplicas, w.c.waitTimeout.Milliseconds())
		}
		if len(w.pipes) == 1 { // the usual case: no goroutine on the hot path
			_, _ = p.Exec(ctx)
			return
		}
		wg.Go(func() { _, _ = p.Exec(ctx) })
	}
	wg.Wait()
}

// replicated tells why a WAIT at the end of a write pipeline fell short:
// nil when there was none or enough replicas acknowledged.
func (c *Client) replicated(wait *redis.Cmd) error {
	if wait == nil {
		return nil
	}
	n, err := wait.Int64()
	if err != nil {
		return fmt.Errorf("%w: WAIT: %v", ErrNotReplicated, err)
	}
	if n < int64(c.waitReplicas) {
		return fmt.Errorf("%w: %d of %d replicas within %s", ErrNotReplicated, n, c.waitReplicas, c.waitTimeout)
	}
	return nil
}
