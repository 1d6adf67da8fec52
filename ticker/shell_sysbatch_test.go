package ticker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

func sysbatchYAML(cron, extra string) string {
	return strings.Replace(jobYAML(cron, extra), "type: batch", "type: sysbatch", 1)
}

// tickRecord returns the record of job's tick at sec seconds after start, failing the
// test when it has none.
func (s *sim) tickRecord(job string, sec int) subjects.Run {
	s.t.Helper()
	r, _, ok := s.store.run(subjects.RunKey(job, start.Add(time.Duration(sec)*time.Second)))
	if !ok {
		s.t.Fatalf("tick %ds of %s has no record", sec, job)
	}
	return r
}

// nodeRun returns the record of job's run on node of the tick at sec seconds after
// start, and whether it exists.
func (s *sim) nodeRun(job string, sec int, node string) (subjects.Run, bool) {
	r, _, ok := s.store.run(subjects.NodeRunKey(job, start.Add(time.Duration(sec)*time.Second), node))
	return r, ok
}

// Each tick of a sysbatch job runs once on every node eligible when it is due, each
// run its own record under the tick's; a node that joins gets the ticks after it.
func TestASysbatchTickRunsOnceOnEveryEligibleNodeAndALaterNodeOnlyLaterOnes(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", time.Second)
		s.node("b", time.Second)
		s.putJob("j", sysbatchYAML("@every 10s", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(25 * time.Second)
		s.node("c", time.Second) // joins at 25s: the 30s tick is its first
		time.Sleep(20 * time.Second)
		stop()
		execs := s.executions()
		for sec := 10; sec <= 40; sec += 10 {
			want := []string{"a", "b"}
			if sec >= 30 {
				want = []string{"a", "b", "c"}
			}
			tr := s.tickRecord("j", sec)
			if tr.State != subjects.StateLaunched || !slices.Equal(tr.Nodes, want) || len(tr.Allocations) != 0 {
				t.Fatalf("tick %ds: %s on %v with %d allocations, want launched on %v with none", sec, tr.State, tr.Nodes, len(tr.Allocations), want)
			}
			for _, n := range []string{"a", "b", "c"} {
				r, ok := s.nodeRun("j", sec, n)
				id := subjects.NodeRunID("j", start.Add(time.Duration(sec)*time.Second), n)
				if !slices.Contains(want, n) {
					if ok || execs[id] > 0 {
						t.Fatalf("tick %ds ran on %s, which joined after it", sec, n)
					}
					continue
				}
				if !ok || r.ID != id || r.Node != n || r.State != subjects.StateComplete || len(r.Allocations) != 1 || r.Current().Node != n {
					t.Fatalf("tick %ds on %s: %+v (found %v), want %s complete on its node", sec, n, r, ok, id)
				}
				if execs[id] != 1 {
					t.Fatalf("%s executed %d times, want once", id, execs[id])
				}
			}
		}
	})
}

// A sysbatch run lost with its node stays lost: it is that node's. The other nodes'
// runs of the tick are untouched, and the next tick leaves the dead node out.
func TestASysbatchRunLostWithItsNodeIsNotRunOnAnother(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		a := s.node("a", 30*time.Second)
		s.node("b", 30*time.Second)
		s.putJob("j", sysbatchYAML("0 * * * *", "reschedule: {attempts: 3, delay: 1s}"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour + time.Second) // the 01:00 runs start on a and b
		a.kill()
		time.Sleep(time.Hour)
		stop()
		lost, _ := s.nodeRun("j", 3600, "a")
		if lost.State != subjects.StateLost || len(lost.Allocations) != 1 || lost.Allocations[0].Node != "a" || lost.Attempts != 0 {
			t.Fatalf("a's run %+v: want lost on a, never rescheduled", lost)
		}
		if r, _ := s.nodeRun("j", 3600, "b"); r.State != subjects.StateComplete || len(r.Allocations) != 1 {
			t.Fatalf("b's run %+v: want complete", r)
		}
		if n := s.executions()[lost.ID]; n != 1 {
			t.Fatalf("a's run executed %d times, want once (never moved)", n)
		}
		if tr := s.tickRecord("j", 7200); !slices.Equal(tr.Nodes, []string{"b"}) {
			t.Fatalf("02:00 placed on %v, want b alone (a is down)", tr.Nodes)
		}
	})
}

