package ticker_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// TestBackfillOnAClusterLaunchesThePastTicksOnceAndRefusesAnOversizedRange drives
// backfill as `jetcron job backfill` does, over NATS to the lock holder of a 3-server
// cluster: the past ticks without a record run once each, asking again launches
// nothing, and a range over the limit is refused naming -force, launching nothing.
func TestBackfillOnAClusterLaunchesThePastTicksOnceAndRefusesAnOversizedRange(t *testing.T) {
	cl := newCluster(t, 3)
	for i := range 3 {
		cl.startTicker(i)
	}
	cl.startRunner("a")
	cl.startRunner("b")
	cl.putJob("yearly", cl.jobFile("0 0 1 1 *", ""))
	cl.putJob("busy", cl.jobFile("@every 1s", ""))
	nc := cl.c.Connect(t)
	ask := func(job string, req subjects.BackfillRequest) subjects.ForceReply {
		t.Helper()
		body, _ := json.Marshal(req)
		var reply subjects.ForceReply
		waitFor(t, 20*time.Second, "the ticker to answer", func() bool {
			msg, err := nc.Request(subjects.ForceSubject(job), body, 10*time.Second)
			reply = subjects.ForceReply{} // an earlier "does not lead" must not outlive its answer
			if err != nil || json.Unmarshal(msg.Data, &reply) != nil {
				return false
			}
			return !strings.Contains(reply.Error, "does not lead") && !strings.Contains(reply.Error, "not defined")
		})
		return reply
	}
	from, to := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first := ask("yearly", subjects.BackfillRequest{From: from.Unix(), To: to.Unix()})
	if b := first.Backfill; b == nil || b.Ticks != 7 || b.Launched != 7 || b.Existing != 0 {
		t.Fatalf("first backfill: %+v %+v, want the 7 New Year ticks 2020..2026 launched", first, first.Backfill)
	}
	waitFor(t, 30*time.Second, "the 7 backfilled runs to end", func() bool {
		for y := 2020; y <= 2026; y++ {
			if r, ok := cl.run("yearly", time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Unix()); !ok || !r.State.Terminal() {
				return false
			}
		}
		return true
	})
	again := ask("yearly", subjects.BackfillRequest{From: from.Unix(), To: to.Unix()})
	if b := again.Backfill; b == nil || b.Launched != 0 || b.Existing != 7 {
		t.Fatalf("second backfill: %+v, want nothing launched", again.Backfill)
	}
	starts := cl.starts()
	for y := 2020; y <= 2026; y++ {
		r, _ := cl.run("yearly", time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
		if r.State != subjects.StateComplete || !r.Backfill || starts[r.ID] != 1 {
			t.Fatalf("%s: %s backfill=%v started %d times; want complete, once", r.ID, r.State, r.Backfill, starts[r.ID])
		}
	}

	past := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	over := ask("busy", subjects.BackfillRequest{From: past.Unix(), To: past.Add(subjects.BackfillLimit * time.Second).Unix()})
	if over.Backfill != nil || !strings.Contains(over.Error, "more than 10000 ticks") || !strings.Contains(over.Error, "-force") {
		t.Fatalf("oversized backfill: %+v, want refused naming the limit and -force", over)
	}
	if _, ok := cl.run("busy", past.Unix()); ok {
		t.Fatalf("the refused backfill launched its first tick")
	}
}
