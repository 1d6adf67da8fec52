package ticker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

func TestInvalidJobVersionKeepsTheLastValidOneRunning(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", time.Second)
		s.putJob("j", jobYAML("* * * * *", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(90 * time.Second)
		s.putJob("j", "periodic: {cron: \"0 0 30 2 *\"}\n")
		time.Sleep(time.Minute)
		st, _ := s.store.jobState("j")
		if st.Valid || st.Error == "" || !strings.Contains(st.Spec, "* * * * *") {
			t.Fatalf("job state %+v: want invalid with its error and the last valid spec", st)
		}
		stop()
		// A new term reads the last valid version from the job state.
		stop = s.dispatch(alwaysLeader{})
		time.Sleep(2 * time.Minute)
		stop()
		s.checkEveryTickOnce("j", start.Add(time.Minute), start.Add(4*time.Minute), time.Minute)
	})
}

// leadThenRemove runs j (every minute) on node a under a leader, and deletes j at
// 00:02:30, after its ticks of 00:01 and 00:02. It returns the leader's stop.
func (s *sim) leadThenRemove() (stop func()) {
	s.node("a", time.Second)
	s.putJob("j", jobYAML("* * * * *", ""))
	stop = s.dispatch(alwaysLeader{})
	time.Sleep(150 * time.Second)
	s.store.set(JobChanged, "j", nil)
	return stop
}

func TestRemovedJobLaunchesNoMore(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		stop := s.leadThenRemove()
		time.Sleep(10 * time.Minute)
		stop()
		if n := len(s.store.runs()); n != 2 {
			t.Fatalf("%d runs after removal at 00:02:30, want 2", n)
		}
		if st, _ := s.store.jobState("j"); !st.Removed {
			t.Fatalf("job state %+v not marked removed", st)
		}
	})
}

func TestAJobMadeAgainWithAnInvalidFileAfterItsRemovalDoesNotRunItsRemovedVersion(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		stop := s.leadThenRemove()
		time.Sleep(time.Minute)
		s.putJob("j", "periodic: {cron: \"0 0 30 2 *\"}\n")
		time.Sleep(2 * time.Minute)
		stop()
		// A new term reads the job as it is, with the removed version in its state.
		stop = s.dispatch(alwaysLeader{})
		time.Sleep(2 * time.Minute)
		stop()
		if got, want := ticksOf(s.byTick("j")), []int64{60, 120}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want 00:01 and 00:02 only (removed at 00:02:30)", got)
		}
		if st, _ := s.store.jobState("j"); st.Valid || st.Error == "" || st.Spec != "" {
			t.Fatalf("job state %+v, want invalid with its error and no valid version", st)
		}
	})
}

func TestAJobDeletedWhileNobodyLedHasTheTicksItHadDueRecordedSkipped(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		// Nobody leads for 5 s; the job is deleted 3 s into it.
		var deleted time.Time
		s.twoTerms("@every 1s", 10*time.Second, func() {
			time.Sleep(3 * time.Second)
			deleted = s.clock.Now()
			s.store.set(JobChanged, "j", nil)
			time.Sleep(2 * time.Second)
		}, 3*time.Second)
		runs := s.checkEveryTickOnce("j", start.Add(time.Second), deleted.Truncate(time.Second), time.Second)
		for _, r := range runs {
			if tick := time.Unix(r.Scheduled, 0); tick.After(start.Add(10*time.Second)) && r.State != subjects.StateSkipped {
				t.Fatalf("tick %s after the leader stopped: %s, want skipped (the job was deleted)", tick.Format(time.TimeOnly), r.State)
			}
		}
		for key := range s.store.runs() {
			if key > subjects.RunKey("j", deleted) {
				t.Fatalf("record %s for a tick after the deletion", key)
			}
		}
	})
}

// rewriteWhileNobodyLeads runs job j (@every 10s) under a leader until 00:00:12,
// then, while nobody leads, stores @every 3s at 00:00:13 and @every 4s at 00:00:19.5,
// calls last at 00:00:23.5, and lets a standby lead from 00:00:26 to 00:00:40.5. It
// returns the job's records by tick (seconds after start).
func (s *sim) rewriteWhileNobodyLeads(last func()) map[int64]subjects.Run {
	s.twoTerms("@every 10s", 12*time.Second, func() {
		time.Sleep(time.Second)
		s.putJob("j", jobYAML("@every 3s", ""))
		time.Sleep(6500 * time.Millisecond)
		s.putJob("j", jobYAML("@every 4s", ""))
		time.Sleep(4 * time.Second)
		last()
		time.Sleep(2500 * time.Millisecond)
	}, 14500*time.Millisecond)
	return s.byTick("j")
}

