package queue

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// Bulk actions: cancel, restart or delete the jobs a list's filters
// select, a page at a time. Each page is read as List reads it and each of
// its jobs then goes through its own transition script (all of a page's
// in one round trip), which re-checks the job's state: a job moves as it
// would alone, exactly once, and one that moved on meanwhile is changed
// if its new state allows the action, else skipped. The cursor holds the
// entry a page ended after, not an offset, so the jobs a page moves out
// of the index it walks do not make the next page skip others (the
// running jobs' index, paged by offset, has its offset corrected).

// Bulk paging limits.
const (
	DefaultBulkLimit = 100
	MaxBulkLimit     = 1000
)

// SkippedDeleted is the reason given in BulkResult.Skipped for a job that
// was gone (deleted, or removed by retention) by the time its turn came.
const SkippedDeleted = "deleted"

// BulkParams selects the jobs of one page of a bulk action.
type BulkParams struct {
	// The filters, as ListParams has them; each is optional.
	Status                      State
	Type                        string
	Queue                       string
	CreatedAfter, CreatedBefore time.Time
	// Cursor is a previous page's NextCursor (of the same action or of a
	// dry run); it records the filters, as a list's cursor does.
	Cursor string
	// Limit is the most jobs the page takes, 1-MaxBulkLimit; 0 means
	// DefaultBulkLimit.
	Limit int
	// All must be set when no filter is: an action on every job is asked
	// for by name, never by an empty request.
	All bool
	// DryRun changes nothing: the page's matching jobs are only counted.
	DryRun bool
}

// BulkResult is what one page of a bulk action did.
type BulkResult struct {
	// Matched is the jobs of the page that passed the filters.
	Matched int
	// Changed is those the action moved; always 0 in a dry run.
	Changed int
	// Skipped counts the others by reason: the state the job was in,
	// which does not allow the action, or SkippedDeleted.
	Skipped map[string]int
	// NextCursor continues with the next page; "" on the last.
	NextCursor string
	// Moved is the jobs the action moved, as the page read them (before
	// the move): Changed of them.
	Moved []*Job
}

// CancelMatching cancels the unfinished jobs of one page of the jobs p
// selects (see Cancel).
func (c *Client) CancelMatching(ctx context.Context, p BulkParams) (*BulkResult, error) {
	return c.bulk(ctx, p, bulkCancel, c.luaCancel)
}

// RestartMatching restarts the failed and cancelled jobs of one page of
// the jobs p selects (see Restart).
func (c *Client) RestartMatching(ctx context.Context, p BulkParams) (*BulkResult, error) {
	return c.bulk(ctx, p, bulkRestart, c.luaRestart)
}

// DeleteMatching deletes the finished jobs of one page of the jobs p
// selects (see Delete).
func (c *Client) DeleteMatching(ctx context.Context, p BulkParams) (*BulkResult, error) {
	return c.bulk(ctx, p, bulkDelete, c.luaDelete)
}

// bulkAction is a bulk action's name and the states it moves jobs out
// of: its pages walk only those (a job it moved is not met again in the
// state it moved to, and jobs it could not move are not read at all).
type bulkAction struct {
	name   string
	states []State
}

var (
	bulkCancel  = bulkAction{"cancel", []State{StatePending, StateScheduled, StateRunning, StateRetrying}}
	bulkRestart = bulkAction{"restart", []State{StateFailed, StateCancelled}}
	bulkDelete  = bulkAction{"delete", []State{StateCompleted, StateFailed, StateCancelled}}
)

// bulk reads one page of the jobs p selects, in the states action moves
// jobs out of, and, unless it is a dry run, moves each with act. A
// storage error of any job ends the call with it: the page may be sent
// again, as the jobs it changed are skipped then.
func (c *Client) bulk(ctx context.Context, p BulkParams, action bulkAction, act func(context.Context, []jobRef) []error) (*BulkResult, error) {
	lp, err := p.listParams()
	if err == nil && lp.Status != "" && !slices.Contains(action.states, lp.Status) {
		err = invalidf("%s moves %s jobs; status %s selects none", action.name, stateList(action.states), lp.Status)
	}
	lp.states = action.states
	if err != nil {
		return nil, err
	}
	page, err := c.listPage(ctx, lp)
	if err != nil {
		return nil, err
	}
	res := &BulkResult{Matched: len(page.Jobs), Skipped: map[string]int{}, NextCursor: page.NextCursor}
	if p.DryRun || len(page.Jobs) == 0 {
		return res, nil
	}
	refs := make([]jobRef, len(page.Jobs))
	for i, j := range page.Jobs {
		refs[i] = refOf(j)
	}
	for i, err := range act(ctx, refs) {
		var te *TransitionError
		switch {
		case err == nil:
			res.Changed++
			res.Moved = append(res.Moved, page.Jobs[i])
		case errors.As(err, &te):
			res.Skipped[string(te.From)]++
		case errors.Is(err, ErrJobNotFound):
			res.Skipped[SkippedDeleted]++
		default:
			return nil, err
		}
	}
	res.NextCursor = c.pastMoved(res.NextCursor, res.Moved)
	return res, nil
}

// pastMoved corrects a cursor that pages by offset (the running jobs'
// index, byOffset) for the jobs of its index the page moved out of it:
// the offset counted them, and the entries after them moved up by as
// many.
func (c *Client) pastMoved(cursor string, moved []*Job) string {
	src, pos, f, err := decodeCursor(cursor)
	if err != nil || src == nil || f == nil || pos.member != "" || !byOffset(*src) {
		return cursor
	}
	for _, j := range moved {
		if j.Status == src.state && c.shards.index(j.ID) == src.shard {
			pos.offset--
		}
	}
	p := ListParams{Status: f.status, Type: f.typ, Queue: f.queue,
		CreatedAfter: timeOrZero(f.createdAfter), CreatedBefore: timeOrZero(f.createdBefore)}
	return encodeCursor(*src, listPos{offset: max(pos.offset, 0)}, p)
}

// listParams checks p and turns it into the list of its page: the
// cursor's filters taken (and checked against p's), and a request with
// no filter at all refused unless it says All.
func (p BulkParams) listParams() (ListParams, error) {
	lp := ListParams{Status: p.Status, Type: p.Type, Queue: p.Queue, CreatedAfter: p.CreatedAfter,
		CreatedBefore: p.CreatedBefore, Cursor: p.Cursor, Limit: p.Limit}
	if lp.Limit == 0 {
		lp.Limit = DefaultBulkLimit
	}
	if lp.Limit < 1 || lp.Limit > MaxBulkLimit {
		return lp, invalidf("limit %d: want 1-%d", lp.Limit, MaxBulkLimit)
	}
	_, _, filters, err := decodeCursor(p.Cursor)
	if err != nil {
		return lp, err
	}
	applied := lp
	if filters != nil {
		if applied, err = filters.apply(lp); err != nil {
			return lp, err
		}
	}
	if filtersOf(applied) == (listFilters{}) && !p.All {
		return lp, invalidf("no filter: give status, type, queue, created_after or created_before, or all to act on every job")
	}
	return lp, nil
}

// stateList spells states for a message: "pending, scheduled or running".
func stateList(states []State) string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = string(s)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
