package queue

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A list's cursor: where its next page starts, and the filters of the
// list it pages, so that a page never mixes two lists. Bulk actions page
// with the same cursors.

// listFilters are the filters of a list, as its cursors record them
// (the creation bounds in ms, 0 for none).
type listFilters struct {
	status                      State
	typ                         string
	queue                       string
	createdAfter, createdBefore int64
}

func filtersOf(p ListParams) listFilters {
	return listFilters{p.Status, p.Type, p.Queue, msOrZero(p.CreatedAfter), msOrZero(p.CreatedBefore)}
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOrZero(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// apply returns p with the filters it leaves out taken from f, or
// ErrInvalid when p gives one another value: the cursor pages another list.
func (f listFilters) apply(p ListParams) (ListParams, error) {
	asked := filtersOf(p)
	differs := func(a, b string) bool { return a != "" && a != b }
	differsMS := func(a, b int64) bool { return a != 0 && a != b }
	if differs(string(asked.status), string(f.status)) || differs(asked.typ, f.typ) || differs(asked.queue, f.queue) ||
		differsMS(asked.createdAfter, f.createdAfter) || differsMS(asked.createdBefore, f.createdBefore) {
		return p, invalidf("the cursor pages the list of %s, not of %s: give the same filters, or leave out the cursor to start a new list",
			f, asked)
	}
	p.Status, p.Type, p.Queue = f.status, f.typ, f.queue
	p.CreatedAfter, p.CreatedBefore = timeOrZero(f.createdAfter), timeOrZero(f.createdBefore)
	return p, nil
}

// String spells the filters as query parameters ("status=failed&type=x"),
// or "all jobs".
func (f listFilters) String() string {
	var parts []string
	for _, kv := range [][2]string{{"status", string(f.status)}, {"type", f.typ}, {"queue", f.queue},
		{"created_after", msRFC3339(f.createdAfter)}, {"created_before", msRFC3339(f.createdBefore)}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "all jobs"
	}
	return "jobs with " + strings.Join(parts, "&")
}

func msRFC3339(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// A cursor is base64url of
// "4|state|queue|shard|score|member|status|type|queue|created_after|created_before|lane type":
// where the next page starts (the source, and the entry it starts after,
// or with member "" the offset in place of the score), then the list's
// filters, then the source's lane type (pending only). Cursors of the
// first versions, which start at an offset, are still read:
// "1|state|queue|offset" and an optional shard (no filters),
// "2|state|queue|offset|shard|status|type|queue", and
// "3|state|queue|offset|shard|status|type|queue|lane type"; a pending
// one without a lane type starts at its queue's first lane.
func encodeCursor(s listSource, pos listPos, p ListParams) string {
	f := filtersOf(p)
	at := strconv.FormatFloat(pos.score, 'f', -1, 64)
	if pos.member == "" {
		at = strconv.FormatInt(pos.offset, 10) // a position by offset: member ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("4|%s|%s|%d|%s|%s|%s|%s|%s|%d|%d|%s",
		s.state, s.queue, s.shard, at, pos.member, f.status, f.typ, f.queue, f.createdAfter, f.createdBefore, s.typ)))
}

// decodeCursor reads a cursor: where to start, and the filters it
// records (nil for a first-version cursor).
func decodeCursor(cur string) (*listSource, listPos, *listFilters, error) {
	if cur == "" {
		return nil, listPos{}, nil, nil
	}
	bad := invalidf("cursor is not one this server issued")
	b, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		return nil, listPos{}, nil, bad
	}
	parts := strings.Split(string(b), "|")
	var src *listSource
	var pos listPos
	var f *listFilters
	switch {
	case len(parts) == 12 && parts[0] == "4":
		src, pos, f, err = decodeCursorV4(parts)
	case len(parts) == 9 && parts[0] == "3", len(parts) == 8 && parts[0] == "2",
		(len(parts) == 4 || len(parts) == 5) && parts[0] == "1":
		src, pos, f, err = decodeCursorV1(parts)
	default:
		err = bad
	}
	if err != nil {
		return nil, listPos{}, nil, bad
	}
	if !src.state.Valid() || (src.queue != "" && !namePattern.MatchString(src.queue)) ||
		(src.typ != "" && !typePattern.MatchString(src.typ)) {
		return nil, listPos{}, nil, bad
	}
	if f != nil && ((f.status != "" && !f.status.Valid()) || (f.typ != "" && !typePattern.MatchString(f.typ)) ||
		(f.queue != "" && !namePattern.MatchString(f.queue)) || f.createdAfter < 0 || f.createdBefore < 0) {
		return nil, listPos{}, nil, bad
	}
	return src, pos, f, nil
}

// decodeCursorV4 reads the parts of a cursor of the current version.
func decodeCursorV4(parts []string) (*listSource, listPos, *listFilters, error) {
	bad := invalidf("bad cursor")
	shard, err := strconv.Atoi(parts[3])
	if err != nil || shard < 0 || shard >= MaxShards {
		return nil, listPos{}, nil, bad
	}
	pos := listPos{member: parts[5]}
	if pos.member == "" {
		off, err := strconv.ParseInt(parts[4], 10, 64)
		if err != nil || off < 0 {
			return nil, listPos{}, nil, bad
		}
		pos.offset = off
	} else {
		score, err := strconv.ParseFloat(parts[4], 64)
		if err != nil || math.IsNaN(score) || math.IsInf(score, 0) || !namePattern.MatchString(pos.member) {
			return nil, listPos{}, nil, bad
		}
		pos.score = score
	}
	after, err1 := strconv.ParseInt(parts[9], 10, 64)
	before, err2 := strconv.ParseInt(parts[10], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, listPos{}, nil, bad
	}
	return &listSource{state: State(parts[1]), queue: parts[2], typ: parts[11], shard: shard}, pos,
		&listFilters{status: State(parts[6]), typ: parts[7], queue: parts[8], createdAfter: after, createdBefore: before}, nil
}

// decodeCursorV1 reads the parts of a cursor of the first three
// versions, which start at an offset.
func decodeCursorV1(parts []string) (*listSource, listPos, *listFilters, error) {
	bad := invalidf("bad cursor")
	off, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || off < 0 {
		return nil, listPos{}, nil, bad
	}
	shard := 0 // cursors issued before shards had four parts
	if len(parts) >= 5 {
		if shard, err = strconv.Atoi(parts[4]); err != nil || shard < 0 || shard >= MaxShards {
			return nil, listPos{}, nil, bad
		}
	}
	src := &listSource{state: State(parts[1]), queue: parts[2], shard: shard}
	if parts[0] == "3" {
		src.typ = parts[8]
	}
	if parts[0] == "1" {
		return src, listPos{offset: off}, nil, nil
	}
	return src, listPos{offset: off}, &listFilters{status: State(parts[5]), typ: parts[6], queue: parts[7]}, nil
}