func TestEveryVersionOfAJobWrittenWhileNobodyLedHasItsTicksLaunched(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		runs := s.rewriteWhileNobodyLeads(func() { s.putJob("j", jobYAML("@every 5s", "")) })
		// 10 under @every 10s; 15, 18 under @every 3s; 20 under @every 4s; then
		// @every 5s from 00:00:23.5 on.
		if got, want := ticksOf(runs), []int64{10, 15, 18, 20, 25, 30, 35, 40}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
		for tick, r := range runs {
			if r.State != subjects.StateComplete {
				t.Fatalf("tick %d: %s %q, want complete", tick, r.State, r.Reason)
			}
		}
	})
}

func TestEveryVersionOfAJobWrittenAndDeletedWhileNobodyLedHasItsTicksRecordedSkipped(t *testing.T) {
	for name, last := range map[string]func(s *sim){
		"deleted": func(s *sim) { s.store.set(JobChanged, "j", nil) },
		"deleted and made again invalid": func(s *sim) {
			s.store.set(JobChanged, "j", nil)
			s.putJob("j", "periodic: {cron: \"0 0 30 2 *\"}\n")
		},
	} {
		t.Run(name, func(t *testing.T) { checkVersionsDeletedWhileNobodyLed(t, last) })
	}
}

func checkVersionsDeletedWhileNobodyLed(t *testing.T, last func(s *sim)) {
	simulate(t, start, func(t *testing.T, s *sim) {
		runs := s.rewriteWhileNobodyLeads(func() { last(s) })
		if got, want := ticksOf(runs), []int64{10, 15, 18, 20}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
		for _, tick := range []int64{15, 18, 20} {
			if r := runs[tick]; r.State != subjects.StateSkipped || !strings.Contains(r.Reason, "job removed") {
				t.Fatalf("tick %d: %s %q, want skipped: job removed", tick, r.State, r.Reason)
			}
		}
		if st, _ := s.store.jobState("j"); !st.Removed && (st.Valid || st.Spec != "") {
			t.Fatalf("job state %+v, want removed, or invalid with no valid version", st)
		}
	})
}

func TestVersionsStoredWhileNoTickerRanHaveTheirTicksLaunched(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 10s", ""))
		s.leadFor(12 * time.Second)
		// No ticker runs (the whole cluster restarts): @every 3s is stored at
		// 00:00:13 and replaced by @every 4s at 00:00:19.5, which is all a ticker
		// started at 00:00:26 reads of the job.
		time.Sleep(time.Second)
		s.putJob("j", jobYAML("@every 3s", ""))
		time.Sleep(6500 * time.Millisecond)
		s.putJob("j", jobYAML("@every 4s", ""))
		time.Sleep(6500 * time.Millisecond)
		stop := s.dispatch(newTestLease())
		time.Sleep(6500 * time.Millisecond)
		stop()
		if got, want := ticksOf(s.byTick("j")), []int64{10, 15, 18, 20, 24, 28, 32}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
	})
}

// replaceBeforeTicksSettle runs j (@every 1s) under A until 00:00:10.5. The whole
// cluster restarts: B and C come back at 00:00:20, 00:00:11 to 00:00:20 are due.
// @every 2s is stored at 00:00:21, then B leads: it names the new version in the
// job's state, but none of the records of the old version's ticks it catches up is
// written before its term ends at 00:00:23. C, which saw the old version only as the
// one its state named and forgot it once the state named the new one, leads from
// 00:00:24 to 00:00:30.5, its first failedReads reads of job changes failing.
func (s *sim) replaceBeforeTicksSettle(failedReads int) {
	s.node("a", 100*time.Millisecond)
	s.putJob("j", jobYAML("@every 1s", ""))
	s.leadFor(10500 * time.Millisecond)
	time.Sleep(9500 * time.Millisecond)
	termsB, stopB := s.standby()
	termsC, stopC := s.standby()
	unwritten := func(fail bool) {
		for tick := 11; tick <= 22; tick++ {
			s.store.failCreate(subjects.RunKey("j", start.Add(time.Duration(tick)*time.Second)), fail)
		}
	}
	unwritten(true)
	time.Sleep(time.Second)
	s.putJob("j", jobYAML("@every 2s", ""))
	time.Sleep(500 * time.Millisecond)
	leaseB := newTestLease()
	termsB <- leaseB
	time.Sleep(1500 * time.Millisecond)
	leaseB.end()
	stopB()
	if st, _ := s.store.jobState("j"); st.LastTick != start.Add(10*time.Second).Unix() {
		s.t.Fatalf("job state %+v, want the last tick settled at 00:00:10", st)
	}
	unwritten(false)
	time.Sleep(time.Second)
	s.store.setFailFills(failedReads)
	termsC <- newTestLease()
	time.Sleep(6500 * time.Millisecond)
	stopC()
}

