package queue

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// List paging limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
	// listScanBudget bounds the index entries one List call reads when
	// filters discard most of them; the page then comes back short with a
	// cursor to go on from.
	listScanBudget = 5000
)

// ListParams selects jobs. Every filter is optional.
type ListParams struct {
	Status State
	Type   string
	Queue  string
	// Cursor is a previous page's NextCursor; "" starts at the beginning.
	Cursor string
	// Limit is the page size, 1-MaxListLimit; 0 means DefaultListLimit.
	Limit int
	// WithPayload and WithResult read each job's payload and result too.
	// Without them the jobs come with neither (Payload and Result nil),
	// and List reads only the other fields, which stay small however
	// large the payloads are.
	WithPayload, WithResult bool
	// MaxBytes bounds the bytes of job fields a page holds, payloads and
	// results included when asked for; once they are spent the page ends
	// early, with a cursor to go on from. A page always holds at least one
	// job. 0 means DefaultListBytes.
	MaxBytes int
}

// ListPage is one page of jobs; NextCursor is "" on the last page.
type ListPage struct {
	Jobs       []*Job
	NextCursor string
}

// listSource is one index List walks: a state's sorted set (per queue for
// the waiting states, per lane — queue and type — for pending) in one
// shard. Finished jobs are listed newest first, the others in the order
// they will run.
type listSource struct {
	state State
	queue string
	typ   string // pending only: the lane's type
	shard int
}

func (c *Client) sourceKey(s listSource) string {
	k := c.shards[s.shard]
	switch s.state {
	case StatePending:
		return k.lane(s.queue, s.typ)
	case StateScheduled:
		return k.scheduled(s.queue)
	case StateRetrying:
		return k.retrying(s.queue)
	case StateRunning:
		return k.leases()
	case StateWaiting:
		return k.waiting()
	default:
		return k.done(s.state)
	}
}

// List returns a page of jobs in index order: state by state (in
// States() order), and within a state in run order (finished: newest
// first); with several shards, shard by shard within a state, and queue
// by queue within a shard; pending jobs lane by lane (type by type, in
// name order) within a queue, each lane in run order.
// Paging walks live indexes, so jobs that change state between pages may
// be seen twice or not at all; each page is consistent per job.
//
// A cursor carries the filters of the list it pages: a request that
// leaves a filter out gets the cursor's, and one that gives another value
// is refused (ErrInvalid), so a page never mixes two lists.
func (c *Client) List(ctx context.Context, p ListParams) (*ListPage, error) {
	if p.Limit == 0 {
		p.Limit = DefaultListLimit
	}
	if p.Limit < 1 || p.Limit > MaxListLimit {
		return nil, invalidf("limit %d: want 1-%d", p.Limit, MaxListLimit)
	}
	startSrc, offset, filters, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, err
	}
	if filters != nil {
		if p, err = filters.apply(p); err != nil {
			return nil, err
		}
	}
	if p.Status != "" && !p.Status.Valid() {
		return nil, invalidf("status %q: want one of %s", p.Status, stateNames())
	}
	if p.Queue != "" && !namePattern.MatchString(p.Queue) {
		return nil, invalidf("queue %q: want 1-64 of [A-Za-z0-9_.-]", p.Queue)
	}
	if p.Type != "" && !typePattern.MatchString(p.Type) {
		return nil, invalidf("type %q: want 1-128 of [A-Za-z0-9_.:-]", p.Type)
	}
	sources, offset, err := c.sourcesFrom(ctx, p, startSrc, offset)
	if err != nil {
		return nil, err
	}
	return c.walk(ctx, sources, offset, p)
}

