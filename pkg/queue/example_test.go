package queue_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/alicebob/miniredis/v2"
	"github.com/compileo/jobqueue/pkg/queue"
	"github.com/redis/go-redis/v9"
)

// Register a handler for a job type, run a worker, submit a job and wait
// for its result. (An embedded miniredis keeps the example
// self-contained; production uses a real Redis.)
func Example() {
	ctx := context.Background()
	mr, _ := miniredis.Run()
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	client, err := queue.NewClient(ctx, rdb, nil)
	if err != nil {
		panic(err)
	}

	mux := queue.NewMux()
	mux.HandleFunc("greet", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		var p struct {
			Name string `json:"name"`
		}
		if err := job.Decode(&p); err != nil {
			return nil, err // bad payload: fails at once, no retry
		}
		job.Progress(50, "Composing greeting")
		return map[string]string{"greeting": "Hello, " + p.Name}, nil
	})
	w, err := queue.NewWorker(client, mux, queue.WorkerConfig{
		Concurrency: 2,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	if err := w.Start(ctx); err != nil {
		panic(err)
	}
	defer w.Stop()

	hub := client.NewHub()
	if err := hub.Start(ctx); err != nil {
		panic(err)
	}
	defer hub.Stop()
	events := hub.Subscribe("") // subscribe before submitting: no event is missed

	job, err := client.Enqueue(ctx, queue.EnqueueParams{Type: "greet", Payload: []byte(`{"name": "Ada"}`)})
	if err != nil {
		panic(err)
	}
	for ev := range events.C {
		if ev.JobID == job.ID && ev.Status.Terminal() {
			break
		}
	}
	done, _ := client.Get(ctx, job.ID)
	fmt.Println(done.Status, string(done.Result))
	// Output: completed {"greeting":"Hello, Ada"}
}
