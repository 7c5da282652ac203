package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/compileo/jobqueue/pkg/handlers"
	"github.com/compileo/jobqueue/pkg/queue"
)

// Register the built-in handlers, then a custom one next to them.
func ExampleRegister() {
	mux := queue.NewMux()
	handlers.Register(mux)
	mux.HandleFunc("word_count", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
		var p struct {
			Text string `json:"text"`
		}
		if err := job.Decode(&p); err != nil {
			return nil, err // a bad payload fails at once (permanent)
		}
		if err := ctx.Err(); err != nil {
			return nil, err // cancelled, timed out or shutting down
		}
		job.Progress(100, "Counting words")
		return map[string]int{"words": len(strings.Fields(p.Text))}, nil
	})
	fmt.Println(mux.Types())

	// Run the custom handler outside a worker, as a test would.
	h, _ := mux.Lookup("word_count")
	job := queue.NewActiveJob(&queue.Job{Type: "word_count", Payload: json.RawMessage(`{"text": "one two three"}`)},
		func(percent float64, step string) { fmt.Println(percent, step) })
	res, err := h.Handle(context.Background(), job)
	fmt.Println(res, err)
	// Output:
	// [chunking dataset_generation demo document_parsing taxonomy_generation word_count]
	// 100 Counting words
	// map[words:3] <nil>
}

func ExampleTypes() {
	fmt.Println(handlers.Types())
	// Output: [chunking dataset_generation demo document_parsing taxonomy_generation]
}
