package queue

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Callback deliveries: the record of a job's end, POSTed to its
// callback URL at least once. The engine keeps them; package webhook
// sends them.
//
// The transition that ends a job with a callback URL (complete.lua,
// fail.lua, cancel.lua, reap.lua) gives it its delivery in the same
// script (set_hook in lib.lua): delivery fields on the job's hash and
// the job's id in its shard's hooks set, scored by when the delivery is
// due. Deliverers, in any process, claim due deliveries like workers
// claim jobs: a claim (hookclaim.lua) moves the score to the claim's
// lease deadline and writes the claim's token, so a deliverer that dies
// mid-attempt leaves the delivery due again when its lease ends; an
// acknowledgement (hookack.lua) records the attempt and sets the next
// due time, or ends the delivery, only for the claim that holds it.
//
// A pipeline with a callback URL gets a delivery the same way each time
// it ends (pipe_settle in pipeline_lib.lua): the delivery fields on the
// pipeline's hash, and "pipeline:<id>" in the hooks set (pipelineHook),
// which no job id can be. Its claim hands it out as a Job standing for
// the pipeline, its record in Delivery.Pipeline.

// pipelineHookPrefix starts a pipeline's entry in a hooks set
// (pipeline_lib.lua spells it too).
const pipelineHookPrefix = "pipeline:"

// hookKeys is the entry in its shard's hooks set and the hash of the
// delivery of member (a job's id, or pipelineHookPrefix and a
// pipeline's), and the id of the job or pipeline.
func (c *Client) hookKeys(member string) (hookKey, id string, pipeline bool) {
	if pid, ok := strings.CutPrefix(member, pipelineHookPrefix); ok {
		return c.shards.of(pid).pipeline(pid), pid, true
	}
	return c.shards.of(member).job(member), member, false
}

// DeliveryState is where a job's callback delivery stands.
type DeliveryState string

// The states of a delivery.
const (
	// DeliveryPending is due now or later (after a failed attempt).
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered got a 2xx answer.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed was given up: its attempts kept failing for the
	// whole retry window.
	DeliveryFailed DeliveryState = "failed"
	// DeliveryDropped was due when its job had been restarted: the job's
	// next end brings a new delivery.
	DeliveryDropped DeliveryState = "dropped"
)

// MaxDeliveryAttemptsKept is how many of a delivery's last attempts its
// job keeps (Delivery.Tries counts them all).
const MaxDeliveryAttemptsKept = 20

// Delivery is the callback of a job's last end.
type Delivery struct {
	// ID names the delivery, the same on every attempt, so that the
	// receiver can drop duplicates: "<job id>.<version that ended it>".
	ID    string
	State DeliveryState
	// Tries counts the attempts made.
	Tries int
	// Attempts are the last attempts (at most MaxDeliveryAttemptsKept),
	// oldest first.
	Attempts []DeliveryAttempt
	// Pipeline, for the delivery of a pipeline's end only, is the
	// pipeline's record (with its jobs'): the Job claimed with it stands
	// for the pipeline (its ID, Status, CallbackURL, CreatedAt and
	// CompletedAt are the pipeline's).
	Pipeline *Pipeline

	token string // the claim holding the delivery; "" when none
}

// DeliveryAttempt is one POST of a delivery.
type DeliveryAttempt struct {
	At time.Time `json:"at"`
	// StatusCode is the receiver's HTTP status; 0 when none came.
	StatusCode int `json:"status_code,omitempty"`
	// Error says why the attempt failed; "" when it was delivered.
	Error string `json:"error,omitempty"`
}

// deliveryField sets one delivery field, read from a job's (or
// pipeline's) hash, in *dp, made when nil.
func deliveryField(dp **Delivery, f, v string) {
	if *dp == nil {
		*dp = &Delivery{}
	}
	d := *dp
	switch f {
	case fHookID:
		d.ID = v
	case fHookState:
		d.State = DeliveryState(v)
	case fHookTries:
		d.Tries, _ = strconv.Atoi(v)
	case fHookAttempts:
		_ = json.Unmarshal([]byte(v), &d.Attempts) // written by hookack.lua only
	case fHookToken:
		d.token = v
	}
}

// ClaimDeliveries takes up to max due deliveries under a lease of lease,
// and returns their jobs as they ended (Job.Delivery set): for that long
// no other deliverer takes them; after it, unless acknowledged, they are
// due again. One round trip peeks every shard's
// hooks set, one more claims in those that had some.
func (c *Client) ClaimDeliveries(ctx context.Context, max int, lease time.Duration) ([]*Job, error) {
	pipe := c.rdb.Pipeline()
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	peeks := make([]*redis.StringSliceCmd, len(c.shards))
	for i, k := range c.shards {
		peeks[i] = pipe.ZRangeArgs(ctx, redis.ZRangeArgs{Key: k.hooks(), ByScore: true,
			Start: "-inf", Stop: now, Count: int64(max)})
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, storageErr(err)
	}
	var calls []hookClaimCall
	for i, cmd := range peeks {
		if ids := cmd.Val(); len(ids) > 0 {
			calls = append(calls, hookClaimCall{shard: i, ids: ids})
		}
	}
	if len(calls) == 0 {
		return nil, nil
	}
	return c.luaHookClaim(ctx, lease, calls)
}

// AckDelivery records attempt, the last POST of j's delivery (claimed by
// ClaimDeliveries), and sets what follows:
// next, the time the delivery is due again when it is to be retried, or
// the end of the delivery when state is DeliveryDelivered or
// DeliveryFailed. It returns *LeaseLostError when the claim's lease was lost
// (another deliverer holds it now) and ErrJobNotFound when the job is
// gone.
func (c *Client) AckDelivery(ctx context.Context, j *Job, attempt DeliveryAttempt, state DeliveryState, next time.Time) error {
	return c.luaHookAck(ctx, j, attempt, state, next)
}
