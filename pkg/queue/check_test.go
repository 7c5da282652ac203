package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CheckInvariants finds each kind of damage it looks for.
func TestCheckInvariantsFindsDamage(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ctx := ctxT(t)
	checkInvariants(t, c) // an empty queue is sound
	id := mustEnqueue(t, c, EnqueueParams{Type: "x"})
	other := mustEnqueue(t, c, EnqueueParams{Type: "y"})
	jobs, err := c.claim(ctx, "w", []string{DefaultQueue}, []string{"x", "y"}, 1, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	checkInvariants(t, c)
	k := c.shards.of(id)
	ko := c.shards.of(other)
	b.rdb.HIncrBy(ctx, k.counts(), string(StateCompleted), 1)               // a counter off
	b.rdb.HIncrBy(ctx, k.typeRunning(), "z", 2)                             // a type counter with no job
	b.rdb.ZAdd(ctx, ko.done(StateFailed), redis.Z{Score: 1, Member: other}) // one job in two indexes
	b.rdb.HSet(ctx, k.job("orphan"), fStatus, string(StatePending))         // a job in no index
	err = c.CheckInvariants(ctx)
	if err == nil {
		t.Fatal("damage not found")
	}
	for _, want := range []string{"counter completed=1 but index holds 0", "type z running counter 2, actual 0",
		"job " + other + " in both", "job orphan (status \"pending\") is in no index"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no %q in:\n%v", want, err)
		}
	}
}
