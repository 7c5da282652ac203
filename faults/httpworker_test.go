package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/pkg/queue"
)

// Workers in Python over the HTTP lease protocol, under faults: an
// apiserver killed while a worker completes through nginx, a worker
// frozen past its lease. The workers are the SDK's (sdk/python), run as
// their own processes.

// pyWorkerScript runs one handler of type argv[3] against argv[1] (lease
// argv[4] seconds): it prints "STARTED <id> <attempt>", and on a job's
// first attempt waits until the file argv[5] exists; it returns the
// attempt and its worker's id.
const pyWorkerScript = `
import logging, os, sys, time
import jobqueue
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
url, key, typ, lease, gate = sys.argv[1:6]
w = jobqueue.Worker(url, api_key=key or None, lease_seconds=int(lease), wait_seconds=2, timeout=5)

@w.handler(typ)
def handle(job):
    print("STARTED %s %d" % (job.id, job.attempt), flush=True)
    if job.attempt == 1:
        while not os.path.exists(gate):
            time.sleep(0.02)
    return {"attempt": job.attempt, "worker": w.worker_id}

w.run()
`

// pyWorker starts the script against url with lease seconds; the job's
// first attempt waits for gate.
func pyWorker(t *testing.T, name, url, typ string, lease int, gate string) *proctest.Proc {
	t.Helper()
	return startPython(t, name, pyWorkerScript, url, "", typ, fmt.Sprint(lease), gate)
}

// startPython runs script with args in a process of its own, with the
// SDK (sdk/python/src) on its path.
func startPython(t *testing.T, name, script string, args ...string) *proctest.Proc {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: python3 is not installed")
		}
		t.Skip("python3 not installed")
	}
	src, err := filepath.Abs(filepath.Join("..", "sdk", "python", "src"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "worker.py")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{path}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+src, "PYTHONDONTWRITEBYTECODE=1")
	return proctest.StartCmd(t, name, cmd)
}

// submitKnown submits a job of typ through base once a worker has made
// the type known, and returns its id.
func submitKnown(t *testing.T, base, typ string) string {
	t.Helper()
	var id string
	proctest.WaitFor(t, 20*time.Second, "the type "+typ+" known", func() bool {
		var out struct {
			JobID string `json:"job_id"`
		}
		code, _ := clustertest.PostJSON(t, base+"/api/v1/jobs", `{"type": "`+typ+`"}`, &out)
		id = out.JobID
		return code == 201
	})
	return id
}

// completedEvents counts the completed events published for each job.
type completedEvents struct {
	mu sync.Mutex
	n  map[string]int
}

func watchCompleted(t *testing.T, q *queue.Client) *completedEvents {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hub := q.NewHub()
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sub := hub.Subscribe("")
	ce := &completedEvents{n: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range sub.C {
			if ev.Status == queue.StateCompleted {
				ce.mu.Lock()
				ce.n[ev.JobID]++
				ce.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { hub.Stop(); cancel(); <-done })
	return ce
}

func (ce *completedEvents) of(id string) int {
	ce.mu.Lock()
	defer ce.mu.Unlock()
	return ce.n[id]
}

func waitStatus(t *testing.T, q *queue.Client, id string, timeout time.Duration, want queue.State) *queue.Job {
	t.Helper()
	var j *queue.Job
	proctest.WaitFor(t, timeout, fmt.Sprintf("job %s %s", id, want), func() bool {
		var err error
		j, err = q.Get(context.Background(), id)
		return err == nil && j.Status == want
	})
	return j
}

// An apiserver SIGKILLed behind nginx while a Python worker completes a
// job through it: the worker's retry goes through the survivor and
// succeeds, and exactly one completed event is published.
func TestLeaseCompleteSurvivesAPIKillBehindNginx(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 2, APIEnv: []string{"LOG_LEVEL=warn"}})
	apis := cl.APIs()
	var upstreams []string
	for _, a := range apis {
		upstreams = append(upstreams, fmt.Sprintf("127.0.0.1:%d", a.Port))
	}
	lb := startNginx(t, upstreams)
	q := cl.Queue()
	events := watchCompleted(t, q)
	gate := filepath.Join(t.TempDir(), "gate")
	typ := "py_hold"
	w := pyWorker(t, "py-worker", lb, typ, 10, gate)
	id := submitKnown(t, lb, typ)
	// Running in Redis is not enough: the lease's answer may still be on
	// its way through the apiserver about to be frozen. The handler holds
	// the job once it says so.
	proctest.WaitFor(t, 20*time.Second, "the worker runs the job", func() bool {
		return strings.Contains(w.Output(), "STARTED "+id+" 1")
	})

	// Freeze one apiserver, let the handler return (its completion goes
	// through nginx, to either instance), then kill the frozen one: a
	// request it held is cut, and the worker retries.
	victim := apis[0]
	if err := victim.Proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the completion is on its way, maybe held by the frozen one
	victim.Proc.Kill()
	j := waitStatus(t, q, id, 30*time.Second, queue.StateCompleted)
	if !strings.Contains(string(j.Result), `"attempt":1`) {
		t.Fatalf("result %s", j.Result)
	}
	// A second completed event would come within a retry or two.
	proctest.WaitFor(t, 5*time.Second, "the completed event", func() bool { return events.of(id) >= 1 })
	time.Sleep(2 * time.Second)
	if n := events.of(id); n != 1 {
		t.Fatalf("%d completed events for job %s, want exactly 1\n%s", n, id, w.Output())
	}
	t.Logf("worker log:\n%s", w.Output())
}

