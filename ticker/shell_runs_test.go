package ticker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

func TestProhibitOverlapSkipsTicksWhileARunIsRunning(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 90*time.Second)
		s.putJob("j", jobYAML("* * * * *", "  prohibit_overlap: true"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(10*time.Minute + 30*time.Second)
		stop()
		runs := s.checkEveryTickOnce("j", start.Add(time.Minute), start.Add(10*time.Minute), time.Minute)
		for m := 1; m <= 10; m++ {
			r := runs[subjects.RunKey("j", start.Add(time.Duration(m)*time.Minute))]
			wantSkip := m%2 == 0
			if got := r.State == subjects.StateSkipped; got != wantSkip {
				t.Fatalf("minute %d: %s %q; want skipped=%v", m, r.State, r.Reason, wantSkip)
			}
			if wantSkip && !strings.Contains(r.Reason, "prohibit_overlap") {
				t.Fatalf("minute %d skipped for %q", m, r.Reason)
			}
		}
	})
}

func TestRunOfADeadNodeIsLostAndRescheduledOnAnother(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		a := s.node("a", 30*time.Second)
		s.putJob("j", jobYAML("0 * * * *", "reschedule: {attempts: 1, delay: 5s}"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour + time.Second) // the 01:00 run starts on a
		s.node("b", 30*time.Second)
		a.kill()
		time.Sleep(time.Minute)
		stop()
		r, _, _ := s.store.run(subjects.RunKey("j", start.Add(time.Hour)))
		if len(r.Allocations) != 2 || r.Allocations[0].State != subjects.StateLost || r.Allocations[0].Node != "a" {
			t.Fatalf("allocations %+v: want the first lost on a", r.Allocations)
		}
		if r.Allocations[1].Node != "b" || r.State != subjects.StateComplete || r.Attempts != 1 {
			t.Fatalf("run %+v: want rescheduled to b and complete", r)
		}
	})
}

func TestAFailedRunIsRescheduledOnAnotherNodeOnlyWhenOnFailureAsks(t *testing.T) {
	for _, onFailure := range []bool{false, true} {
		simulate(t, start, func(t *testing.T, s *sim) {
			a := s.node("a", 10*time.Second)
			a.fails = true
			s.putJob("j", jobYAML("0 * * * *", fmt.Sprintf("reschedule: {attempts: 1, delay: 5s, on_failure: %v}", onFailure)))
			stop := s.dispatch(alwaysLeader{})
			time.Sleep(time.Hour + time.Second) // the 01:00 run starts on a, the only node
			s.node("b", 10*time.Second)
			time.Sleep(time.Minute)
			stop()
			r, _, _ := s.store.run(subjects.RunKey("j", start.Add(time.Hour)))
			if first := r.Allocations[0]; first.Node != "a" || first.State != subjects.StateFailed {
				t.Fatalf("first allocation %+v: want failed on a", first)
			}
			switch {
			case !onFailure && (len(r.Allocations) != 1 || r.State != subjects.StateFailed):
				t.Fatalf("without on_failure: run %s with %d allocations; want failed, not run again", r.State, len(r.Allocations))
			case onFailure && (len(r.Allocations) != 2 || r.Allocations[1].Node != "b" || r.State != subjects.StateComplete || r.Attempts != 1):
				t.Fatalf("with on_failure: run %+v; want run again on b (not a, where it failed) and complete", r)
			}
		})
	}
}

func TestAJitteredRunWaitingForANodeCountsItsWindowFromWhenItWasDue(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("web-1", time.Second)
		s.putJob("j", jobYAML("0 * * * *", `  jitter: 50m
  catchup_window: 5m
constraints:
  - attribute: "${attr.unique.hostname}"
    regexp: ".*mysql-backup"`))
		stop := s.dispatch(alwaysLeader{})
		tick := start.Add(time.Hour)
		due := tick.Add(job.JitterOffset("j", tick, 50*time.Minute))
		time.Sleep(due.Add(2 * time.Minute).Sub(s.clock.Now())) // waiting for a node, within the window
		s.node("db-mysql-backup", time.Second)
		time.Sleep(time.Minute)
		stop()
		r, _, _ := s.store.run(subjects.RunKey("j", tick))
		if r.State != subjects.StateComplete || r.Jitter.Duration() != due.Sub(tick) {
			t.Fatalf("the %s tick, due at %s: %s %q jitter %s; want complete: it waited 2 of its 5 minutes", tick.Format("15:04"), due.Format("15:04:05"), r.State, r.Reason, r.Jitter.Duration())
		}
	})
}