// sourcesFrom lists the indexes a list walks, from the cursor's on
// (start, at offset; nil for the first page), leaving out the per-queue
// sets with nothing in them; offset is 0 when the cursor's own is empty.
func (c *Client) sourcesFrom(ctx context.Context, p ListParams, start *listSource, offset int64) ([]listSource, int64, error) {
	sources, err := c.listSources(ctx, p)
	if err != nil {
		return nil, 0, err
	}
	i := 0
	if start != nil {
		if i = slices.Index(sources, *start); i < 0 && start.state == StatePending && start.typ == "" {
			// A cursor from before lanes: the queue's first lane.
			i = slices.IndexFunc(sources, func(s listSource) bool {
				return s.state == start.state && s.queue == start.queue && s.shard == start.shard
			})
		}
		if i < 0 {
			return nil, 0, nil // that index is gone: nothing after it either
		}
	}
	if len(sources) == 0 {
		return nil, 0, nil
	}
	from := sources[i]
	if sources, err = c.dropEmptySources(ctx, sources[i:]); err != nil {
		return nil, 0, err
	}
	if len(sources) == 0 || sources[0] != from {
		offset = 0 // the cursor's own index is empty now
	}
	return sources, offset, nil
}

// walk reads a page from sources, starting at offset in the first: up to
// p.Limit jobs that pass the filters, within p.MaxBytes, and within
// listScanBudget index entries read.
func (c *Client) walk(ctx context.Context, sources []listSource, offset int64, p ListParams) (*ListPage, error) {
	page := &ListPage{Jobs: []*Job{}}
	maxBytes := p.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultListBytes
	}
	budget, bytes := listScanBudget, 0
	for i := 0; i < len(sources) && budget > 0; i, offset = i+1, 0 {
		src := sources[i]
		for budget > 0 {
			n := int64(min(max(p.Limit-len(page.Jobs), 50), budget))
			ids, err := c.rangeSource(ctx, src, offset, n)
			if err != nil {
				return nil, err
			}
			budget -= len(ids)
			jobs, err := c.readSummaries(ctx, ids, p)
			if err != nil {
				return nil, err
			}
			for k, l := range jobs {
				j := l.job
				if j == nil || (p.Type != "" && j.Type != p.Type) || (p.Queue != "" && j.Queue != p.Queue) {
					continue
				}
				if len(page.Jobs) > 0 && bytes+l.bytes > maxBytes {
					// The bytes are spent: this job opens the next page.
					page.NextCursor = encodeCursor(src, offset+int64(k), p)
					return c.finishPage(ctx, page, p)
				}
				bytes += l.bytes
				page.Jobs = append(page.Jobs, j)
				if len(page.Jobs) == p.Limit {
					page.NextCursor = encodeCursor(src, offset+int64(k)+1, p)
					return c.finishPage(ctx, page, p)
				}
			}
			offset += int64(len(ids))
			if int64(len(ids)) < n {
				break // this source is exhausted
			}
		}
		if budget <= 0 {
			page.NextCursor = encodeCursor(src, offset, p)
		}
	}
	return c.finishPage(ctx, page, p)
}

func (c *Client) rangeSource(ctx context.Context, s listSource, offset, n int64) ([]string, error) {
	key := c.sourceKey(s)
	var ids []string
	var err error
	if s.state.Terminal() {
		ids, err = c.rdb.ZRevRange(ctx, key, offset, offset+n-1).Result()
	} else {
		ids, err = c.rdb.ZRange(ctx, key, offset, offset+n-1).Result()
	}
	return ids, storageErr(err)
}

func (c *Client) listSources(ctx context.Context, p ListParams) ([]listSource, error) {
	states := States()
	if p.Status != "" {
		states = []State{p.Status}
	}
	var queues []string
	if p.Queue != "" {
		queues = []string{p.Queue}
	} else {
		var err error
		if queues, err = c.queueNames(ctx); err != nil {
			return nil, err
		}
	}
	lanes, err := c.listLanes(ctx, p, states, queues)
	if err != nil {
		return nil, err
	}
	var out []listSource
	for _, s := range states {
		for n := range c.shards {
			switch s {
			case StatePending:
				for i, q := range queues {
					for _, t := range lanes[n][i] {
						out = append(out, listSource{state: s, queue: q, typ: t, shard: n})
					}
				}
			case StateScheduled, StateRetrying:
				for _, q := range queues {
					out = append(out, listSource{state: s, queue: q, shard: n})
				}
			default:
				out = append(out, listSource{state: s, shard: n})
			}
		}
	}
	return out, nil
}