// A sysbatch launch whose node dies before claiming it is lost, not placed on
// another node.
func TestAQueuedSysbatchLaunchWhoseNodeDiesIsLostNotReplaced(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		a := s.node("a", time.Second)
		s.node("b", time.Second)
		s.putJob("j", sysbatchYAML("0 * * * *", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour - 2*time.Second)
		a.kill() // still ready at 01:00 (its last heartbeat is within its TTL), never claims
		time.Sleep(time.Minute)
		stop()
		if tr := s.tickRecord("j", 3600); !slices.Equal(tr.Nodes, []string{"a", "b"}) {
			t.Fatalf("01:00 placed on %v, want a and b", tr.Nodes)
		}
		r, _ := s.nodeRun("j", 3600, "a")
		if r.State != subjects.StateLost || len(r.Allocations) != 1 || !strings.Contains(r.Current().Error, "before claiming") {
			t.Fatalf("a's run %+v: want lost before claiming, on its one allocation", r)
		}
		if n := s.executions()[r.ID]; n != 0 {
			t.Fatalf("a's run executed %d times", n)
		}
	})
}

// A leader that dies between a sysbatch tick's record and its node runs leaves the
// record queued; the next leader makes the missing node runs from its list, once.
func TestANewLeaderMakesTheNodeRunsATickRecordListsButLacks(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", time.Second)
		s.node("b", time.Second)
		s.putJob("j", sysbatchYAML("0 * * * *", ""))
		bKey := subjects.NodeRunKey("j", start.Add(time.Hour), "b")
		s.store.failCreate(bKey, true) // the first leader never makes b's run
		leaseA := newTestLease()
		stopA := s.dispatch(leaseA)
		termsB, stopB := s.standby()
		time.Sleep(time.Hour + 5*time.Second)
		leaseA.end()
		stopA()
		if tr := s.tickRecord("j", 3600); tr.State != subjects.StateQueued || !slices.Equal(tr.Nodes, []string{"a", "b"}) {
			t.Fatalf("01:00 after the first leader: %s on %v, want queued on a and b", tr.State, tr.Nodes)
		}
		if _, ok := s.nodeRun("j", 3600, "b"); ok {
			t.Fatal("b's run exists though its create failed")
		}
		s.store.failCreate(bKey, false)
		termsB <- newTestLease()
		time.Sleep(time.Minute)
		stopB()
		if tr := s.tickRecord("j", 3600); tr.State != subjects.StateLaunched {
			t.Fatalf("01:00 is %s, want launched once the new leader made b's run", tr.State)
		}
		execs := s.executions()
		for _, n := range []string{"a", "b"} {
			r, ok := s.nodeRun("j", 3600, n)
			if !ok || r.State != subjects.StateComplete || execs[r.ID] != 1 {
				t.Fatalf("%s's run %+v (found %v), executed %d times: want complete, once", n, r, ok, execs[r.ID])
			}
		}
	})
}

// With prohibit_overlap, a sysbatch tick is skipped while any node's run of the
// previous tick is still running, and the reason names that run.
func TestProhibitOverlapSkipsASysbatchTickWhileOneNodesRunOfThePreviousRuns(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("fast", time.Second)
		s.node("slow", 15*time.Second)
		s.putJob("j", sysbatchYAML("@every 10s", "  prohibit_overlap: true"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(35 * time.Second)
		stop()
		if tr := s.tickRecord("j", 10); tr.State != subjects.StateLaunched {
			t.Fatalf("10s: %s, want launched", tr.State)
		}
		skipped := s.tickRecord("j", 20)
		want := "prohibit_overlap: " + subjects.NodeRunID("j", start.Add(10*time.Second), "slow")
		if skipped.State != subjects.StateSkipped || !strings.HasPrefix(skipped.Reason, want) || len(skipped.Nodes) != 0 {
			t.Fatalf("20s: %s %q on %v, want skipped: %s...", skipped.State, skipped.Reason, skipped.Nodes, want)
		}
		for _, n := range []string{"fast", "slow"} {
			if _, ok := s.nodeRun("j", 20, n); ok {
				t.Fatalf("the skipped tick ran on %s", n)
			}
		}
		if tr := s.tickRecord("j", 30); tr.State != subjects.StateLaunched {
			t.Fatalf("30s, once slow's run ended: %s %q, want launched", tr.State, tr.Reason)
		}
	})
}