func TestQueuedRunWaitsForAnEligibleNodeThenSkipsAfterTheWindow(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("web-1", time.Second)
		s.putJob("j", jobYAML("*/20 * * * *", `  catchup_window: 5m
constraints:
  - attribute: "${attr.unique.hostname}"
    regexp: ".*mysql-backup"`))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(26 * time.Minute) // 00:20 waits, then is skipped at 00:25
		s.node("db-mysql-backup", time.Second)
		time.Sleep(15 * time.Minute) // 00:40 runs on the new node
		stop()
		skipped, _, _ := s.store.run(subjects.RunKey("j", start.Add(20*time.Minute)))
		if skipped.State != subjects.StateSkipped || !strings.Contains(skipped.Reason, "no eligible node") {
			t.Fatalf("00:20: %s %q, want skipped: no eligible node", skipped.State, skipped.Reason)
		}
		ran, _, _ := s.store.run(subjects.RunKey("j", start.Add(40*time.Minute)))
		if ran.State != subjects.StateComplete || ran.Current().Node != "db-mysql-backup" {
			t.Fatalf("00:40: %+v, want complete on db-mysql-backup", ran)
		}
		if n := s.executions()[skipped.ID]; n != 0 {
			t.Fatalf("skipped run executed %d times", n)
		}
	})
}

func TestAQueuedRunOfADeletedJobEndsSkippedWithoutWaitingForTheWindow(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.putJob("j", jobYAML("@every 1s", "")) // no node: its runs wait queued
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(1500 * time.Millisecond)
		s.store.set(JobChanged, "j", nil)
		time.Sleep(republishAfter + 2*time.Second) // far less than the 10 min window
		stop()
		r, _, ok := s.store.run(subjects.RunKey("j", start.Add(time.Second)))
		if !ok || r.State != subjects.StateSkipped || !strings.Contains(r.Reason, "job removed") {
			t.Fatalf("run of the deleted job: %+v (found %v), want skipped: job removed", r, ok)
		}
	})
}

func TestNoRunIsDeclaredLostWhileNoNodeHeartbeatArrivesAtAll(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		a := s.node("a", time.Minute)
		b := s.node("b", time.Minute)
		s.putJob("j", jobYAML("0 * * * *", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour + 5*time.Second)
		// The nodes bucket's stream elects a leader for 9 s: no heartbeat lands.
		a.setSilent(true)
		b.setSilent(true)
		time.Sleep(9 * time.Second)
		a.setSilent(false)
		b.setSilent(false)
		time.Sleep(2 * time.Minute)
		stop()
		r, _, _ := s.store.run(subjects.RunKey("j", start.Add(time.Hour)))
		if r.State != subjects.StateComplete || len(r.Allocations) != 1 {
			t.Fatalf("run %+v: want complete on its first allocation", r)
		}
	})
}

func TestAStalledWatchDoesNotSkipTicksBehindARunThatEnded(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 10*time.Second)
		s.putJob("j", jobYAML("* * * * *", "  prohibit_overlap: true"))
		s.store.blindRuns = true // the dispatcher never sees a run end
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(5*time.Minute + 30*time.Second)
		stop()
		s.checkEveryTickOnce("j", start.Add(time.Minute), start.Add(5*time.Minute), time.Minute)
		for _, r := range s.store.runs() {
			if r.State != subjects.StateComplete {
				t.Fatalf("run %s %s: %s", r.ID, r.State, r.Reason)
			}
		}
	})
}

func TestALostRunAwaitingItsRescheduleCountsForProhibitOverlap(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		a := s.node("a", 90*time.Second)
		s.putJob("j", jobYAML("* * * * *", "  prohibit_overlap: true\nreschedule: {attempts: 1, delay: 60s}"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Minute + 30*time.Second) // the 00:01 run runs on a
		s.node("b", 90*time.Second)
		a.kill() // lost at about 00:01:36, relaunched at about 00:02:36
		time.Sleep(2 * time.Minute)
		stop()
		next, _, _ := s.store.run(subjects.RunKey("j", start.Add(2*time.Minute)))
		if next.State != subjects.StateSkipped || !strings.Contains(next.Reason, "prohibit_overlap") {
			t.Fatalf("00:02 while 00:01 awaits its reschedule: %s %q, want skipped for prohibit_overlap", next.State, next.Reason)
		}
		lost, _, _ := s.store.run(subjects.RunKey("j", start.Add(time.Minute)))
		if len(lost.Allocations) != 2 || lost.Allocations[1].Node != "b" {
			t.Fatalf("00:01 run %+v: want relaunched on b", lost)
		}
	})
}

