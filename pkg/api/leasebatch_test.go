package api

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/compileo/jobqueue/pkg/queue"
)

// leaseN submits n ocr jobs and leases them all.
func (b *bundle) leaseN(t *testing.T, n int) []leased {
	t.Helper()
	for range n {
		b.submit(t, `{"type": "ocr"}`)
	}
	var got []leased
	for len(got) < n {
		more := b.lease(t, fmt.Sprintf(`{"worker_id": "py-1", "types": ["ocr"], "max_jobs": %d}`, min(n-len(got), 100)))
		if len(more) == 0 {
			t.Fatalf("leased %d of %d", len(got), n)
		}
		got = append(got, more...)
	}
	return got
}

// wantOneCompleted checks that each job is completed and that its kept
// events hold exactly one completion.
func (b *bundle) wantOneCompleted(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		evs, err := b.client.Events(ctxT(t), id, 0, queue.HistoryStates)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs.Events {
			if ev.Status == queue.StateCompleted {
				n++
			}
		}
		if evs.Job.Status != queue.StateCompleted || n != 1 {
			t.Fatalf("job %s: %s with %d completed events", id, evs.Job.Status, n)
		}
	}
}

// Many concurrent single completions share script calls, yet each gets
// its own exact answer: 200 for its token (twice over), 409 lease_lost
// naming the job's status for a stale token, 404 for an unknown job; each
// job is completed once, with one event.
func TestLeaseCompletesConcurrently(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"ocr": nil}})
	ls := b.leaseN(t, 60)
	done, kept := ls[:40], ls[40:] // kept: only stale tokens are sent
	stale := "0123456789abcdef.30"
	type answer struct {
		status int
		body   string
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var bad []string
	send := func(id, token string, want int, wantBody string) {
		defer wg.Done()
		resp, data := b.do(t, "POST", "/api/v1/leases/"+id+"/complete", `{"lease_token": "`+token+`", "result": {"id": "`+id+`"}}`)
		if resp.StatusCode != want || !strings.Contains(string(data), wantBody) {
			mu.Lock()
			bad = append(bad, fmt.Sprintf("%s %s: %d %s, want %d %s", id, token, resp.StatusCode, data, want, wantBody))
			mu.Unlock()
		}
	}
	for _, l := range done {
		wg.Add(2)
		go send(l.JobID, l.LeaseToken, 200, `{"status":"completed"}`)
		go send(l.JobID, l.LeaseToken, 200, `{"status":"completed"}`)
	}
	for _, l := range kept {
		wg.Add(1)
		go send(l.JobID, stale, 409, `"code":"lease_lost"`)
		wg.Add(1)
		go send(l.JobID, stale, 409, `"status":"running"`)
	}
	wg.Add(1)
	go send(unknownID, stale, 404, `"code":"not_found"`)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d wrong answers:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	for _, l := range done {
		b.wantOneCompleted(t, l.JobID)
		if j, _ := b.client.Get(ctxT(t), l.JobID); string(j.Result) != `{"id":"`+l.JobID+`"}` {
			t.Fatalf("job %s: result %s", l.JobID, j.Result)
		}
	}
	for _, l := range kept {
		if j, _ := b.client.Get(ctxT(t), l.JobID); j.Status != queue.StateRunning {
			t.Fatalf("a stale token changed job %s: %s", l.JobID, j.Status)
		}
	}
}

// completions is the body of a batch of completions.
func completions(items ...string) string {
	return `{"completions": [` + strings.Join(items, ", ") + `]}`
}

func completionOf(id, token, result string) string {
	s := `{"job_id": "` + id + `", "lease_token": "` + token + `"`
	if result != "" {
		s += `, "result": ` + result
	}
	return s + "}"
}

