// Package handlers owns the job handlers that ship with the worker: the
// demo handler and the four document handlers the product's users run.
// Register puts them all on a queue.Mux; Types lists their job types.
// The job engine itself (claiming, retries, progress writes) is package
// queue; this package only turns payloads into results.
//
// # Registering a custom handler
//
// Register the built-ins, then add your own type next to them (a later
// registration of the same type replaces the earlier one):
//
//	mux := queue.NewMux()
//	handlers.Register(mux)
//	mux.HandleFunc("word_count", func(ctx context.Context, job *queue.ActiveJob) (any, error) {
//		var p struct {
//			Text string `json:"text"`
//		}
//		if err := job.Decode(&p); err != nil {
//			return nil, err // a bad payload fails at once (permanent)
//		}
//		if err := ctx.Err(); err != nil {
//			return nil, err // cancelled, timed out or shutting down
//		}
//		job.Progress(100, "Counting words")
//		return map[string]int{"words": len(strings.Fields(p.Text))}, nil
//	})
//
// # Conventions
//
// Every handler validates its whole payload before doing any work. A
// payload is a JSON object; unknown fields are refused (a misspelt option
// must not be silently ignored), and an empty payload reads as {}. A bad
// payload fails the job at once with a queue.Permanent error naming the
// field; other errors are retried. Cancellation (ctx done) stops a handler
// between steps or documents with an error wrapping context.Cause.
//
// # The built-in types
//
// Package jobtypes describes each type's payload and result, with an
// example: docs/api.md ("Job types") and `jobctl types` show that
// description, and this package's tests hold the handlers to it.
package handlers
