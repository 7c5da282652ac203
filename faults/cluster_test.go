package faults

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
	"github.com/compileo/jobqueue/internal/redistest"
	"github.com/compileo/jobqueue/pkg/queue"
)

// Bounds of the Cluster fault tests: generous, since the machine is
// shared; the figures they log are the measurement.
const (
	clusterFormIn     = 30 * time.Second // a forming cluster's processes are up once it formed
	clusterDownWithin = 20 * time.Second // a dead master's slots fail the cluster (node timeout 2 s)
	clusterBackWithin = 30 * time.Second // the master back: submissions succeed again
)

// An apiserver and a worker started while their Redis Cluster is still
// forming (its nodes up, no slot served: CLUSTERDOWN) wait for it, as
// they wait for a Redis that is not up yet, instead of exiting; once the
// cluster formed they serve and run jobs.
func TestClusterFormingAtStartUp(t *testing.T) {
	t.Parallel()
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 1, Redis: clustertest.RedisCluster, Forming: true})
	api, worker := cl.APIs()[0], cl.Workers()[0]
	proctest.WaitFor(t, 20*time.Second, "both processes waiting for the cluster", func() bool {
		for _, p := range []*proctest.Proc{api.Proc, worker} {
			if p.Exited() {
				t.Fatalf("%s exited while the cluster was forming:\n%s", p.Name, p.Output())
			}
			if !strings.Contains(p.Output(), "waiting for redis") || !strings.Contains(p.Output(), "CLUSTERDOWN") {
				return false
			}
		}
		return true
	})
	formed := time.Now()
	if err := cl.RedisCluster.Form(); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitReady(t, api.URL, clusterFormIn)
	proctest.WaitFor(t, clusterFormIn, "the worker ready", func() bool {
		return strings.Contains(worker.Output(), "worker ready")
	})
	t.Logf("both up %s after the cluster formed", time.Since(formed).Round(time.Millisecond))
	id := clustertest.Submit(t, api.URL, `{"type":"demo","payload":{"steps":1,"step_ms":1}}`)
	q := cl.Queue()
	proctest.WaitFor(t, 20*time.Second, "the job completed", func() bool {
		j, err := q.Get(context.Background(), id)
		return err == nil && j.Status == queue.StateCompleted
	})
}

// A master of a Cluster without replicas dies: once the other nodes agree
// it failed, the cluster refuses every key (CLUSTERDOWN) until it is
// back. Meanwhile submissions are refused with 503 and Retry-After,
// never a 500, and no process exits; once the master is back they are
// accepted again.
func TestClusterDownIs503(t *testing.T) {
	t.Parallel()
	cl := clustertest.Start(t, clustertest.Options{APIs: 1, Workers: 1, Redis: clustertest.RedisCluster})
	api := cl.APIs()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	victim := otherMaster(t, ctx, cl)

	sub := startSubmitter(ctx, api.URL, 1, 20*time.Millisecond)
	defer sub.Stop()
	count := sub.count
	proctest.WaitFor(t, 10*time.Second, "submissions accepted", func() bool { return count(http.StatusCreated) > 0 })
	victim.Stop() // SIGKILL
	killed := time.Now()
	proctest.WaitFor(t, clusterDownWithin, "the cluster down: submissions refused with 503", func() bool {
		return count(http.StatusServiceUnavailable) > 0
	})
	downAfter := time.Since(killed)
	if err := victim.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := cl.RedisCluster.WaitOK(clusterBackWithin); err != nil {
		t.Fatal(err)
	}
	accepted := count(http.StatusCreated)
	proctest.WaitFor(t, clusterBackWithin, "submissions accepted again", func() bool { return count(http.StatusCreated) > accepted })
	backAfter := time.Since(killed)
	for _, p := range append(cl.Workers(), api.Proc) {
		if p.Exited() {
			t.Fatalf("%s exited while the cluster was down:\n%s", p.Name, p.Output())
		}
	}
	statuses, noHint := sub.Stop()
	t.Logf("master %s killed: first 503 after %s, 201 again after %s; statuses %v",
		victim.Addr, downAfter.Round(time.Millisecond), backAfter.Round(time.Millisecond), statuses)
	if statuses[http.StatusInternalServerError] > 0 || noHint > 0 {
		t.Fatalf("while the cluster was down: %d 500s, %d 503s without Retry-After (statuses %v); apiserver:\n%s",
			statuses[http.StatusInternalServerError], noHint, statuses, api.Proc.Output())
	}
}

// otherMaster is a master of the cluster that does not hold the queue's
// keys (the unsharded tag {jq}), so that killing it shows the cluster
// refusing keys that live on a healthy node.
func otherMaster(t *testing.T, ctx context.Context, cl *clustertest.Cluster) *redistest.Server {
	t.Helper()
	cc := cl.RedisCluster.Client()
	defer cc.Close()
	home, err := cc.MasterForKey(ctx, "{"+queue.DefaultPrefix+"}:counts")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.RedisCluster.Nodes {
		if n.Addr != home.Options().Addr {
			return n
		}
	}
	t.Fatal("no other master")
	return nil
}