// listLanes is the types of the lanes a list of pending jobs walks, by
// shard then queue: the one asked for (no read), or each queue's lanes
// (one round trip per shard); nil when no pending job is listed.
func (c *Client) listLanes(ctx context.Context, p ListParams, states []State, queues []string) ([][][]string, error) {
	if !slices.Contains(states, StatePending) {
		return nil, nil
	}
	out := make([][][]string, len(c.shards))
	for n, k := range c.shards {
		if p.Type != "" {
			out[n] = make([][]string, len(queues))
			for i := range queues {
				out[n][i] = []string{p.Type}
			}
			continue
		}
		var err error
		if out[n], err = c.queueLanes(ctx, k, queues); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// listFilters are the filters of a list, as its cursors record them.
type listFilters struct {
	status State
	typ    string
	queue  string
}

// apply returns p with the filters it leaves out taken from f, or
// ErrInvalid when p gives one another value: the cursor pages another list.
func (f listFilters) apply(p ListParams) (ListParams, error) {
	asked := listFilters{p.Status, p.Type, p.Queue}
	if (asked.status != "" && asked.status != f.status) || (asked.typ != "" && asked.typ != f.typ) ||
		(asked.queue != "" && asked.queue != f.queue) {
		return p, invalidf("the cursor pages the list of %s, not of %s: give the same filters, or leave out the cursor to start a new list",
			f, asked)
	}
	p.Status, p.Type, p.Queue = f.status, f.typ, f.queue
	return p, nil
}

// String spells the filters as query parameters ("status=failed&type=x"),
// or "all jobs".
func (f listFilters) String() string {
	var parts []string
	for _, kv := range [][2]string{{"status", string(f.status)}, {"type", f.typ}, {"queue", f.queue}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "all jobs"
	}
	return "jobs with " + strings.Join(parts, "&")
}

// A cursor is base64url of
// "3|state|queue|offset|shard|status|type|queue|lane type": where the next
// page starts (the source and the offset in it), then the list's filters,
// then the source's lane type (pending only). Cursors of the second
// version (no lane type; a pending one starts at its queue's first lane)
// and of the first ("1|state|queue|offset" and an optional shard; no
// filters) are still read.
func encodeCursor(s listSource, offset int64, p ListParams) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("3|%s|%s|%d|%d|%s|%s|%s|%s",
		s.state, s.queue, offset, s.shard, p.Status, p.Type, p.Queue, s.typ)))
}

// decodeCursor reads a cursor: where to start, and the filters it
// records (nil for a first-version cursor).
func decodeCursor(cur string) (*listSource, int64, *listFilters, error) {
	if cur == "" {
		return nil, 0, nil, nil
	}
	bad := invalidf("cursor is not one this server issued")
	b, err := base64.RawURLEncoding.DecodeString(cur)
	parts := strings.Split(string(b), "|")
	switch {
	case err != nil:
		return nil, 0, nil, bad
	case len(parts) == 8 && parts[0] == "2":
	case len(parts) == 9 && parts[0] == "3":
		if parts[8] != "" && !typePattern.MatchString(parts[8]) {
			return nil, 0, nil, bad
		}
	case (len(parts) == 4 || len(parts) == 5) && parts[0] == "1":
	default:
		return nil, 0, nil, bad
	}
	if !State(parts[1]).Valid() || (parts[2] != "" && !namePattern.MatchString(parts[2])) {
		return nil, 0, nil, bad
	}
	off, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || off < 0 {
		return nil, 0, nil, bad
	}
	shard := 0 // cursors issued before shards had four parts
	if len(parts) >= 5 {
		if shard, err = strconv.Atoi(parts[4]); err != nil || shard < 0 || shard >= MaxShards {
			return nil, 0, nil, bad
		}
	}
	src := &listSource{state: State(parts[1]), queue: parts[2], shard: shard}
	if len(parts) == 9 {
		src.typ = parts[8]
	}
	if parts[0] == "1" {
		return src, off, nil, nil
	}
	f := &listFilters{status: State(parts[5]), typ: parts[6], queue: parts[7]}
	if (f.status != "" && !f.status.Valid()) || (f.typ != "" && !typePattern.MatchString(f.typ)) ||
		(f.queue != "" && !namePattern.MatchString(f.queue)) {
		return nil, 0, nil, bad
	}
	return src, off, f, nil
}

func stateNames() string {
	names := make([]string, 0, 7)
	for _, s := range States() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}
