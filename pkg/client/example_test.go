package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/compileo/jobqueue/pkg/client"
)

// The examples run against the whole service started in this test
// binary; serverURL is its address. Yours is the apiserver's, such as
// http://localhost:8000.

// Submit a job and wait for its outcome.
func ExampleClient_Wait() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.Config{BaseURL: serverURL})
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.Submit(ctx, client.Submission{
		Type:    "demo",
		Payload: map[string]int{"steps": 3, "step_ms": 10},
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := c.Wait(ctx, job.JobID, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Status, st.Progress)
	fmt.Println(string(st.Result))
	// Output:
	// completed 100
	// {"steps":3,"step_ms":10}
}

// Follow a job's progress live. The stream reconnects by itself if the
// connection drops, resuming after the last event seen.
func ExampleClient_Stream() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.Config{BaseURL: serverURL})
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.Submit(ctx, client.Submission{Type: "demo", Payload: map[string]int{"steps": 4, "step_ms": 10}})
	if err != nil {
		log.Fatal(err)
	}
	var last client.Event
	for ev, err := range c.Stream(ctx, job.JobID, nil) {
		if err != nil {
			log.Fatal(err)
		}
		// Each event has the job's whole state: a progress bar would be
		// drawn here.
		last = ev
	}
	fmt.Println(last.Status, last.Progress, last.CurrentStep)
	// Output:
	// completed 100 Job completed successfully
}

// Tell API errors apart with errors.Is, or read the code and message
// with errors.As.
func ExampleError() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.Config{BaseURL: serverURL})
	if err != nil {
		log.Fatal(err)
	}

	_, err = c.Status(ctx, "123e4567-e89b-12d3-a456-426614174000")
	fmt.Println(errors.Is(err, client.ErrNotFound))

	job, err := c.Submit(ctx, client.Submission{Type: "demo", Payload: map[string]int{"steps": 1, "step_ms": 1}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Wait(ctx, job.JobID, nil); err != nil {
		log.Fatal(err)
	}
	err = c.Cancel(ctx, job.JobID) // it is finished already
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.StatusCode, apiErr.Code, errors.Is(err, client.ErrInvalidTransition))
	}
	// Output:
	// true
	// 409 invalid_transition true
}

// Submit many jobs in one request; each succeeds or fails on its own.
func ExampleClient_SubmitBatch() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.New(client.Config{BaseURL: serverURL})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.SubmitBatch(ctx, []client.Submission{
		{Type: "demo", Payload: map[string]int{"steps": 1}},
		{Type: "no_such_type"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", res.Created, "failed", res.Failed)
	for i, it := range res.Items {
		if it.Err != nil {
			fmt.Println(i, it.Err.Code)
			continue
		}
		fmt.Println(i, it.Job.Status)
	}
	// Output:
	// created 1 failed 1
	// 0 pending
	// 1 unknown_job_type
}
