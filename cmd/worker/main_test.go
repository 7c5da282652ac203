package main

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/testmain"

	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) {
	testmain.Run(m)
}

func startProc(t *testing.T, redisURL, prefix, id string, extra ...string) *proctest.Proc {
	t.Helper()
	return proctest.Start(t, id, proctest.Build(t, "github.com/compileo/jobqueue/cmd/worker"),
		[]string{"REDIS_URL=" + redisURL, "QUEUE_PREFIX=" + prefix, "WORKER_ID=" + id,
			"WORKER_LEASE_TTL=1s", "WORKER_CONCURRENCY=4", "LOG_LEVEL=info"}, extra...)
}

// setup gives a test a queue client on the shared redis-server under a
// key prefix of its own, for the worker processes it starts.
func setup(t *testing.T) (context.Context, *queue.Client, *redistest.Server, string) {
	t.Helper()
	srv := redistest.Shared(t)
	prefix := redistest.Prefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	c, err := queue.NewClient(ctx, rdb, &queue.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, c, srv, prefix
}

// TestKilledWorkersJobsFinishElsewhere SIGKILLs a real worker process in
// the middle of its jobs and checks that another process finishes every
// one of them, within two leases of the kill.
func TestKilledWorkersJobsFinishElsewhere(t *testing.T) {
	ctx, c, srv, prefix := setup(t)

	victim := startProc(t, srv.URL(), prefix, "victim")
	proctest.WaitFor(t, 10*time.Second, "victim registered", func() bool {
		ws, _ := c.Workers(ctx)
		return len(ws) == 1
	})
	var ids []string
	for i := 0; i < 4; i++ {
		e, err := c.Enqueue(ctx, queue.EnqueueParams{Type: "demo",
			Payload: json.RawMessage(`{"steps": 10, "step_ms": 100}`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	proctest.WaitFor(t, 10*time.Second, "the victim running all four jobs", func() bool {
		jobs, _ := c.GetMany(ctx, ids)
		for _, j := range jobs {
			if j.Status != queue.StateRunning || j.WorkerID != "victim" || j.Progress == 0 {
				return false
			}
		}
		return true
	})
	survivor := startProc(t, srv.URL(), prefix, "survivor")
	_ = survivor
	victim.Kill()
	killedAt := time.Now()

	proctest.WaitFor(t, 20*time.Second, "every job completed", func() bool {
		jobs, _ := c.GetMany(ctx, ids)
		for _, j := range jobs {
			if j.Status != queue.StateCompleted {
				return false
			}
		}
		return true
	})
	jobs, _ := c.GetMany(ctx, ids)
	lease := time.Second
	for _, j := range jobs {
		restartedAfter := j.StartedAt.Sub(killedAt)
		t.Logf("job %s: attempts %d, on %s, started again %s after the kill", j.ID, j.Attempts, j.WorkerID, restartedAfter)
		if j.WorkerID != "survivor" || j.Attempts != 2 {
			t.Fatalf("job %s finished on %s after %d attempts", j.ID, j.WorkerID, j.Attempts)
		}
		if restartedAfter > 2*lease {
			t.Fatalf("job %s ran again %s after its worker died; want within 2×lease (%s)", j.ID, restartedAfter, 2*lease)
		}
	}
	// The dead worker drops out of the registry by itself.
	proctest.WaitFor(t, 5*time.Second, "the dead worker leaving the registry", func() bool {
		ws, _ := c.Workers(ctx)
		return len(ws) == 1 && ws[0].ID == "survivor"
	})
}

// TestSIGTERMPutsRunningJobsBack: a graceful stop past its timeout puts
// the running job back as pending without charging the attempt.
func TestSIGTERMPutsRunningJobsBack(t *testing.T) {
	ctx, c, srv, prefix := setup(t)
	p := startProc(t, srv.URL(), prefix, "graceful", "-shutdown-timeout", "200ms")
	e, err := c.Enqueue(ctx, queue.EnqueueParams{Type: "demo", Payload: json.RawMessage(`{"steps": 100, "step_ms": 100}`)})
	if err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 10*time.Second, "job running", func() bool {
		j, _ := c.Get(ctx, e.ID)
		return j.Status == queue.StateRunning
	})
	_ = p.Signal(syscall.SIGTERM)
	if err := p.Wait(10 * time.Second); err != nil {
		t.Fatalf("worker exit on SIGTERM: %v", err)
	}
	j, _ := c.Get(ctx, e.ID)
	if j.Status != queue.StatePending || j.Attempts != 0 {
		t.Fatalf("after SIGTERM: %s attempts %d", j.Status, j.Attempts)
	}
}

// A worker run with -no-maintenance promotes no due job; a process run
// with -maintenance-only does it for every queue, runs no job and is no
// worker in the registry.
func TestMaintenanceOnlyServesWorkersWithout(t *testing.T) {
	ctx, c, srv, prefix := setup(t)
	startProc(t, srv.URL(), prefix, "runner", "-no-maintenance", "-queues", "default,other")
	proctest.WaitFor(t, 10*time.Second, "runner registered", func() bool {
		ws, _ := c.Workers(ctx)
		return len(ws) == 1
	})
	var ids []string
	for _, q := range []string{"default", "other"} {
		e, err := c.Enqueue(ctx, queue.EnqueueParams{Type: "demo", Queue: q,
			Payload: json.RawMessage(`{"steps": 1, "step_ms": 1}`), RunAt: time.Now().Add(100 * time.Millisecond)})
		if err != nil || e.Status != queue.StateScheduled {
			t.Fatalf("enqueue: %+v %v", e, err)
		}
		ids = append(ids, e.ID)
	}
	maint := startProc(t, srv.URL(), prefix, "maint", "-maintenance-only")
	proctest.WaitFor(t, 10*time.Second, "both jobs completed", func() bool {
		jobs, _ := c.GetMany(ctx, ids)
		for _, j := range jobs {
			if j == nil || j.Status != queue.StateCompleted {
				return false
			}
		}
		return true
	})
	jobs, _ := c.GetMany(ctx, ids)
	for _, j := range jobs {
		if j.WorkerID != "runner" {
			t.Fatalf("job %s ran on %q", j.ID, j.WorkerID)
		}
	}
	if ws, _ := c.Workers(ctx); len(ws) != 1 || ws[0].ID != "runner" {
		t.Fatalf("registry: %+v", ws)
	}
	if !strings.Contains(maint.Output(), "maintenance ready") {
		t.Fatalf("maintenance process output:\n%s", maint.Output())
	}
	if _, err := parseConfig([]string{"-no-maintenance", "-maintenance-only"}); err == nil {
		t.Fatal("-no-maintenance with -maintenance-only accepted")
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("WORKER_CONCURRENCY", "7")
	t.Setenv("WORKER_QUEUES", "critical=6,default")
	t.Setenv("WORKER_LEASE_TTL", "20s")
	t.Setenv("WORKER_SHUTDOWN_TIMEOUT", "1m")
	t.Setenv("WORKER_JANITOR_INTERVAL", "2s")
	cfg, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Worker
	if w.Concurrency != 7 || w.Queues["critical"] != 6 || w.Queues["default"] != 1 ||
		w.LeaseTTL != 20*time.Second || w.ShutdownTimeout != time.Minute || w.JanitorInterval != 2*time.Second {
		t.Fatalf("%+v", w)
	}
	t.Setenv("WORKER_LEASE_TTL", "soon")
	if _, err := parseConfig(nil); err == nil {
		t.Fatal("bad WORKER_LEASE_TTL accepted")
	}
}
