package queue

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// redisStat reads one counter of INFO (e.g. "total_net_output_bytes", or
// "cmdstat_hgetall" for that command's calls); 0 when absent.
func redisStat(t *testing.T, rdb *redis.Client, name string) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "stats", "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^` + name + `:(?:calls=)?(\d+)`)
	m := re.FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

// A list page reads the summary fields only (HMGET, never HGETALL), so
// its cost does not grow with the payloads; asked for, the payloads come
// within a budget of bytes, the page ending early with a cursor.
func TestListReadsSummariesWithinABudget(t *testing.T) {
	t.Parallel()
	srv := redistest.New(t, nil) // its own server: its counters are this test's
	c, b := setupOn(t, srv)
	ctx := ctxT(t)
	const n, size = 20, 100 << 10
	payload := json.RawMessage(`{"pad": "` + strings.Repeat("x", size) + `"}`)
	params := make([]EnqueueParams, n)
	for i := range params {
		params[i] = EnqueueParams{Type: "big", Queue: "bigq", Payload: payload}
	}
	res, err := c.EnqueueBatch(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	before, hgetall := redisStat(t, b.rdb, "total_net_output_bytes"), redisStat(t, b.rdb, "cmdstat_hgetall")
	page, err := c.List(ctx, ListParams{Queue: "bigq"})
	if err != nil {
		t.Fatal(err)
	}
	sent := redisStat(t, b.rdb, "total_net_output_bytes") - before
	if len(page.Jobs) != n || page.NextCursor != "" {
		t.Fatalf("summary page: %d jobs, cursor %q", len(page.Jobs), page.NextCursor)
	}
	for _, j := range page.Jobs {
		if j.Payload != nil || j.Result != nil || j.Type != "big" || j.Queue != "bigq" || j.Status != StatePending || j.CreatedAt.IsZero() {
			t.Fatalf("summary %+v", j)
		}
	}
	if sent > size {
		t.Errorf("a page of %d summaries made Redis send %d bytes: it read the payloads", n, sent)
	}
	if got := redisStat(t, b.rdb, "cmdstat_hgetall"); got != hgetall {
		t.Errorf("List called HGETALL %d times", got-hgetall)
	}

	// Payloads asked for, within 250 KB a page: two jobs a page, all of
	// them once, in order, each with its payload.
	var got []string
	cursor, pages := "", 0
	for {
		before := redisStat(t, b.rdb, "total_net_output_bytes")
		page, err := c.List(ctx, ListParams{Queue: "bigq", WithPayload: true, MaxBytes: 250 << 10, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if sent := redisStat(t, b.rdb, "total_net_output_bytes") - before; sent > 3*size {
			t.Errorf("page %d: Redis sent %d bytes for a page of %d jobs", pages, sent, len(page.Jobs))
		}
		pages++
		if len(page.Jobs) != 2 && page.NextCursor != "" {
			t.Fatalf("page %d: %d jobs within 250 KB of 100 KB payloads, want 2", pages, len(page.Jobs))
		}
		for _, j := range page.Jobs {
			if string(j.Payload) != string(payload) {
				t.Fatalf("job %s: payload of %d bytes", j.ID, len(j.Payload))
			}
			got = append(got, j.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	want := make([]string, n)
	for i, r := range res {
		want[i] = r.Job.ID
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || pages != n/2 {
		t.Fatalf("paged %d jobs in %d pages, want the %d in order in %d", len(got), pages, n, n/2)
	}

	// A job larger than the budget still makes a page of its own.
	page, err = c.List(ctx, ListParams{Queue: "bigq", WithPayload: true, MaxBytes: 10})
	if err != nil || len(page.Jobs) != 1 || page.NextCursor == "" {
		t.Fatalf("a budget under one job: %v, %v", page, err)
	}
}

// A list paged while the jobs before its cursor leave the index (cancelled
// between pages, as a bulk action does, or claimed by workers) goes on
// where it was: a cursor holds the entry it starts after, not an offset,
// which would skip as many jobs as left.
func TestListCursorSurvivesEntriesLeaving(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "leave"}, 9)
	seen := map[string]bool{}
	cursor := ""
	for range 10 {
		page, err := c.List(ctx, ListParams{Queue: "leave", Status: StatePending, Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			if seen[j.ID] {
				t.Fatalf("%s listed twice", j.ID)
			}
			seen[j.ID] = true
			if err := c.Cancel(ctx, j.ID); err != nil {
				t.Fatal(err)
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != len(ids) {
		t.Fatalf("listed %d of %d jobs", len(seen), len(ids))
	}
}

// Finished jobs of one millisecond share a score: a cursor among them
// goes on by job id, listing each once.
func TestListCursorAmongEqualScores(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "ties"}, 7)
	for _, id := range ids {
		if err := c.Cancel(ctx, id); err != nil {
			t.Fatal(err)
		}
		// One finish time for all: the same score in the cancelled set.
		if err := b.rdb.ZAdd(ctx, c.shards.of(id).done(StateCancelled), redis.Z{Score: 1000, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for cursor, pages := "", 0; ; pages++ {
		page, err := c.List(ctx, ListParams{Queue: "ties", Status: StateCancelled, Limit: 3, Cursor: cursor})
		if err != nil || pages > 5 {
			t.Fatal(pages, err)
		}
		for _, j := range page.Jobs {
			if seen[j.ID] {
				t.Fatalf("%s listed twice", j.ID)
			}
			seen[j.ID] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != len(ids) {
		t.Fatalf("listed %d of %d jobs", len(seen), len(ids))
	}
}

// created_after and created_before keep the jobs created in [after,
// before); the cursor records them.
func TestListCreatedBetween(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	ids := submitN(t, c, EnqueueParams{Type: "t", Queue: "when"}, 4)
	for i, id := range ids { // created at 1000, 2000, 3000, 4000 ms
		if err := b.rdb.HSet(ctx, c.shards.of(id).job(id), fCreatedAt, (i+1)*1000).Err(); err != nil {
			t.Fatal(err)
		}
	}
	p := ListParams{Queue: "when", CreatedAfter: time.UnixMilli(2000), CreatedBefore: time.UnixMilli(4000), Limit: 1}
	page, err := c.List(ctx, p)
	if err != nil || len(page.Jobs) != 1 || page.NextCursor == "" {
		t.Fatalf("first page %+v %v", page, err)
	}
	got := map[string]bool{page.Jobs[0].ID: true}
	page, err = c.List(ctx, ListParams{Cursor: page.NextCursor, Limit: 5})
	if err != nil || len(page.Jobs) != 1 || page.NextCursor != "" {
		t.Fatalf("second page %+v %v", page, err)
	}
	if got[page.Jobs[0].ID] = true; !got[ids[1]] || !got[ids[2]] {
		t.Fatalf("listed %v, want %s and %s", got, ids[1], ids[2])
	}
	if _, err := c.List(ctx, ListParams{CreatedAfter: time.UnixMilli(5), CreatedBefore: time.UnixMilli(5)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an empty range: %v", err)
	}
	cur, err := c.List(ctx, ListParams{Queue: "when", CreatedAfter: time.UnixMilli(2000), Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, ListParams{Cursor: cur.NextCursor, CreatedAfter: time.UnixMilli(1)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a cursor with another bound: %v", err)
	}
}

// submitN submits n jobs like p and returns their ids in order.
func submitN(t *testing.T, c *Client, p EnqueueParams, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		e, err := c.Enqueue(ctxT(t), p)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = e.ID
	}
	return ids
}