// checkReplacedBeforeTicksSettled asserts what replaceBeforeTicksSettle must record:
// 00:00:01 to 00:00:21 under @every 1s, then 22 to 30 under @every 2s.
func (s *sim) checkReplacedBeforeTicksSettled() {
	s.t.Helper()
	s.checkEveryTickOnce("j", start.Add(time.Second), start.Add(21*time.Second), time.Second)
	s.checkEveryTickOnce("j", start.Add(22*time.Second), start.Add(30*time.Second), 2*time.Second)
	if n := len(s.byTick("j")); n != 26 {
		s.t.Fatalf("%d ticks with a record, want 21 of @every 1s and 5 of @every 2s: %v", n, ticksOf(s.byTick("j")))
	}
}

func TestAVersionReplacedBeforeItsTicksSettledHasThemLaunchedByALeaderThatNeverSawIt(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.replaceBeforeTicksSettle(0)
		s.checkReplacedBeforeTicksSettled()
	})
}

func TestANewLeaderWhoseFirstReadsOfJobChangesFailReadsThemAgainBeforeItLaunches(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.replaceBeforeTicksSettle(3)
		s.checkReplacedBeforeTicksSettled()
	})
}

func TestATickWhoseRecordFailedIsRecordedSkippedWhenItsJobIsDeletedMeanwhile(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 1s", ""))
		failed := subjects.RunKey("j", start.Add(3*time.Second))
		s.store.failCreate(failed, true)
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(3200 * time.Millisecond)
		s.store.set(JobChanged, "j", nil) // deleted while the sweep retries 00:00:03
		time.Sleep(100 * time.Millisecond)
		s.store.failCreate(failed, false)
		time.Sleep(3 * time.Second)
		stop()
		r, _, ok := s.store.run(failed)
		if !ok || r.State != subjects.StateSkipped || !strings.Contains(r.Reason, "job removed") {
			t.Fatalf("00:00:03: %+v (found %v), want skipped: job removed", r, ok)
		}
		s.checkEveryTickOnce("j", start.Add(time.Second), start.Add(3*time.Second), time.Second)
	})
}

func TestANewLeaderStartsAJobWhoseFirstTickHadNotSettledFromWhenItWasStored(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		// Stored at 00:00:05 under A, whose term ends at 00:00:08 before the job's
		// first tick: its state says no tick settled yet.
		s.node("a", 100*time.Millisecond)
		leaseA := newTestLease()
		stopA := s.dispatch(leaseA)
		termsB, stopB := s.standby()
		time.Sleep(5 * time.Second)
		s.putJob("late", jobYAML("@every 10s", ""))
		time.Sleep(3 * time.Second)
		leaseA.end()
		stopA()
		time.Sleep(2 * time.Second)
		termsB <- newTestLease()
		time.Sleep(10500 * time.Millisecond)
		stopB()
		if got, want := ticksOf(s.byTick("late")), []int64{10, 20}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
	})
}

func TestAJobVersionStoredWhileTheJobsWatchStallsReplacesThePreviousOneWithinASweep(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 5s", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(10300 * time.Millisecond)
		s.store.setBlindJobs(true) // the watch shows no job change from here on
		s.putJob("j", jobYAML("@every 3s", ""))
		time.Sleep(9200 * time.Millisecond)
		stop()
		runs := s.byTick("j")
		// 5 and 10 under @every 5s; from 00:00:10.3 on, 12, 15 and 18 under @every 3s
		// (and not 20 under @every 5s, which the test does not reach).
		if got, want := ticksOf(runs), []int64{5, 10, 12, 15, 18}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
	})
}

func TestAVersionLearnedLateAfterItsJobWasDeletedLaunchesNothingAfterTheDeletion(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 2s", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(10300 * time.Millisecond)
		// The leader learns nothing of j for a while: its watch stalls and its reads
		// fail. @every 1s is stored at 00:00:10.5, and j deleted at 00:00:12.5.
		s.store.setBlindJobs(true)
		s.store.setFailFills(1 << 20)
		time.Sleep(200 * time.Millisecond)
		s.putJob("j", jobYAML("@every 1s", ""))
		time.Sleep(2 * time.Second)
		s.store.set(JobChanged, "j", nil)
		time.Sleep(2500 * time.Millisecond)
		s.store.setFailFills(0) // both changes are read together at 00:00:15.5
		time.Sleep(5 * time.Second)
		stop()
		runs := s.byTick("j")
		// 2 to 10 under @every 2s; nothing while the leader cannot read past its
		// watch; then 11 and 12 of @every 1s recorded skipped: their version was
		// deleted before they could be launched. Nothing after the deletion (13, 14).
		if got, want := ticksOf(runs), []int64{2, 4, 6, 8, 10, 11, 12}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
		for _, tick := range []int64{11, 12} {
			if r := runs[tick]; r.State != subjects.StateSkipped || !strings.Contains(r.Reason, "job removed") {
				t.Fatalf("tick %d: %s %q, want skipped: job removed", tick, r.State, r.Reason)
			}
		}
	})
}

