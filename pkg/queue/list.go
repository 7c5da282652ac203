package queue

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
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
	// CreatedAfter and CreatedBefore, when set, keep the jobs created at
	// or after the one and before the other (to the millisecond).
	CreatedAfter, CreatedBefore time.Time
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

	// states, when set, are the states a list without a Status filter
	// walks, instead of all of them (a bulk action's).
	states []State
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
	return c.listPage(ctx, p)
}

// listPage reads the page p asks for (its limit already checked): the
// cursor's filters applied, every filter checked, the walk from the
// cursor's position on.
func (c *Client) listPage(ctx context.Context, p ListParams) (*ListPage, error) {
	startSrc, pos, filters, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, err
	}
	if filters != nil {
		if p, err = filters.apply(p); err != nil {
			return nil, err
		}
	}
	if err := p.checkFilters(); err != nil {
		return nil, err
	}
	sources, pos, err := c.sourcesFrom(ctx, p, startSrc, pos)
	if err != nil {
		return nil, err
	}
	return c.walk(ctx, sources, pos, p)
}

// checkFilters refuses a filter no job could match for being malformed.
func (p ListParams) checkFilters() error {
	switch {
	case p.Status != "" && !p.Status.Valid():
		return invalidf("status %q: want one of %s", p.Status, stateNames())
	case p.Queue != "" && !namePattern.MatchString(p.Queue):
		return invalidf("queue %q: want 1-64 of [A-Za-z0-9_.-]", p.Queue)
	case p.Type != "" && !typePattern.MatchString(p.Type):
		return invalidf("type %q: want 1-128 of [A-Za-z0-9_.:-]", p.Type)
	case !p.CreatedAfter.IsZero() && !p.CreatedBefore.IsZero() && !p.CreatedAfter.Before(p.CreatedBefore):
		return invalidf("created_after %s is not before created_before %s: no job could match",
			p.CreatedAfter.UTC().Format(time.RFC3339Nano), p.CreatedBefore.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// matches reports whether j passes the filters an index walk cannot
// apply by itself (its state and queue are the index's).
func (p ListParams) matches(j *Job) bool {
	return (p.Type == "" || j.Type == p.Type) && (p.Queue == "" || j.Queue == p.Queue) &&
		(p.CreatedAfter.IsZero() || !j.CreatedAt.Before(p.CreatedAfter)) &&
		(p.CreatedBefore.IsZero() || j.CreatedAt.Before(p.CreatedBefore))
}

// sourcesFrom lists the indexes a list walks, from the cursor's on
// (start, at pos; nil for the first page), leaving out the per-queue
// sets with nothing in them; pos is the start when the cursor's own is
// empty.
func (c *Client) sourcesFrom(ctx context.Context, p ListParams, start *listSource, pos listPos) ([]listSource, listPos, error) {
	sources, err := c.listSources(ctx, p)
	if err != nil {
		return nil, listPos{}, err
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
			return nil, listPos{}, nil // that index is gone: nothing after it either
		}
	}
	if len(sources) == 0 {
		return nil, listPos{}, nil
	}
	from := sources[i]
	if sources, err = c.dropEmptySources(ctx, sources[i:]); err != nil {
		return nil, listPos{}, err
	}
	if len(sources) == 0 || sources[0] != from {
		pos = listPos{} // the cursor's own index is empty now
	}
	return sources, pos, nil
}

// walk reads a page from sources, starting at pos in the first: up to
// p.Limit jobs that pass the filters, within p.MaxBytes, and within
// listScanBudget index entries read.
func (c *Client) walk(ctx context.Context, sources []listSource, pos listPos, p ListParams) (*ListPage, error) {
	page := &ListPage{Jobs: []*Job{}}
	maxBytes := p.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultListBytes
	}
	budget, bytes := listScanBudget, 0
	for i := 0; i < len(sources) && budget > 0; i, pos = i+1, (listPos{}) {
		src := sources[i]
		for budget > 0 {
			n := int64(min(max(p.Limit-len(page.Jobs), 50), budget))
			zs, read, err := c.rangeSource(ctx, src, pos, n)
			if err != nil {
				return nil, err
			}
			budget -= int(read)
			ids := make([]string, len(zs))
			for k, z := range zs {
				ids[k] = z.Member.(string)
			}
			jobs, err := c.readSummaries(ctx, ids, p)
			if err != nil {
				return nil, err
			}
			for k, l := range jobs {
				if j := l.job; j != nil && p.matches(j) {
					if len(page.Jobs) > 0 && bytes+l.bytes > maxBytes {
						// The bytes are spent: this job opens the next page.
						page.NextCursor = encodeCursor(src, pos, p)
						return c.finishPage(ctx, page, p)
					}
					bytes += l.bytes
					page.Jobs = append(page.Jobs, j)
				}
				pos = advance(src, pos, zs[k])
				if len(page.Jobs) == p.Limit {
					page.NextCursor = encodeCursor(src, pos, p)
					return c.finishPage(ctx, page, p)
				}
			}
			if read < n {
				break // this source is exhausted
			}
		}
		if budget <= 0 {
			page.NextCursor = encodeCursor(src, pos, p)
		}
	}
	return c.finishPage(ctx, page, p)
}

// listPos is where a walk goes on in an index: after the entry of score
// and member, or (member "") at offset. Positions by entry stay true
// while the entries before them leave the index (a bulk action moves
// each job it pages over out of it, workers claim from the front), where
// an offset would skip as many entries as left. The running jobs' index
// is paged by offset all the same (byOffset).
type listPos struct {
	score  float64
	member string
	offset int64
}

// byOffset reports whether a walk pages s by offset rather than by
// entry: the running jobs' index is scored by lease deadlines, which
// every heartbeat pushes on, so an entry would come again after its own
// position.
func byOffset(s listSource) bool { return s.state == StateRunning }

// advance is the position just past entry z, read at pos in s.
func advance(s listSource, pos listPos, z redis.Z) listPos {
	if byOffset(s) {
		return listPos{offset: pos.offset + 1}
	}
	return listPos{score: z.Score, member: z.Member.(string)}
}

// rangeSource reads up to n entries of s from pos on, in the list's
// order (finished jobs newest first); read counts the entries the calls
// returned, the skipped ones included: fewer than n means s ends there.
func (c *Client) rangeSource(ctx context.Context, s listSource, pos listPos, n int64) (zs []redis.Z, read int64, err error) {
	key, rev := c.sourceKey(s), s.state.Terminal()
	if pos.member == "" {
		args := redis.ZRangeArgs{Key: key, Start: pos.offset, Stop: pos.offset + n - 1, Rev: rev}
		zs, err = c.rdb.ZRangeArgsWithScores(ctx, args).Result()
		return zs, int64(len(zs)), storageErr(err)
	}
	// From the position's score on, its own entry and the ones of equal
	// score before it (Redis orders them by member) left out; when a
	// whole call is of those, read on past them.
	bound := strconv.FormatFloat(pos.score, 'f', -1, 64)
	by := &redis.ZRangeBy{Min: bound, Max: "+inf", Count: n}
	if rev {
		by.Min, by.Max = "-inf", bound
	}
	for {
		var got []redis.Z
		if rev {
			got, err = c.rdb.ZRevRangeByScoreWithScores(ctx, key, by).Result()
		} else {
			got, err = c.rdb.ZRangeByScoreWithScores(ctx, key, by).Result()
		}
		if err != nil {
			return nil, read, storageErr(err)
		}
		read += int64(len(got))
		for k, z := range got {
			if m := z.Member.(string); z.Score != pos.score || (!rev && m > pos.member) || (rev && m < pos.member) {
				return got[k:], read, nil
			}
		}
		if int64(len(got)) < n {
			return nil, read, nil
		}
		by.Offset += n
	}
}

func (c *Client) listSources(ctx context.Context, p ListParams) ([]listSource, error) {
	states := States()
	switch {
	case p.Status != "":
		states = []State{p.Status}
	case p.states != nil:
		states = p.states
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

func stateNames() string {
	names := make([]string, 0, 7)
	for _, s := range States() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}