// A Python worker SIGSTOPped past its lease: its job is recovered and run
// by another worker; when the frozen one wakes, its late completion is
// refused and the recovered run's result stands.
func TestFrozenPythonWorkerCannotOverwriteTheRecoveredRun(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, APIEnv: []string{"LOG_LEVEL=warn"}})
	base := cl.APIs()[0].URL
	q := cl.Queue()
	gate := filepath.Join(t.TempDir(), "gate")
	typ := "py_freeze"
	const lease = 5
	frozen := pyWorker(t, "py-frozen", base, typ, lease, gate)
	id := submitKnown(t, base, typ)
	waitStatus(t, q, id, 20*time.Second, queue.StateRunning)
	if err := frozen.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	rescuer := pyWorker(t, "py-rescuer", base, typ, lease, gate)
	j := waitStatus(t, q, id, 4*lease*time.Second, queue.StateCompleted)
	if j.Attempts != 2 || !strings.Contains(string(j.Result), `"attempt":2`) {
		t.Fatalf("recovered run: attempts %d, result %s\n%s", j.Attempts, j.Result, rescuer.Output())
	}
	if d := j.StartedAt.Sub(stoppedAt); d > 2*lease*time.Second {
		t.Errorf("the job ran again %s after its worker froze; want within 2× the lease (%ds)", d, 2*lease)
	}
	// Wake the frozen worker with its handler free to return.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := frozen.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 20*time.Second, "the frozen worker told it lost the job", func() bool {
		out := frozen.Output()
		return strings.Contains(out, "no longer holds the job") || strings.Contains(out, "lease was lost") ||
			strings.Contains(out, "lease lost")
	})
	after, err := q.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != j.Version || string(after.Result) != string(j.Result) {
		t.Fatalf("the late run changed the job: %+v, was %+v\n%s", after, j, frozen.Output())
	}
}

// The crash storm's Python jobs (storm_test.go): a run of about 100 ms.
const (
	stormPyType    = "py_storm"
	stormPyPayload = `{"ms":100}`
)

// stormPyScript runs jobs of type py_storm against argv[1] as worker
// argv[2] (lease stormPyLease, concurrency 8): each sleeps payload ms.
const stormPyScript = `
import logging, sys, time
import jobqueue
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
w = jobqueue.Worker(sys.argv[1], worker_id=sys.argv[2], lease_seconds=5, wait_seconds=2, concurrency=8, timeout=5)

@w.handler("py_storm")
def handle(job):
    time.sleep(job.payload["ms"] / 1000)
    return {"slept_ms": job.payload["ms"]}

w.run()
`

// stormPyWorker starts a Python worker of the storm named name (its
// worker id) against url.
func stormPyWorker(t *testing.T, name, url string) *proctest.Proc {
	t.Helper()
	return startPython(t, name, stormPyScript, url, name)
}