func TestRunsOfAProhibitOverlapJobThatWaitedForANodeTogetherDoNotStartTogether(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.putJob("j", jobYAML("0 0 1 1 *", `  prohibit_overlap: true
constraints:
  - attribute: "${attr.unique.hostname}"
    operator: "="
    value: "db"`))
		// Two terms that could not see each other's runs left two waiting for a node.
		for _, tick := range []time.Time{start.Add(-2 * time.Second), start.Add(-time.Second)} {
			run := subjects.Run{
				ID: subjects.RunID("j", tick), Job: "j", Scheduled: tick.Unix(), State: subjects.StateQueued,
				Reason:      "waiting: no eligible node",
				Allocations: []subjects.Allocation{{ID: newAllocID(), State: subjects.StateQueued, Created: tick}},
			}
			if _, err := s.store.CreateRun(s.ctx, subjects.RunKey("j", tick), &run); err != nil {
				t.Fatal(err)
			}
		}
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Second)
		s.node("db", 10*time.Second)
		time.Sleep(30 * time.Second)
		stop()
		first, _, _ := s.store.run(subjects.RunKey("j", start.Add(-2*time.Second)))
		second, _, _ := s.store.run(subjects.RunKey("j", start.Add(-time.Second)))
		if first.State != subjects.StateComplete {
			t.Fatalf("older waiting run: %s %q, want complete", first.State, first.Reason)
		}
		if second.State != subjects.StateSkipped || !strings.Contains(second.Reason, "prohibit_overlap") {
			t.Fatalf("newer waiting run: %s %q, want skipped for prohibit_overlap", second.State, second.Reason)
		}
		if n := s.executions()[second.ID]; n != 0 {
			t.Fatalf("the skipped run executed %d times", n)
		}
	})
}

func TestALostRunOfAProhibitOverlapJobIsRelaunchedOnlyAfterTheJobsOtherRunEnds(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 10*time.Second)
		s.node("b", 10*time.Second)
		s.putJob("j", jobYAML("0 0 1 1 *", "  prohibit_overlap: true\nreschedule: {attempts: 1, delay: 1s}"))
		// A term that did not see the lost run of 23:59:58 launched 23:59:59 on b.
		lostTick, otherTick := start.Add(-2*time.Second), start.Add(-time.Second)
		records := []subjects.Run{{
			ID: subjects.RunID("j", lostTick), Job: "j", Scheduled: lostTick.Unix(), State: subjects.StateLost,
			Allocations: []subjects.Allocation{{ID: newAllocID(), Node: "a", State: subjects.StateLost, Created: lostTick, Finished: ptr(lostTick)}},
		}, {
			ID: subjects.RunID("j", otherTick), Job: "j", Scheduled: otherTick.Unix(), State: subjects.StateQueued,
			Allocations: []subjects.Allocation{{ID: newAllocID(), Node: "b", NodeID: "b-id", State: subjects.StateQueued, Created: otherTick}},
		}}
		for _, r := range records {
			if _, err := s.store.CreateRun(s.ctx, subjects.RunKey("j", time.Unix(r.Scheduled, 0)), &r); err != nil {
				t.Fatal(err)
			}
		}
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(30 * time.Second)
		stop()
		lost, _, _ := s.store.run(subjects.RunKey("j", lostTick))
		other, _, _ := s.store.run(subjects.RunKey("j", otherTick))
		if other.State != subjects.StateComplete || len(lost.Allocations) != 2 || lost.State != subjects.StateComplete {
			t.Fatalf("runs: %+v and %+v; want both complete, the lost one on a second allocation", lost, other)
		}
		if again, ended := lost.Allocations[1].Started, other.Allocations[0].Finished; again.Before(*ended) {
			t.Fatalf("the lost run was relaunched at %s, while the job's other run ran until %s", again.Format(time.TimeOnly), ended.Format(time.TimeOnly))
		}
	})
}

// A new holder whose runs watch stays behind reads the records it lacks from the
// bucket's leader, and leads.
func TestANewHolderWhoseRunsWatchStaysBehindLeadsOnTheRecordsItReads(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 1s", ""))
		terms, stop := s.standby()
		s.leadFor(1500 * time.Millisecond)
		s.store.holdRunChanges()
		s.store.set(RunChanged, "unrelated", []byte(`{}`)) // the standby's watch never sends it
		terms <- newTestLease()
		time.Sleep(5 * time.Second)
		stop()
		s.checkEveryTickOnce("j", start.Add(time.Second), start.Add(5*time.Second), time.Second)
	})
}

