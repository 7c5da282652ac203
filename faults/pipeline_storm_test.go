package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compileo/jobqueue/internal/clustertest"
	"github.com/compileo/jobqueue/pkg/queue"
)

// Shape of the pipeline storm.
const (
	pipeStormPipelines = 40
	pipeStormLease     = time.Second
	pipeStormKillEvery = 1500 * time.Millisecond
	pipeStormKills     = 6
	pipeStormJob       = `{"steps": 2, "step_ms": 60}`
)

// TestPipelineCrashStorm runs random pipelines (3 to 10 demo jobs each,
// any job depending on up to three before it) through two apiservers and
// three Go workers (lease 1 s) on a redis-server with AOF fsynced on every
// write, while it SIGKILLs a random worker every 1.5 s (starting another)
// and once restarts Redis from its AOF. Then every pipeline must have
// completed, every job must have started only after all its parents
// completed, no job may have completed twice, and the data model's
// invariants (the pipelines' included) must hold.
func TestPipelineCrashStorm(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{APIs: 2, Workers: 3,
		RedisArgs: []string{"--appendfsync", "always"},
		WorkerEnv: []string{"WORKER_LEASE_TTL=" + pipeStormLease.String(), "WORKER_CONCURRENCY=8", "LOG_LEVEL=warn"},
		APIEnv:    []string{"LOG_LEVEL=warn"}})
	q := cl.Queue()
	apis := cl.APIs()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	// Count the completions published, to catch a job completing twice.
	hub := q.NewHub()
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	all := hub.Subscribe("")
	var mu sync.Mutex
	completions := map[string]int{}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ev := range all.C {
			if ev.Status == queue.StateCompleted && ev.PipelineID == "" {
				mu.Lock()
				completions[ev.JobID]++
				mu.Unlock()
			}
		}
	}()

	// Submit the pipelines, a few at a time, while the storm goes on.
	type submitted struct {
		ID   string            `json:"pipeline_id"`
		Jobs map[string]string `json:"jobs"`
	}
	pipes := make([]submitted, pipeStormPipelines)
	subDone := make(chan error, 1)
	go func() {
		for i := range pipes {
			body := randomPipeline(i)
			for attempt := 0; ; attempt++ {
				code, _, err := clustertest.Do(ctx, "POST", apis[i%len(apis)].URL+"/api/v1/pipelines", body, &pipes[i])
				if err == nil && code == 201 {
					break
				}
				if attempt == 100 { // Redis away for the restart: 503s, then it is back
					subDone <- fmt.Errorf("pipeline %d: %d %v", i, code, err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(150 * time.Millisecond)
		}
		subDone <- nil
	}()

	start := time.Now()
	live := cl.Workers()
	ticker := time.NewTicker(pipeStormKillEvery)
	defer ticker.Stop()
	for tick := 1; tick <= pipeStormKills+1; tick++ {
		<-ticker.C
		if tick == 3 {
			cl.Redis.Shutdown()
			if err := cl.Redis.Restart(); err != nil {
				t.Fatalf("redis restart: %v", err)
			}
			t.Logf("t=%s redis restarted from its AOF", time.Since(start).Round(time.Millisecond))
			continue
		}
		i := rand.IntN(len(live))
		live[i].Kill()
		t.Logf("t=%s SIGKILL %s", time.Since(start).Round(time.Millisecond), live[i].Name)
		live[i] = cl.StartWorker()
	}
	if err := <-subDone; err != nil {
		t.Fatal(err)
	}

	// Every pipeline ends, completed.
	var problems []string
	for _, p := range pipes {
		var got *queue.Pipeline
		for settle := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			var err error
			if got, err = q.GetPipeline(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
			if got.Status.Ended() || time.Now().After(settle) {
				break
			}
		}
		if got.Status != queue.PipelineCompleted {
			problems = append(problems, fmt.Sprintf("pipeline %s is %s", p.ID, got.Status))
			continue
		}
		done := map[string]time.Time{}
		for _, m := range got.Jobs {
			done[m.Key] = m.Job.CompletedAt
		}
		for _, m := range got.Jobs {
			for _, d := range m.DependsOn {
				if m.Job.StartedAt.Before(done[d]) {
					problems = append(problems, fmt.Sprintf("pipeline %s: job %s started at %s, before its parent %s completed at %s",
						p.ID, m.Key, m.Job.StartedAt, d, done[d]))
				}
			}
		}
	}
	hub.Stop()
	<-watched
	mu.Lock()
	for id, n := range completions {
		if n > 1 {
			problems = append(problems, fmt.Sprintf("job %s completed %d times", id, n))
		}
	}
	mu.Unlock()
	if err := q.CheckInvariants(ctx); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		t.Fatalf("%d problems:\n%s", len(problems), strings.Join(problems[:min(len(problems), 20)], "\n"))
	}
	t.Logf("%d pipelines completed through %d worker kills and a Redis restart in %s",
		len(pipes), pipeStormKills, time.Since(start).Round(time.Millisecond))
}

// randomPipeline is the body of a random pipeline of demo jobs (seeded
// by n): 3 to 10 jobs, each depending on up to three of those before it.
func randomPipeline(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 11))
	type item struct {
		Key       string          `json:"key"`
		Type      string          `json:"type"`
		Payload   json.RawMessage `json:"payload"`
		DependsOn []string        `json:"depends_on,omitempty"`
	}
	var jobs []item
	for i := range 3 + rng.IntN(8) {
		it := item{Key: fmt.Sprintf("j%d", i), Type: "demo", Payload: json.RawMessage(pipeStormJob)}
		for d := range i {
			if rng.IntN(3) == 0 && len(it.DependsOn) < 3 {
				it.DependsOn = append(it.DependsOn, fmt.Sprintf("j%d", d))
			}
		}
		jobs = append(jobs, it)
	}
	b, _ := json.Marshal(map[string]any{"jobs": jobs})
	return string(b)
}
