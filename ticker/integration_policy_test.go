package ticker_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// TestJitterOnAClusterStartsEachTickAfterItsOffsetUnderTheTicksRunID: on 3 servers,
// each run of a jittered job is recorded under its tick, with the offset every
// ticker computes, and its process starts only after tick + offset.
func TestJitterOnAClusterStartsEachTickAfterItsOffsetUnderTheTicksRunID(t *testing.T) {
	cl := newCluster(t, 3)
	for i := range 3 {
		cl.startTicker(i)
	}
	cl.startRunner("a")
	const jitter = 1500 * time.Millisecond
	cl.putJob("jittered", cl.jobFile("@every 2s", "  jitter: 1500ms"))
	first := time.Now().Add(3 * time.Second).Truncate(2 * time.Second).Add(2 * time.Second)
	last := first.Add(8 * time.Second)
	waitFor(t, 30*time.Second, "the ticks to run", func() bool {
		r, ok := cl.run("jittered", last.Unix())
		return ok && r.State.Terminal()
	})
	offsets := map[time.Duration]bool{}
	for tick := first; !tick.After(last); tick = tick.Add(2 * time.Second) {
		r, ok := cl.run("jittered", tick.Unix())
		if !ok || r.State != subjects.StateComplete || r.ID != subjects.RunID("jittered", tick) {
			t.Fatalf("tick %s: %+v, want complete under the tick's run ID", tick, r)
		}
		off := job.JitterOffset("jittered", tick, jitter)
		offsets[off] = true
		if r.Jitter.Duration() != off {
			t.Fatalf("%s recorded jitter %s, want %s", r.ID, r.Jitter.Duration(), off)
		}
		if started := r.Allocations[0].Started; started == nil || started.Before(tick.Add(off)) {
			t.Fatalf("%s started at %v, before its tick + offset %s", r.ID, started, tick.Add(off))
		}
	}
	if len(offsets) < 2 {
		t.Fatalf("every tick had the same offset %v", offsets)
	}
	cl.checkTicks("jittered", first.Unix(), first.Unix()) // and none ran twice
}

// TestCronsOnAClusterLaunchTheUnionOfTheirTicksOnce: a tick where two expressions
// meet runs once.
func TestCronsOnAClusterLaunchTheUnionOfTheirTicksOnce(t *testing.T) {
	cl := newCluster(t, 3)
	for i := range 3 {
		cl.startTicker(i)
	}
	cl.startRunner("a")
	file := strings.Replace(cl.jobFile("x", ""), "  cron: \"x\"\n", "  crons: [\"@every 2s\", \"@every 3s\"]\n", 1)
	cl.putJob("two", file)
	first := time.Now().Add(3 * time.Second).Truncate(6 * time.Second).Add(6 * time.Second)
	last := first.Add(12 * time.Second)
	waitFor(t, 40*time.Second, "the ticks to run", func() bool {
		r, ok := cl.run("two", last.Unix())
		return ok && r.State.Terminal()
	})
	starts := cl.starts()
	for tick := first; !tick.After(last); tick = tick.Add(time.Second) {
		r, ok := cl.run("two", tick.Unix())
		due := tick.Unix()%2 == 0 || tick.Unix()%3 == 0
		switch {
		case due && (!ok || r.State != subjects.StateComplete || starts[r.ID] != 1):
			t.Fatalf("tick %s of the union: %+v started %d times, want once", tick, r, starts[r.ID])
		case !due && ok:
			t.Fatalf("tick %s is of neither expression, yet has a run %s", tick, r.ID)
		}
	}
}

// TestAFailedRunIsRescheduledOnAnotherNodeOnACluster: with reschedule.on_failure a
// run that failed on one node runs again, once, on the other.
func TestAFailedRunIsRescheduledOnAnotherNodeOnACluster(t *testing.T) {
	cl := newCluster(t, 3)
	for i := range 3 {
		cl.startTicker(i)
	}
	failsOnA := filepath.Join(t.TempDir(), "fails-on-a.sh")
	script := "#!/bin/sh\nexec " + cl.script + " \"$@\"\n"
	script = "#!/bin/sh\nif [ \"$JETCRON_NODE\" = a ]; then sleep 2; exit 3; fi\n" + script[len("#!/bin/sh\n"):]
	if err := os.WriteFile(failsOnA, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	file := strings.Replace(cl.jobFile("0 0 1 1 *", "reschedule: {attempts: 1, delay: 1s, on_failure: true}"), "command: "+cl.script, "command: "+failsOnA, 1)
	cl.putJob("flaky", file)
	cl.startRunner("a")
	waitFor(t, 10*time.Second, "the job to be loaded", func() bool {
		e, err := cl.b.JobState.Get(t.Context(), "flaky")
		return err == nil && strings.Contains(string(e.Value()), `"valid":true`)
	})
	nc := cl.c.Connect(t)
	var reply subjects.ForceReply
	waitFor(t, 10*time.Second, "a forced run", func() bool {
		msg, err := nc.Request(subjects.ForceSubject("flaky"), nil, 5*time.Second)
		return err == nil && json.Unmarshal(msg.Data, &reply) == nil && reply.RunID != ""
	})
	_, tick, _ := subjects.ParseRunID(reply.RunID)
	waitFor(t, 10*time.Second, "the run to start on a", func() bool {
		r, _ := cl.run("flaky", tick.Unix())
		return r.State == subjects.StateRunning
	})
	cl.startRunner("b")
	waitFor(t, 30*time.Second, "the run to fail on a and complete on b", func() bool {
		r, _ := cl.run("flaky", tick.Unix())
		return r.State.Terminal() && len(r.Allocations) == 2
	})
	r, _ := cl.run("flaky", tick.Unix())
	if a, b := r.Allocations[0], r.Allocations[1]; a.Node != "a" || a.State != subjects.StateFailed || a.ExitCode == nil || *a.ExitCode != 3 ||
		b.Node != "b" || b.State != subjects.StateComplete || r.State != subjects.StateComplete || r.Attempts != 1 {
		t.Fatalf("run %+v: want failed on a with exit code 3, then complete on b", r)
	}
	if n := cl.starts()[r.ID]; n != 1 {
		t.Fatalf("the ledger has %d starts on b, want 1", n)
	}
}
