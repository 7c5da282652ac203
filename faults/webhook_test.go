package faults

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/client"
)

const hookSecret = "faults-webhook-secret-0123456789"

// hookEnv is what every process of the webhook test runs with: the
// secret, loopback allowed (the receiver is a test server), and short
// waits so the test takes seconds: a 1 s attempt timeout (so a 3 s
// lease), retries from 100 ms.
var hookEnv = []string{"WEBHOOK_SECRET=" + hookSecret, "WEBHOOK_ALLOW=127.0.0.1",
	"WEBHOOK_POLL_INTERVAL=50ms", "WEBHOOK_TIMEOUT=1s", "WEBHOOK_RETRY_BASE_DELAY=100ms",
	"WEBHOOK_RETRY_MAX_DELAY=500ms"}

// receiver is the callback's receiver: it records every POST (its
// delivery id, whether its signature verified, its body) and answers as
// answer says.
type receiver struct {
	mu       sync.Mutex
	got      []received
	arrived  chan int // the number of each POST, as it arrives
	answerFn func(n int, w http.ResponseWriter)
}

type received struct {
	id, body string
	err      error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, err := client.VerifyCallback(hookSecret, r.Header, body, 0)
	rc.mu.Lock()
	rc.got = append(rc.got, received{id: id, body: string(body), err: err})
	n := len(rc.got)
	rc.mu.Unlock()
	rc.arrived <- n
	rc.answerFn(n, w)
}

// wantOneDelivery checks that every POST the receiver got is the same
// delivery, signed: delivery id deliveryID (of owner's: "<owner>.<n>"),
// the same body each time, holding each of has.
func (rc *receiver) wantOneDelivery(t *testing.T, deliveryID, owner string, has ...string) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, r := range rc.got {
		if r.err != nil {
			t.Errorf("POST %d: signature: %v", i+1, r.err)
		}
		if r.id != deliveryID || !strings.HasPrefix(r.id, owner+".") {
			t.Errorf("POST %d: delivery id %q, want %q", i+1, r.id, deliveryID)
		}
		if r.body != rc.got[0].body {
			t.Errorf("POST %d: body %s, unlike the first %s", i+1, r.body, rc.got[0].body)
		}
		for _, h := range has {
			if !strings.Contains(r.body, h) {
				t.Errorf("POST %d: body %s without %s", i+1, r.body, h)
			}
		}
	}
}

// jobCallback is the callback part of a job's status.
type jobCallback struct {
	Status   string `json:"status"`
	Callback struct {
		DeliveryID string `json:"delivery_id"`
		State      string `json:"state"`
		Tries      int    `json:"tries"`
		Attempts   []struct {
			StatusCode int    `json:"status_code"`
			Error      string `json:"error"`
		} `json:"attempts"`
	} `json:"callback"`
}

func statusOf(t *testing.T, base, id string) jobCallback {
	var st jobCallback
	if code := clustertest.GetJSON(t, base+"/api/v1/jobs/status/"+id, &st); code != http.StatusOK {
		t.Fatalf("status of %s: %d", id, code)
	}
	return st
}