// A new holder whose watch has not yet sent the run records the previous holder made
// does not launch on that view: under prohibit_overlap it would start a run next to
// one it cannot see. It reads them from the bucket's leader first.
func TestANewHolderKnowsTheRunsThePreviousHolderMadeBeforeItLaunches(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 10*time.Second)
		s.putJob("j", jobYAML("@every 2s", "  prohibit_overlap: true"))
		leaseA := newTestLease()
		stopA := s.dispatch(leaseA)
		termsB, stopB := s.standby()
		time.Sleep(time.Second)
		s.store.holdRunChanges() // B's watch lags from here: it misses 00:00:02's run
		time.Sleep(2 * time.Second)
		leaseA.end()
		stopA()
		termsB <- newTestLease()
		time.Sleep(1500 * time.Millisecond) // 00:00:04 is due; B waits for its watch
		s.store.releaseRuns()
		time.Sleep(20 * time.Second)
		stopB()
		first, _, _ := s.store.run(subjects.RunKey("j", start.Add(2*time.Second)))
		if first.State != subjects.StateComplete {
			t.Fatalf("00:00:02 is %s, want complete", first.State)
		}
		for tick := 4; tick <= 10; tick += 2 {
			r, _, _ := s.store.run(subjects.RunKey("j", start.Add(time.Duration(tick)*time.Second)))
			if r.State != subjects.StateSkipped || !strings.Contains(r.Reason, "prohibit_overlap") {
				t.Fatalf("00:00:%02d while 00:00:02 ran: %s %q, want skipped for prohibit_overlap", tick, r.State, r.Reason)
			}
		}
	})
}

