package ticker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// TestAPauseSurvivesTheLeadersDeathAndResumingLaunchesOnlyTheTicksAfterIt pauses a
// per-second job on a 3-server cluster (as `jetcron job pause` does, through the
// operator), kills the server whose ticker holds the lock while it is paused, and
// resumes it: every tick of the paused span is recorded skipped with the note, by
// the old holder and by the new one, none of them ever executes, and the ticks after
// the resume launch.
func TestAPauseSurvivesTheLeadersDeathAndResumingLaunchesOnlyTheTicksAfterIt(t *testing.T) {
	cl := newCluster(t, 3)
	for i := range 3 {
		cl.startTicker(i)
	}
	cl.startRunner("host-1")
	op := operator.New(cl.c.Connect(t), cl.js, cl.c.AllURLs())
	const name, note = "every-second", "db migration"
	cl.putJob(name, "# runs the ledger script\n"+cl.jobFile("@every 1s", ""))
	first := time.Now().Unix() + 1
	waitFor(t, 30*time.Second, "the job to run", func() bool { return len(cl.starts()) >= 2 })

	pauseSent := time.Now()
	if _, err := op.Pause(t.Context(), name, note); err != nil {
		t.Fatal(err)
	}
	pauseAcked := time.Now()
	time.Sleep(2500 * time.Millisecond) // ticks skipped by the first holder

	holder := cl.lockHolder()
	killed := cl.c.Index(holder)
	if killed < 0 {
		t.Fatalf("lock holder %q is not a server", holder)
	}
	killedAt := time.Now()
	cl.c.Kill(killed)
	cl.stop("ticker-" + holder)
	waitFor(t, 30*time.Second, "a new lock holder", func() bool { h := cl.lockHolder(); return h != "" && h != holder })
	newHolder := cl.lockHolder()
	time.Sleep(3 * time.Second) // ticks skipped by the new holder

	// The pause is in the stored file, which the new holder read.
	stored, err := cl.b.Jobs.Get(t.Context(), name)
	if err != nil || !strings.Contains(string(stored.Value()), "paused: true\npause_note: db migration\n") || !strings.Contains(string(stored.Value()), "# runs the ledger script") {
		t.Fatalf("stored file %v:\n%s", err, stored.Value())
	}
	resumeSent := time.Now()
	if _, err := op.Resume(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	resumeAcked := time.Now()
	time.Sleep(5 * time.Second)
	last := time.Now().Unix() - 2

	waitFor(t, 20*time.Second, "the last tick's run to end", func() bool {
		r, ok := cl.run(name, last)
		return ok && r.State.Terminal()
	})
	execs := cl.starts()
	var skippedByNew, launchedAfter int
	for tick := first; tick <= last; tick++ {
		r, ok := cl.run(name, tick)
		for deadline := time.Now().Add(15 * time.Second); !ok && time.Now().Before(deadline); r, ok = cl.run(name, tick) {
			time.Sleep(100 * time.Millisecond) // a catch-up may still be under way
		}
		at := time.Unix(tick, 0)
		paused := r.State == subjects.StateSkipped && r.Reason == "paused: "+note
		ran := execs[subjects.RunID(name, at)]
		switch {
		case !ok:
			t.Errorf("tick %d has no record: a silent miss", tick)
		case ran > 1:
			t.Errorf("tick %d executed %d times", tick, ran)
		case at.Before(pauseSent.Truncate(time.Second)) && (paused || ran != 1):
			t.Errorf("tick %d before the pause: %s %q, executed %d times", tick, r.State, r.Reason, ran)
		case at.After(pauseAcked) && at.Before(resumeSent.Truncate(time.Second)) && (!paused || ran != 0):
			t.Errorf("tick %d of the paused span: %s %q, executed %d times; want skipped %q, never executed", tick, r.State, r.Reason, ran, "paused: "+note)
		case at.After(resumeAcked) && (r.State != subjects.StateComplete || ran != 1):
			t.Errorf("tick %d after the resume: %s %q, executed %d times; want complete, once", tick, r.State, r.Reason, ran)
		case !paused && ran == 0 && r.State != subjects.StateSkipped:
			t.Errorf("tick %d at a boundary: %s %q, yet never executed", tick, r.State, r.Reason)
		}
		if paused && at.After(killedAt) {
			skippedByNew++
		}
		if at.After(resumeAcked) && ran == 1 {
			launchedAfter++
		}
	}
	t.Logf("paused %s..%s, lock holder %s killed at %s, %s took over; resumed %s..%s; %d ticks skipped after the kill, %d launched after the resume",
		pauseSent.Format("15:04:05.000"), pauseAcked.Format("15:04:05.000"), holder, killedAt.Format("15:04:05.000"), newHolder,
		resumeSent.Format("15:04:05.000"), resumeAcked.Format("15:04:05.000"), skippedByNew, launchedAfter)
	if skippedByNew < 2 {
		t.Errorf("%d ticks of the pause after the leader's death were skipped: the new holder did not keep the pause", skippedByNew)
	}
	if launchedAfter < 2 {
		t.Errorf("%d ticks launched after the resume", launchedAfter)
	}
}