// missVersionWhileNobodyLeads runs j (@every 2s) under A until 00:00:12.5; B's watch
// then shows no job change, @every 3s is stored at 00:00:13, B's first failedReads
// reads of job changes fail, and B leads from 00:00:16.2 to 00:00:20.5. It returns
// the ticks with a record.
func (s *sim) missVersionWhileNobodyLeads(failedReads int) []int64 {
	s.twoTerms("@every 2s", 12500*time.Millisecond, func() {
		s.store.setBlindJobs(true)
		time.Sleep(500 * time.Millisecond)
		s.putJob("j", jobYAML("@every 3s", ""))
		s.store.setFailFills(failedReads)
		time.Sleep(3200 * time.Millisecond)
	}, 4300*time.Millisecond)
	return ticksOf(s.byTick("j"))
}

// versionMissedWhileNobodyLed is what missVersionWhileNobodyLeads must record:
// @every 2s until 00:00:13, then @every 3s: 15 caught up, 18 on time; not 14 and 16
// of the version B's watch still shows.
var versionMissedWhileNobodyLed = []int64{2, 4, 6, 8, 10, 12, 15, 18}

func TestANewLeaderWhoseWatchMissedAVersionStoredWhileNobodyLedCatchesUpThatVersionsTicks(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		if got, want := s.missVersionWhileNobodyLeads(0), versionMissedWhileNobodyLed; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
	})
}

func TestANewLeaderWhoseFirstReadsOfJobChangesFailReadsAgainBeforeItLaunches(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		if got, want := s.missVersionWhileNobodyLeads(3), versionMissedWhileNobodyLed; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
	})
}

func TestAJobChangedWhileNobodyLedCatchesUpItsPreviousVersionsTicks(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", time.Second)
		s.putJob("j", jobYAML("* * * * *", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(2*time.Minute + 30*time.Second) // 00:01 and 00:02 launched
		stop()
		time.Sleep(3 * time.Minute) // nobody leads; 00:03, 00:04, 00:05 are due
		s.putJob("j", jobYAML("*/10 * * * *", ""))
		time.Sleep(30 * time.Second)
		stop = s.dispatch(alwaysLeader{})
		time.Sleep(5 * time.Minute) // the new version's 00:10 launches
		stop()
		s.checkEveryTickOnce("j", start.Add(time.Minute), start.Add(5*time.Minute), time.Minute)
		if _, _, ok := s.store.run(subjects.RunKey("j", start.Add(10*time.Minute))); !ok {
			t.Fatal("the new version's 00:10 tick has no record")
		}
		if n := len(s.store.runs()); n != 6 {
			t.Fatalf("%d runs, want 00:01 to 00:05 of the old version and 00:10 of the new", n)
		}
	})
}

// A ticker that starts after a job was deleted and made again, while the job's
// settled mark is still before the deletion, knows the deletion: the version the
// job's stored state names does not stand for the versions before it.
func TestAFreshTickerWhoseJobStateNamesALaterVersionKnowsTheDeletionBeforeIt(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 2s", ""))
		s.store.failCreate(subjects.RunKey("j", start.Add(4*time.Second)), true) // settled stays at 00:00:03
		leaseA := newTestLease()
		stopA := s.dispatch(leaseA)
		time.Sleep(5500 * time.Millisecond)
		s.store.set(JobChanged, "j", nil)
		time.Sleep(4 * time.Second)
		s.putJob("j", jobYAML("@every 1s", "")) // 00:00:09.5: the state A stores names it
		time.Sleep(3 * time.Second)
		leaseA.end()
		stopA()
		if st, _ := s.store.jobState("j"); st.LastTick >= start.Add(4*time.Second).Unix() || !strings.Contains(st.Spec, "@every 1s") {
			t.Fatalf("job state %+v: want settled before 00:00:04 and the spec of @every 1s", st)
		}
		s.store.failCreate(subjects.RunKey("j", start.Add(4*time.Second)), false)
		stop := s.dispatch(newTestLease()) // a ticker started after all that
		time.Sleep(2 * time.Second)
		stop()
		// 2 and 4 of @every 2s, nothing while the job was deleted, 10 on of @every 1s.
		if got, want := ticksOf(s.byTick("j")), []int64{2, 4, 10, 11, 12, 13, 14}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
	})
}
