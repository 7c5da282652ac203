package faults

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/internal/proctest"
)

// Processes that start at the same moment on an empty Redis (as
// `docker-compose up` starts them) all come up: they race to record the
// queue's layout, and the losers must take the winner's record.
func TestProcessesStartingTogether(t *testing.T) {
	const rounds, apis, workers = 20, 4, 4
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			cl := clustertest.Start(t, clustertest.Options{Shards: shards})
			rdb := cl.Redis.Client()
			t.Cleanup(func() { _ = rdb.Close() })
			for round := range rounds {
				if err := rdb.FlushAll(context.Background()).Err(); err != nil {
					t.Fatal(err)
				}
				startTogether(t, cl, round, apis, workers)
			}
		})
	}
}

// startTogether starts apis apiservers and workers workers at once, waits
// until every one is up, and kills them all.
func startTogether(t *testing.T, cl *clustertest.Cluster, round, apis, workers int) {
	t.Helper()
	var procs []*proctest.Proc
	var started []*clustertest.API
	var ws []*proctest.Proc
	for i := range max(apis, workers) {
		if i < workers {
			w := cl.StartWorker()
			ws = append(ws, w)
			procs = append(procs, w)
		}
		if i < apis {
			a := cl.StartAPI()
			started = append(started, a)
			procs = append(procs, a.Proc)
		}
	}
	defer func() {
		for _, p := range procs {
			p.Kill()
		}
	}()
	up := func(p *proctest.Proc, ready func() bool) bool {
		if p.Exited() {
			t.Fatalf("round %d: %s exited at start-up:\n%s", round, p.Name, p.Output())
		}
		return ready()
	}
	proctest.WaitFor(t, 20*time.Second, fmt.Sprintf("round %d: every process up", round), func() bool {
		for _, a := range started {
			if !up(a.Proc, func() bool { return isReady(a.URL) }) {
				return false
			}
		}
		for _, w := range ws {
			if !up(w, func() bool { return strings.Contains(w.Output(), "worker ready") }) {
				return false
			}
		}
		return true
	})
}

func isReady(base string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	code, _, err := clustertest.Do(ctx, "GET", base+"/readyz", "", nil)
	return err == nil && code == 200
}
