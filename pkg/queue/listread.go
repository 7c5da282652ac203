package queue

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// How List reads the jobs of a page: their summary fields only, unless
// the payload or the result is asked for, and within a budget of bytes,
// so that a page of jobs with large payloads (up to the API's body limit
// each) costs neither the apiserver nor Redis a multiple of them.

// DefaultListBytes bounds the bytes of job fields one List page holds
// (ListParams.MaxBytes).
const DefaultListBytes = 1 << 20

// summaryFields are the fields of a job List reads without the payload
// and the result: every field a job view shows but those two (the run
// token is the worker's business).
var summaryFields = []string{fType, fQueue, fPriority, fStatus, fProgress, fStep, fError,
	fAttempts, fMaxRetries, fTimeout, fDeadline, fRunAt, fCreatedAt, fStartedAt, fDoneAt, fUpdatedAt,
	fWorker, fRestarts, fVersion, fUnique, fPipeline, fPipeKey}

// listed is one job as List read it: its summary and what its payload and
// result (those asked for) would add to the page, in bytes.
type listed struct {
	job   *Job // nil: the job is gone
	bytes int
}

// readSummaries reads the summary fields of ids, and the lengths of the
// payloads and results p asks for, in one round trip (HMGET and HSTRLEN:
// no payload or result crosses the wire here).
func (c *Client) readSummaries(ctx context.Context, ids []string, p ListParams) ([]listed, error) {
	pipe := c.rdb.Pipeline()
	fields := make([]*redis.SliceCmd, len(ids))
	var payloadLen, resultLen []*redis.IntCmd
	for i, id := range ids {
		key := c.shards.of(id).job(id)
		fields[i] = pipe.HMGet(ctx, key, summaryFields...)
		if p.WithPayload {
			payloadLen = append(payloadLen, pipe.HStrLen(ctx, key, fPayload))
		}
		if p.WithResult {
			resultLen = append(resultLen, pipe.HStrLen(ctx, key, fResult))
		}
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, storageErr(err)
		}
	}
	out := make([]listed, len(ids))
	for i, id := range ids {
		h := make(map[string]string, len(summaryFields))
		for k, v := range fields[i].Val() {
			if s, ok := v.(string); ok {
				h[summaryFields[k]] = s
				out[i].bytes += len(s)
			}
		}
		if h[fStatus] == "" {
			continue // deleted or expired since the index was read
		}
		out[i].job = jobFromHash(id, h)
		if p.WithPayload {
			out[i].bytes += int(payloadLen[i].Val())
		}
		if p.WithResult {
			out[i].bytes += int(resultLen[i].Val())
		}
	}
	return out, nil
}

// finishPage reads the payloads and results p asks for of page's jobs.
func (c *Client) finishPage(ctx context.Context, page *ListPage, p ListParams) (*ListPage, error) {
	if err := c.fillBodies(ctx, page.Jobs, p); err != nil {
		return nil, err
	}
	return page, nil
}

// fillBodies reads the payloads and results p asks for of a page's jobs,
// in one round trip. A job deleted meanwhile keeps what it had.
func (c *Client) fillBodies(ctx context.Context, jobs []*Job, p ListParams) error {
	if !p.WithPayload && !p.WithResult || len(jobs) == 0 {
		return nil
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(jobs))
	for i, j := range jobs {
		cmds[i] = pipe.HMGet(ctx, c.shards.of(j.ID).job(j.ID), fPayload, fResult)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return storageErr(err)
	}
	for i, j := range jobs {
		vals := cmds[i].Val()
		if s, ok := vals[0].(string); ok && p.WithPayload {
			j.Payload = []byte(s)
		}
		if s, ok := vals[1].(string); ok && p.WithResult {
			j.Result = []byte(s)
		}
	}
	return nil
}
