package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/client"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

const testSecret = "test-secret-0123456789abcdef"

// setup returns a queue client of the test's own prefix on the shared
// redis-server.
func setup(t *testing.T) *queue.Client {
	t.Helper()
	srv := redistest.Shared(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := queue.NewClient(ctx, rdb, &queue.Config{Prefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// startDeliverer starts a fast deliverer on q, stopped at cleanup.
func startDeliverer(t *testing.T, q *queue.Client, g *Guard) {
	t.Helper()
	d, err := New(q, Config{Secret: testSecret, Guard: g, PollInterval: 10 * time.Millisecond,
		RetryBaseDelay: 20 * time.Millisecond, Timeout: 2 * time.Second,
		Body: func(j *queue.Job) ([]byte, error) {
			return json.Marshal(map[string]any{"job_id": j.ID, "status": j.Status})
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Stop)
}

// endJob submits a job with callback url and completes it.
func endJob(t *testing.T, q *queue.Client, url string) string {
	t.Helper()
	ctx := context.Background()
	e, err := q.Enqueue(ctx, queue.EnqueueParams{Type: "ocr", CallbackURL: url})
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.Lease(ctx, queue.LeaseParams{WorkerID: "w", Types: []string{"ocr"}, Max: 1, Lease: 10 * time.Second})
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("lease: %v %v", res, err)
	}
	if err := q.CompleteLease(ctx, e.ID, res.Jobs[0].Token, ""); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// waitDelivery waits for the job's delivery to leave pending.
func waitDelivery(t *testing.T, q *queue.Client, id string) *queue.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		j, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Delivery != nil && j.Delivery.State != queue.DeliveryPending {
			return j
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("delivery of %s still pending", id)
	return nil
}

// A receiver that fails twice gets the callback on the third attempt,
// each signed, all with the same delivery id; the attempts are on the job.
func TestDeliverRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	q := setup(t)
	var mu sync.Mutex
	var ids []string
	var bodies []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, err := client.VerifyCallback(testSecret, r.Header, body, 0)
		if err != nil {
			t.Errorf("signature: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		ids, bodies = append(ids, id), append(bodies, string(body))
		if len(ids) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(rcv.Close)
	startDeliverer(t, q, &Guard{Allow: mustAllow(t, "127.0.0.1")})
	id := endJob(t, q, rcv.URL+"/hook")
	j := waitDelivery(t, q, id)
	d := j.Delivery
	if d.State != queue.DeliveryDelivered || d.Tries != 3 || len(d.Attempts) != 3 {
		t.Fatalf("delivery %+v", d)
	}
	if d.Attempts[0].StatusCode != 503 || d.Attempts[0].Error == "" || d.Attempts[2].StatusCode != 200 || d.Attempts[2].Error != "" {
		t.Fatalf("attempts %+v", d.Attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range ids {
		if ids[i] != d.ID || bodies[i] != bodies[0] {
			t.Fatalf("attempt %d: id %s body %s; want %s %s", i, ids[i], bodies[i], d.ID, bodies[0])
		}
	}
	if !strings.Contains(bodies[0], id) || !strings.Contains(bodies[0], `"completed"`) {
		t.Fatalf("body %s", bodies[0])
	}
}

// With the default guard, a callback to loopback (slipped past the
// submission's check, or a name rebound to 127.0.0.1) is never dialed:
// the attempt fails, and says why.
func TestDeliverRefusesLoopbackAtTheDial(t *testing.T) {
	t.Parallel()
	q := setup(t)
	hit := make(chan struct{}, 1)
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hit <- struct{}{} }))
	t.Cleanup(rcv.Close)
	startDeliverer(t, q, &Guard{})
	id := endJob(t, q, rcv.URL)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		j, _ := q.Get(context.Background(), id)
		if d := j.Delivery; d != nil && d.Tries > 0 {
			if !strings.Contains(d.Attempts[0].Error, ErrForbiddenAddress.Error()) {
				t.Fatalf("attempt %+v", d.Attempts[0])
			}
			select {
			case <-hit:
				t.Fatal("the receiver on loopback was called")
			default:
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no attempt recorded")
}

// The backoff doubles from the base delay up to the cap, and the first
// failure past the window gives up.
func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	d := &Deliverer{cfg: Config{RetryBaseDelay: time.Second, RetryMaxDelay: 10 * time.Second, RetryWindow: time.Hour}}
	ended := time.Now()
	for tries, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		want *= time.Second
		j := &queue.Job{CompletedAt: ended, Delivery: &queue.Delivery{Tries: tries}}
		state, next := d.retry(j, ended)
		if got := next.Sub(ended); state != queue.DeliveryPending || got < want*9/10 || got > want*11/10 {
			t.Errorf("after %d tries: %s in %s, want pending in %s ±10%%", tries+1, state, got, want)
		}
	}
	j := &queue.Job{CompletedAt: ended, Delivery: &queue.Delivery{Tries: 30}}
	if state, _ := d.retry(j, ended.Add(time.Hour)); state != queue.DeliveryFailed {
		t.Errorf("past the window: %s", state)
	}
}

// A signature made with another secret, or too old, is refused.
func TestVerifyRefusesForgeries(t *testing.T) {
	t.Parallel()
	body := []byte(`{"job_id":"x"}`)
	h := http.Header{}
	sign(h, testSecret, "x.3", time.Now(), body)
	if id, err := client.VerifyCallback(testSecret, h, body, 0); err != nil || id != "x.3" {
		t.Fatalf("valid: %q %v", id, err)
	}
	if _, err := client.VerifyCallback("another secret", h, body, 0); err == nil {
		t.Fatal("another secret verified")
	}
	if _, err := client.VerifyCallback(testSecret, h, []byte(`{"job_id":"y"}`), 0); err == nil {
		t.Fatal("another body verified")
	}
	old := http.Header{}
	sign(old, testSecret, "x.3", time.Now().Add(-time.Hour), body)
	if _, err := client.VerifyCallback(testSecret, old, body, 0); err == nil {
		t.Fatal("an hour-old signature verified")
	}
}

// The signature of a known body and time, which the Python SDK's tests
// check as well (sdk/python/tests/test_callbacks.py): both sides agree.
func TestSignatureVector(t *testing.T) {
	t.Parallel()
	body := `{"job_id":"123e4567-e89b-12d3-a456-426614174000","status":"completed"}`
	const want = "sha256=762c92a0ba276fc6ac670ad0b55a621a5db8bbcd496007abc29b8cb7cb04928c"
	if got := Signature("whsec-test", 1700000000, []byte(body)); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}
