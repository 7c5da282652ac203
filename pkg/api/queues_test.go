package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// A submission to one queue more than the registry may hold gets 409
// too_many_queues (in a batch, for its items); known queues go on.
func TestTooManyQueues(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Shared(t).Addr, PoolSize: 8})
	t.Cleanup(func() { _ = rdb.Close() })
	client, err := queue.NewClient(ctxT(t), rdb, &queue.Config{Prefix: redistest.Prefix(t), MaxQueues: 2})
	if err != nil {
		t.Fatal(err)
	}
	hub := client.NewHub()
	if err := hub.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Stop)
	h, err := New(Config{Logger: discard, JobTypes: TypeSet{"demo": nil}}, client, hub)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	b := &bundle{url: ts.URL, http: checkedClient(t, ts), client: client, hub: hub}
	b.submit(t, `{"type": "demo", "queue": "a"}`)
	b.submit(t, `{"type": "demo", "queue": "b"}`)
	e := b.wantError(t, "POST", "/api/v1/jobs", `{"type": "demo", "queue": "c"}`, http.StatusConflict, CodeTooManyQueues)
	if _, ok := e["job_id"]; ok {
		t.Errorf("too_many_queues names a job: %v", e)
	}
	out := b.call(t, "POST", "/api/v1/jobs/batch", `{"jobs": [{"type": "demo", "queue": "c"}, {"type": "demo", "queue": "a"}]}`, http.StatusOK)
	items := out["jobs"].([]any)
	if e, _ := items[0].(map[string]any)["error"].(map[string]any); e["code"] != CodeTooManyQueues || items[1].(map[string]any)["job_id"] == nil {
		t.Fatalf("batch: %v", out)
	}
}