// A run lost from a job that was then deleted and made again belongs to the deleted
// job: the job made again does not relaunch it, and its own runs do not overlap it.
// Each way a leader can learn of the deletion is tried: it saw it as a standby, it
// reads it from the job's stored state, it reads it back from the bucket's versions,
// or it saw both changes while leading, before its own record of the deletion was
// back.
func TestALostRunOfADeletedJobIsNotRelaunchedByTheJobMadeAgain(t *testing.T) {
	const again = "  prohibit_overlap: true\nreschedule: {attempts: 1, delay: 1s}"
	lostTick := start.Add(-2 * time.Second)
	for _, tc := range []struct {
		name string
		// deleteAndMakeAgain deletes job j, has lose record its run of lostTick lost
		// (or has one of its runs lost), makes the job again, and returns the term
		// that then leads, when the job was made again and the lost run's tick.
		deleteAndMakeAgain func(s *sim, lose func()) (stop func(), made, lost time.Time)
	}{
		{"seen by a standby", func(s *sim, lose func()) (func(), time.Time, time.Time) {
			s.store.set(JobChanged, "j", nil)
			lose()
			terms, stop := s.standby()
			time.Sleep(time.Second)
			s.putJob("j", jobYAML("@every 2s", again))
			madeAt := time.Now()
			time.Sleep(500 * time.Millisecond)
			terms <- newTestLease()
			return stop, madeAt, lostTick
		}},
		{"read from the stored state", func(s *sim, lose func()) (func(), time.Time, time.Time) {
			stop := s.dispatch(alwaysLeader{})
			time.Sleep(time.Second)
			s.store.set(JobChanged, "j", nil)
			time.Sleep(time.Second)
			s.putJob("j", jobYAML("@every 2s", again))
			madeAt := time.Now()
			time.Sleep(time.Minute) // the new job's ticks settle: no versions to read back
			stop()
			if st, _ := s.store.jobState("j"); st.Deleted.IsZero() {
				t.Fatalf("the leader stored no deletion time: %+v", st)
			}
			lose() // as a leader that never saw the job made again would have
			return s.dispatch(alwaysLeader{}), madeAt, lostTick
		}},
		{"read back from the versions", func(s *sim, lose func()) (func(), time.Time, time.Time) {
			s.leadFor(time.Second)
			lose()
			s.store.set(JobChanged, "j", nil) // while nobody leads
			time.Sleep(time.Second)
			s.putJob("j", jobYAML("@every 2s", again))
			madeAt := time.Now()
			time.Sleep(time.Second)
			return s.dispatch(alwaysLeader{}), madeAt, lostTick
		}},
		{"seen while leading", func(s *sim, _ func()) (func(), time.Time, time.Time) {
			stop := s.dispatch(alwaysLeader{})
			time.Sleep(5 * time.Second) // 00:00:04 runs, for 10s
			s.store.set(JobChanged, "j", nil)
			s.putJob("j", jobYAML("@every 2s", again))
			madeAt := time.Now()
			tick := start.Add(4 * time.Second)
			r, _, _ := s.store.run(subjects.RunKey("j", tick))
			if r.State != subjects.StateRunning {
				t.Fatalf("00:00:04 is %s, want running", r.State)
			}
			s.runners[r.Current().Node].kill()
			return stop, madeAt, tick
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			simulate(t, start, func(t *testing.T, s *sim) {
				s.node("a", 10*time.Second)
				s.node("b", 10*time.Second)
				s.putJob("j", jobYAML("@every 2s", "reschedule: {attempts: 1, delay: 1s}"))
				stop, madeAt, lostAt := tc.deleteAndMakeAgain(s, func() {
					lost := subjects.Run{
						ID: subjects.RunID("j", lostTick), Job: "j", Scheduled: lostTick.Unix(), State: subjects.StateLost,
						Allocations: []subjects.Allocation{{ID: newAllocID(), Node: "a", State: subjects.StateLost, Created: lostTick, Finished: ptr(lostTick)}},
					}
					if _, err := s.store.CreateRun(s.ctx, subjects.RunKey("j", lostTick), &lost); err != nil {
						t.Fatal(err)
					}
				})
				time.Sleep(time.Minute)
				stop()
				r, _, _ := s.store.run(subjects.RunKey("j", lostAt))
				if len(r.Allocations) != 1 || r.State != subjects.StateLost {
					t.Fatalf("the deleted job's lost run: %d allocations, %s; want it left lost", len(r.Allocations), r.State)
				}
				type span struct {
					id         string
					start, end time.Time
				}
				var spans []span
				for _, r := range s.store.runs() {
					for _, a := range r.Allocations {
						if a.Started != nil && a.Finished != nil && a.Started.After(madeAt) {
							spans = append(spans, span{r.ID, *a.Started, *a.Finished})
						}
					}
				}
				slices.SortFunc(spans, func(x, y span) int { return x.start.Compare(y.start) })
				for i := 1; i < len(spans); i++ {
					if prev := spans[i-1]; spans[i].start.Before(prev.end) {
						t.Fatalf("%s started at %s while %s ran until %s", spans[i].id, spans[i].start.Format(time.TimeOnly), prev.id, prev.end.Format(time.TimeOnly))
					}
				}
				if len(spans) < 3 {
					t.Fatalf("%d executions of the job made again, in a minute or more of 10s runs; want 3 or more", len(spans))
				}
			})
		})
	}
}

func TestARunWhoseRunnerRestartedIsLostAndRescheduled(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		a := s.node("a", 30*time.Second)
		s.putJob("j", jobYAML("0 * * * *", "reschedule: {attempts: 1, delay: 1s}"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour + 5*time.Second) // the 01:00 run runs on a
		a.restart()                           // the whole host restarted: the run is gone
		time.Sleep(2 * time.Minute)
		stop()
		r, _, _ := s.store.run(subjects.RunKey("j", start.Add(time.Hour)))
		if len(r.Allocations) != 2 || r.Allocations[0].State != subjects.StateLost ||
			!strings.Contains(r.Allocations[0].Error, "restarted") || r.State != subjects.StateComplete {
			t.Fatalf("run %+v: want the first allocation lost (runner restarted) and a second one complete", r)
		}
	})
}

func TestADeadNodeIsNoticedWhileTheNodesWatchIsStalled(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		a := s.node("a", 30*time.Second)
		s.putJob("j", jobYAML("0 * * * *", "reschedule: {attempts: 1, delay: 1s}"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour + time.Second) // the 01:00 run runs on a
		s.node("b", 30*time.Second)
		time.Sleep(2 * time.Second)
		s.store.mu.Lock()
		s.store.blindNodes = true // from now on the watch shows no heartbeat
		s.store.mu.Unlock()
		a.kill()
		time.Sleep(time.Minute)
		stop()
		r, _, _ := s.store.run(subjects.RunKey("j", start.Add(time.Hour)))
		if len(r.Allocations) != 2 || r.Allocations[0].State != subjects.StateLost || r.Allocations[1].Node != "b" {
			t.Fatalf("run %+v: want lost on a and relaunched on b", r)
		}
	})
}
