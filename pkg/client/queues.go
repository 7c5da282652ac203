package client

import "context"

// Queue is one queue of GET /api/v1/queues: its waiting jobs, whether it
// is paused, and its running jobs.
type Queue struct {
	QueueStats
	Running int64 `json:"running"`
}

// ListQueues lists every queue that holds jobs or is paused, by name
// (GET /api/v1/queues).
func (c *Client) ListQueues(ctx context.Context) ([]Queue, error) {
	var out struct {
		Queues []Queue `json:"queues"`
	}
	if err := c.do(ctx, "GET", "/api/v1/queues", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Queues, nil
}

// PauseQueue pauses a queue: no worker takes its jobs until ResumeQueue;
// running jobs finish and submissions are still accepted (admin). It
// returns the queue as it now is.
func (c *Client) PauseQueue(ctx context.Context, name string) (*Queue, error) {
	return c.queueCall(ctx, name, "/pause")
}

// ResumeQueue lets workers take a paused queue's jobs again (admin).
func (c *Client) ResumeQueue(ctx context.Context, name string) (*Queue, error) {
	return c.queueCall(ctx, name, "/resume")
}

func (c *Client) queueCall(ctx context.Context, name, suffix string) (*Queue, error) {
	var out Queue
	if err := c.do(ctx, "POST", jobPath("/api/v1/queues/", name, suffix), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
