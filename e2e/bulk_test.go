package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/pkg/queue"
)

// TestBulkCancelWhileWorkersRun: 10,000 pending jobs are cancelled in
// pages through the API while two workers take jobs from the same queue.
// After it, every job is either cancelled or completed, the ones the bulk
// cancel says it changed are exactly the cancelled ones (none cancelled
// twice), nothing runs under a cancelled status, and the counters agree
// with the indexes.
func TestBulkCancelWhileWorkersRun(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 2,
		APIEnv: []string{"API_REQUEST_TIMEOUT=10s"}})
	q := cl.Queue()
	base := cl.APIs()[0].URL
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const n = 10_000
	payload := json.RawMessage(`{"steps": 2, "step_ms": 20}`)
	for i := 0; i < n; i += 1000 {
		params := make([]queue.EnqueueParams, 1000)
		for k := range params {
			params[k] = queue.EnqueueParams{Type: "demo", Payload: payload}
		}
		res, err := q.EnqueueBatch(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}

	changed, pages, start := 0, 0, time.Now()
	for cursor := ""; ; pages++ {
		url := base + "/api/v1/jobs/cancel?status=pending&type=demo&limit=1000"
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		var out struct {
			Changed    int            `json:"changed"`
			Skipped    int            `json:"skipped"`
			SkippedBy  map[string]int `json:"skipped_by_status"`
			NextCursor string         `json:"next_cursor"`
		}
		if code, _ := clustertest.PostJSON(t, url, "", &out); code != http.StatusOK {
			t.Fatalf("page %d: %d", pages, code)
		}
		changed += out.Changed
		if cursor = out.NextCursor; cursor == "" || pages > 100 {
			break
		}
	}
	t.Logf("bulk cancel: %d jobs changed in %d pages of 1000 in %s, two workers running", changed, pages+1,
		time.Since(start).Round(time.Millisecond))

	// The jobs the workers had taken finish, or stop for their cancel.
	proctest.WaitFor(t, 60*time.Second, "no job pending or running", func() bool {
		st, err := q.Stats(ctx)
		return err == nil && st.Counts[queue.StatePending] == 0 && st.Counts[queue.StateRunning] == 0
	})
	st, err := q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, completed := st.Counts[queue.StateCancelled], st.Counts[queue.StateCompleted]
	t.Logf("after: %d cancelled, %d completed", cancelled, completed)
	if cancelled+completed != n || st.Counts[queue.StateFailed] != 0 {
		t.Fatalf("counts %v, want %d cancelled or completed", st.Counts, n)
	}
	if int64(changed) != cancelled {
		t.Fatalf("the bulk cancel changed %d jobs; %d are cancelled (each once, none by anyone else)", changed, cancelled)
	}
	if cancelled < n/2 {
		t.Fatalf("only %d of %d cancelled: the workers ran the rest before the pages reached them?", cancelled, n)
	}
	if err := q.CheckInvariants(ctx); err != nil {
		t.Fatal(err)
	}
	// No cancelled job still holds a run, and no worker still runs one.
	var ws []queue.WorkerInfo
	proctest.WaitFor(t, 20*time.Second, "the workers idle", func() bool {
		ws, err = q.Workers(ctx)
		busy := 0
		for _, w := range ws {
			busy += w.Running
		}
		return err == nil && busy == 0
	})
	page, err := q.List(ctx, queue.ListParams{Status: queue.StateCancelled, Limit: queue.MaxListLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range page.Jobs {
		if j.Status != queue.StateCancelled || j.CompletedAt.IsZero() {
			t.Fatalf("a cancelled job as listed: %+v", j)
		}
	}
}