// A batch of completions answers each item as its single call would, in
// order; a repeat answers completed again and changes nothing.
func TestLeaseCompleteBatch(t *testing.T) {
	t.Parallel()
	a, b := twoInstances(t, Config{JobTypes: TypeSet{"ocr": nil}})
	ls := a.leaseN(t, 4)
	stale := "0123456789abcdef.30"
	body := completions(completionOf(ls[0].JobID, ls[0].LeaseToken, `{"n": 0}`),
		completionOf(ls[1].JobID, ls[1].LeaseToken, ""),
		completionOf(ls[2].JobID, stale, `1`),
		completionOf(unknownID, stale, ""),
		completionOf(ls[0].JobID, ls[0].LeaseToken, `{"n": "again"}`))
	want := fmt.Sprintf(`{"results":[{"job_id":%q,"status":"completed"},{"job_id":%q,"status":"completed"},`+
		`{"job_id":%q,"error":{"code":"lease_lost","message":"the lease token no longer holds job %s; it is running","status":"running"}},`+
		`{"job_id":%q,"error":{"code":"not_found","message":"no job has id %s"}},{"job_id":%q,"status":"completed"}]}`,
		ls[0].JobID, ls[1].JobID, ls[2].JobID, ls[2].JobID, unknownID, unknownID, ls[0].JobID)
	for _, x := range []*bundle{a, b} { // the repeat, through another instance, answers alike
		resp, data := x.do(t, "POST", "/api/v1/leases/complete", body)
		if resp.StatusCode != 200 || string(data) != want {
			t.Fatalf("batch: %d %s\nwant %s", resp.StatusCode, data, want)
		}
	}
	a.wantOneCompleted(t, ls[0].JobID, ls[1].JobID)
	if j, _ := a.client.Get(ctxT(t), ls[0].JobID); string(j.Result) != `{"n":0}` {
		t.Fatalf("result %s", j.Result)
	}
	if j, _ := a.client.Get(ctxT(t), ls[1].JobID); j.Result != nil {
		t.Fatalf("result %s, want none", j.Result)
	}
	for _, l := range ls[2:] {
		if j, _ := a.client.Get(ctxT(t), l.JobID); j.Status != queue.StateRunning || j.Version != 2 {
			t.Fatalf("job %s changed: %+v", l.JobID, j)
		}
	}
	// 100 at once, concurrently with single completions of the same runs.
	ls = a.leaseN(t, 100)
	items := make([]string, len(ls))
	for i, l := range ls {
		items[i] = completionOf(l.JobID, l.LeaseToken, `{"i": `+fmt.Sprint(i)+`}`)
	}
	var wg sync.WaitGroup
	for _, l := range ls[:10] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.do(t, "POST", "/api/v1/leases/"+l.JobID+"/complete", `{"lease_token": "`+l.LeaseToken+`"}`)
		}()
	}
	out := a.call(t, "POST", "/api/v1/leases/complete", completions(items...), 200)
	wg.Wait()
	results := out["results"].([]any)
	for i, r := range results {
		if m := r.(map[string]any); m["job_id"] != ls[i].JobID || m["status"] != "completed" || len(m) != 2 {
			t.Fatalf("result %d: %v", i, m)
		}
	}
	if len(results) != 100 {
		t.Fatalf("%d results", len(results))
	}
	for _, l := range ls {
		a.wantOneCompleted(t, l.JobID)
	}
}

// A malformed batch, or any malformed item in it, is refused with 400
// naming the item, and nothing of it is applied.
func TestLeaseCompleteBatchBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{JobTypes: TypeSet{"ocr": nil}})
	ls := b.leaseN(t, 1)
	good := completionOf(ls[0].JobID, ls[0].LeaseToken, `{"ok": true}`)
	many := make([]string, 101)
	for i := range many {
		many[i] = good
	}
	for _, c := range []struct{ body, msg string }{
		{`{}`, "completions: want 1-100"},
		{`{"completions": []}`, "completions: want 1-100"},
		{`{"completions": null}`, "completions: want 1-100"},
		{completions(many...), "completions: want 1-100"},
		{`{"completions": {}}`, "request body"},
		{`[]`, "request body"},
		{`{"completions": [` + good + `]`, "request body"},
		{`{"completions": [` + good + `]} {}`, "unexpected data"},
		{`{"completions": [` + good + `], "extra": 1}`, "request body"},
		{completions(good, `{"lease_token": "`+ls[0].LeaseToken+`"}`), "completions[1].job_id is required"},
		{completions(good, `{"job_id": "nope", "lease_token": "`+ls[0].LeaseToken+`"}`), "completions[1].job id"},
		{completions(good, `{"job_id": "`+unknownID+`"}`), "completions[1].lease_token is required"},
		{completions(good, `{"job_id": "`+unknownID+`", "lease_token": ""}`), "completions[1].lease_token is required"},
		{completions(good, `{"job_id": "`+unknownID+`", "lease_token": "x"}`), "completions[1].lease_token \"x\" is not one"},
		{completions(good, `{"job_id": "`+unknownID+`", "lease_token": 7}`), "request body"},
		{completions(good, `{"job_id": "`+unknownID+`", "lease_token": "0123456789abcdef.30", "nope": 1}`), "request body"},
		{completions(good, `{"job_id": "`+unknownID+`", "lease_token": "0123456789abcdef.30", "result": }`), "request body"},
	} {
		e := b.wantError(t, "POST", "/api/v1/leases/complete", c.body, 400, CodeInvalidArgument)
		if msg, _ := e["message"].(string); !strings.Contains(msg, c.msg) {
			t.Errorf("%.80s: message %q, want it to say %q", c.body, msg, c.msg)
		}
	}
	if j, _ := b.client.Get(ctxT(t), ls[0].JobID); j.Status != queue.StateRunning || j.Version != 2 {
		t.Fatalf("a refused batch changed the job: %+v", j)
	}
	b.wantError(t, "POST", "/api/v1/leases/complete", completions(good), 415, CodeUnsupportedMediaType, "Content-Type", "text/plain")
}