// A forced run of a sysbatch job runs on every eligible node.
func TestAForcedSysbatchRunRunsOnEveryEligibleNode(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", time.Second)
		s.node("b", time.Second)
		s.putJob("j", sysbatchYAML("0 0 1 1 *", ""))
		ask, stop := s.leadAnswering()
		time.Sleep(2 * time.Second)
		reply := ask("j", nil)
		time.Sleep(5 * time.Second)
		stop()
		if reply.RunID == "" {
			t.Fatalf("force: %+v, want a run", reply)
		}
		_, tick, _ := subjects.ParseRunID(reply.RunID)
		execs := s.executions()
		for _, n := range []string{"a", "b"} {
			r, _, ok := s.store.run(subjects.NodeRunKey("j", tick, n))
			if !ok || !r.Forced || r.State != subjects.StateComplete || execs[r.ID] != 1 {
				t.Fatalf("forced run on %s: %+v (found %v), want complete, once", n, r, ok)
			}
		}
	})
}

// A backfill of a sysbatch job launches each tick without a record on every node
// eligible now; with prohibit_overlap the ticks go one after another, oldest first,
// each once every node's run of the one before ended.
func TestBackfillOfASysbatchJobRunsEachTickOnEveryNodeAndOverlappingOnesInTurn(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		simulate(t, start.Add(2*time.Hour), func(t *testing.T, s *sim) {
			s.node("a", 10*time.Second)
			s.node("b", 20*time.Second)
			extra := ""
			if overlap {
				extra = "  prohibit_overlap: true"
			}
			s.putJob("j", sysbatchYAML("*/10 * * * *", extra))
			ask, stop := s.leadAnswering()
			defer stop()
			time.Sleep(time.Second)
			if r := ask("j", &subjects.BackfillRequest{From: start.Unix(), To: start.Add(30 * time.Minute).Unix()}); r.Backfill == nil || r.Backfill.Launched != 4 {
				t.Fatalf("backfill: %+v, want 4 ticks launched", r)
			}
			time.Sleep(3 * time.Minute)
			execs := s.executions()
			var prevEnd time.Time
			for m := 0; m <= 30; m += 10 {
				tr := s.tickRecord("j", m*60)
				if tr.State != subjects.StateLaunched || !tr.Backfill || !slices.Equal(tr.Nodes, []string{"a", "b"}) {
					t.Fatalf("minute %d: %s on %v (backfill %v), want launched on a and b", m, tr.State, tr.Nodes, tr.Backfill)
				}
				var firstStart, lastEnd time.Time
				for _, n := range []string{"a", "b"} {
					r, ok := s.nodeRun("j", m*60, n)
					if !ok || r.State != subjects.StateComplete || !r.Backfill || execs[r.ID] != 1 {
						t.Fatalf("minute %d on %s: %+v (found %v), want complete, once, marked backfill", m, n, r, ok)
					}
					a := r.Current()
					if firstStart.IsZero() || a.Started.Before(firstStart) {
						firstStart = *a.Started
					}
					if a.Finished.After(lastEnd) {
						lastEnd = *a.Finished
					}
				}
				if overlap && firstStart.Before(prevEnd) {
					t.Fatalf("with prohibit_overlap minute %d started at %s, before the tick before it ended at %s", m, firstStart, prevEnd)
				}
				prevEnd = lastEnd
			}
		})
	}
}