// A job's callback survives its receiver being down for the first three
// attempts and the SIGKILL of the apiserver and the worker that were
// delivering it — one of them in the middle of an attempt: it arrives
// signed, and every copy carries the same delivery id. A callback to
// 127.0.0.1 is refused by an apiserver that was not told to allow it.
func TestWebhookSurvivesCrashes(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 1,
		APIEnv: hookEnv, WorkerEnv: hookEnv})
	apiA, workerA := cl.APIs()[0], cl.Workers()[0]

	// The default: loopback refused at submission.
	strict := cl.StartAPI("WEBHOOK_ALLOW=")
	clustertest.WaitReady(t, strict.URL, 20*time.Second)
	var refused struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	code, _ := clustertest.PostJSON(t, strict.URL+"/api/v1/jobs",
		`{"type":"demo","payload":{"steps":1,"step_ms":1},"callback_url":"http://127.0.0.1:9/hook"}`, &refused)
	if code != http.StatusBadRequest || refused.Error.Code != "invalid_argument" ||
		!strings.Contains(refused.Error.Message, "not allowed") {
		t.Fatalf("a callback to 127.0.0.1: %d %+v", code, refused)
	}
	strict.Proc.Kill()

	// The receiver is down: its port is closed.
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	hook := "http://127.0.0.1:" + strconv.Itoa(port) + "/hook"
	id := clustertest.Submit(t, apiA.URL, `{"type":"demo","payload":{"steps":1,"step_ms":1},"callback_url":"`+hook+`"}`)
	proctest.WaitFor(t, 30*time.Second, "three refused attempts", func() bool {
		st := statusOf(t, apiA.URL, id)
		return st.Status == "completed" && st.Callback.Tries >= 3
	})
	down := statusOf(t, apiA.URL, id)
	for _, a := range down.Callback.Attempts {
		if a.StatusCode != 0 || !strings.Contains(a.Error, "refused") {
			t.Fatalf("an attempt while the receiver was down: %+v", a)
		}
	}

	// The receiver comes up. Its first POST hangs: while it does, the
	// apiserver and the worker — one of them holds the delivery's lease,
	// mid-attempt — are SIGKILLed. A new apiserver and worker take over
	// once the lease ends; the second POST is answered 204.
	rc, release := firstPostHangs()
	serveReceiver(t, rc, port)
	apiB := killMidAttempt(t, cl, apiA, workerA, rc, release)
	waitArrival(t, rc, 2)
	proctest.WaitFor(t, 30*time.Second, "the delivery recorded as delivered", func() bool {
		return statusOf(t, apiB.URL, id).Callback.State == "delivered"
	})

	final := statusOf(t, apiB.URL, id)
	rc.wantOneDelivery(t, final.Callback.DeliveryID, id, `"status":"completed"`)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	last := final.Callback.Attempts[len(final.Callback.Attempts)-1]
	t.Logf("callback: %d POSTs received, all with delivery id %s; %d attempts recorded (%d refused while down), last %+v",
		len(rc.got), final.Callback.DeliveryID, final.Callback.Tries, down.Callback.Tries, last)
	if last.StatusCode != http.StatusNoContent || final.Callback.Tries < 4 {
		t.Fatalf("callback %+v", final.Callback)
	}
}

// waitArrival waits for the receiver's n-th POST.
// firstPostHangs is a receiver whose first POST hangs until release is
// closed (while its deliverer is killed); every POST is answered 204.
func firstPostHangs() (rc *receiver, release chan struct{}) {
	rc = &receiver{arrived: make(chan int, 16)}
	release = make(chan struct{})
	rc.answerFn = func(n int, w http.ResponseWriter) {
		if n == 1 {
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}
	return rc, release
}

// killMidAttempt SIGKILLs the apiserver api and the worker once rc's
// first POST arrived (one of them holds the delivery's lease, mid-attempt),
// lets that POST go, and starts a new apiserver and worker, which take
// the delivery over once the lease ends. It returns the new apiserver,
// ready.
func killMidAttempt(t *testing.T, cl *clustertest.Cluster, api *clustertest.API, worker *proctest.Proc,
	rc *receiver, release chan struct{}) *clustertest.API {
	t.Helper()
	waitArrival(t, rc, 1)
	api.Proc.Kill()
	worker.Kill()
	close(release)
	next := cl.StartAPI()
	cl.StartWorker()
	clustertest.WaitReady(t, next.URL, 20*time.Second)
	return next
}

// serveReceiver serves rc on port of loopback until the test ends.
func serveReceiver(t *testing.T, rc *receiver, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
}

func waitArrival(t *testing.T, rc *receiver, n int) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case got := <-rc.arrived:
			if got >= n {
				return
			}
		case <-timeout:
			t.Fatal(errors.New("the receiver's POST " + strconv.Itoa(n) + " did not come"))
		}
	}
}
