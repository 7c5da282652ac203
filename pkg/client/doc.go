// Package client is the Go SDK of the job queue's HTTP API (docs/api.md):
// submit jobs one by one or in batches, read and list them, wait for them
// to finish, follow their progress live, cancel and restart them, and
// read the queue's stats and its workers.
//
//	c, err := client.New(client.Config{BaseURL: "http://localhost:8000"})
//	job, err := c.Submit(ctx, client.Submission{Type: "demo", Payload: map[string]int{"steps": 5}})
//	st, err := c.Wait(ctx, job.JobID, nil) // long polls until completed, failed or cancelled
//
// Every call takes a context and does one HTTP request, except Wait (long
// polls) and Stream (server-sent events), which keep going across
// restarts of the server: they reconnect with backoff and jitter,
// honouring Retry-After, and Stream resumes with Last-Event-ID.
//
// Errors the API answers with are *Error values carrying the HTTP status
// and the API's stable code; errors.Is matches them against ErrNotFound,
// ErrConflict, ErrUnavailable and the other sentinels.
//
// The package depends on the standard library only: a program using it
// pulls in neither the server's HTTP framework nor a Redis client.
package client
