package ticker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

func TestSimulatedDayOfPerSecondTicksLaunchesEachTickOnce(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		for i := range 3 {
			s.node(fmt.Sprintf("node-%d-mysql-backup", i), 100*time.Millisecond)
		}
		s.putJob("every-second", jobYAML("@every 1s", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(24*time.Hour + 500*time.Millisecond) // the last tick's run ends too
		stop()
		first := start.Add(time.Second)
		last := start.Add(24 * time.Hour)
		runs := s.checkEveryTickOnce("every-second", first, last, time.Second)
		perNode := map[string]int{}
		for _, r := range runs {
			if r.State != subjects.StateComplete {
				t.Fatalf("run %s ended %s, want complete", r.ID, r.State)
			}
			perNode[r.Current().Node]++
		}
		if len(perNode) != 3 {
			t.Fatalf("runs were not spread over the 3 nodes: %v", perNode)
		}
	})
}

func TestTwoTickersThatBothBelieveTheyLeadLaunchEachTickOnce(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 10*time.Millisecond)
		s.putJob("j", jobYAML("@every 1s", ""))
		stopA := s.dispatch(alwaysLeader{})
		stopB := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour)
		stopA()
		stopB()
		s.checkEveryTickOnce("j", start.Add(time.Second), start.Add(time.Hour-time.Second), time.Second)
		if n := s.store.launchCount(); n != 3599 && n != 3600 {
			t.Fatalf("%d launches published for about 3600 ticks", n)
		}
	})
}

// A create refused as existing settles its tick only once the record is read back:
// a leader refuses a create while another for the key is still proposed, which may
// never be stored.
func TestATickWhoseCreateIsRefusedWithoutARecordIsRetriedUntilRecorded(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 1s", ""))
		phantom := subjects.RunKey("j", start.Add(3*time.Second))
		s.store.setPhantom(phantom, true)
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(5 * time.Second)
		if st, _ := s.store.jobState("j"); st.LastTick >= start.Add(3*time.Second).Unix() {
			t.Fatalf("job state settled at %s while 00:00:03 has no record", time.Unix(st.LastTick, 0).UTC().Format(time.TimeOnly))
		}
		s.store.setPhantom(phantom, false)
		time.Sleep(3 * time.Second)
		stop()
		s.checkEveryTickOnce("j", start.Add(time.Second), start.Add(7*time.Second), time.Second)
	})
}

func TestARunThatExistsAlreadyDoesNotBlockAProhibitOverlapJob(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", time.Second)
		// Another ticker made the 00:01 run; this one's watch has not seen it yet.
		s.store.unseen = map[string]bool{subjects.RunKey("j", start.Add(time.Minute)): true}
		s.putJob("j", jobYAML("* * * * *", "  prohibit_overlap: true"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(5*time.Minute + 30*time.Second)
		stop()
		// Losing the 00:01 record to the other ticker must not leave a phantom run
		// behind that makes every later tick overlap.
		s.checkEveryTickOnce("j", start.Add(2*time.Minute), start.Add(5*time.Minute), time.Minute)
		for _, r := range s.store.runs() {
			if r.State != subjects.StateComplete {
				t.Fatalf("run %s %s: %s", r.ID, r.State, r.Reason)
			}
		}
	})
}

func TestNewLeaderCatchesUpTicksMissedWithinTheWindow(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", time.Second)
		s.putJob("j", jobYAML("* * * * *", "  catchup_window: 10m"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour + 30*time.Second)
		stop()
		time.Sleep(25 * time.Minute) // nobody leads
		stop = s.dispatch(alwaysLeader{})
		time.Sleep(time.Minute)
		stop()
		runs := s.checkEveryTickOnce("j", start.Add(time.Minute), start.Add(86*time.Minute), time.Minute)
		// Missed ticks: 01:01 .. 01:25. At the takeover (01:25:30), those older than
		// 10 minutes (01:01 .. 01:15) are skipped, the rest launched late.
		for m := 61; m <= 85; m++ {
			r := runs[subjects.RunKey("j", start.Add(time.Duration(m)*time.Minute))]
			if m <= 75 {
				if r.State != subjects.StateSkipped || !strings.Contains(r.Reason, "catch-up window") {
					t.Fatalf("minute %d: %s %q, want skipped outside the catch-up window", m, r.State, r.Reason)
				}
				continue
			}
			if r.State != subjects.StateComplete || r.Late.Duration() < 30*time.Second {
				t.Fatalf("minute %d: %s late %v, want complete and late", m, r.State, r.Late.Duration())
			}
		}
	})
}

// With catchup: latest, the missed ticks but the newest are recorded skipped, also
// when their skip records fail at first and are retried.
func TestCatchupLatestLaunchesOnlyTheNewestMissedTick(t *testing.T) {
	for _, failFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip records fail at first: %v", failFirst), func(t *testing.T) {
			simulate(t, start, func(t *testing.T, s *sim) {
				s.node("a", time.Second)
				s.putJob("j", jobYAML("* * * * *", "  catchup: latest"))
				stop := s.dispatch(alwaysLeader{})
				time.Sleep(90 * time.Second)
				stop()
				time.Sleep(5 * time.Minute)
				failing := func(fail bool) {
					for m := 2; m <= 5; m++ {
						s.store.failCreate(subjects.RunKey("j", start.Add(time.Duration(m)*time.Minute)), fail)
					}
				}
				failing(failFirst)
				stop = s.dispatch(alwaysLeader{})
				time.Sleep(2 * time.Second) // the sweep retries them
				failing(false)
				time.Sleep(2 * time.Second)
				stop()
				runs := s.store.runs()
				launched := 0
				for m := 2; m <= 6; m++ {
					r, ok := runs[subjects.RunKey("j", start.Add(time.Duration(m)*time.Minute))]
					if !ok {
						t.Fatalf("minute %d has no record", m)
					}
					if r.State == subjects.StateSkipped {
						if !strings.Contains(r.Reason, "latest") {
							t.Fatalf("minute %d skipped for %q", m, r.Reason)
						}
						continue
					}
					launched++
					if m != 6 {
						t.Fatalf("minute %d launched; only the newest (6) should be", m)
					}
				}
				if launched != 1 {
					t.Fatalf("%d missed ticks launched, want 1", launched)
				}
			})
		})
	}
}

func TestHourlyJobAcrossSpringForwardLaunchesOncePerWallClockHour(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 3, 8, 0, 30, 0, 0, ny) // clocks go 02:00 → 03:00
	simulate(t, day, func(t *testing.T, s *sim) {
		s.node("a", time.Second)
		s.putJob("j", jobYAML("0 * * * *", "  time_zone: America/New_York"))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(23 * time.Hour)
		stop()
		// 23 real hours from 00:30 EST reach 00:30 EDT the next day: the wall-clock
		// hours 01:00, 03:00 .. 23:00 and 00:00, without the 02:00 that does not exist.
		runs := s.store.runs()
		if len(runs) != 23 {
			t.Fatalf("%d launches in the 23 h after 00:30 on a spring-forward day, want 23", len(runs))
		}
		for _, r := range runs {
			local := time.Unix(r.Scheduled, 0).In(ny)
			if r.State != subjects.StateComplete || local.Minute() != 0 || local.Hour() == 2 {
				t.Fatalf("run %s at %s: %s", r.ID, local, r.State)
			}
		}
	})
}

func TestForceLaunchesNowAndRespectsProhibitOverlap(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", time.Minute)
		s.putJob("j", jobYAML("0 0 1 1 *", "  prohibit_overlap: true"))
		request, stop := s.leadAnswering()
		defer stop()
		ask := func() subjects.ForceReply { return request("j", nil) }
		time.Sleep(time.Second)
		first := ask()
		if first.RunID == "" {
			t.Fatalf("first force: %+v", first)
		}
		time.Sleep(time.Second)
		second := ask()
		if !strings.Contains(second.Skipped, "prohibit_overlap") {
			t.Fatalf("force while running: %+v, want skipped for prohibit_overlap", second)
		}
		time.Sleep(2 * time.Minute)
		if r, _, _ := s.store.run(subjects.RunKey("j", start.Add(time.Second))); r.State != subjects.StateComplete || !r.Forced {
			t.Fatalf("forced run %+v", r)
		}
	})
}

func TestStandbyTakesOverWhereTheLeaderStopped(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		// The leader dies; its lock expires 2 s later and the standby wins it.
		s.twoTerms("@every 1s", 10*time.Minute, func() { time.Sleep(2 * time.Second) }, 10*time.Minute)
		runs := s.checkEveryTickOnce("j", start.Add(time.Second), start.Add(20*time.Minute), time.Second)
		late := 0
		for _, r := range runs {
			if r.Scheduled > start.Add(20*time.Minute).Unix() {
				continue // still running when the test stopped
			}
			if r.State != subjects.StateComplete {
				t.Fatalf("run %s %s: %s", r.ID, r.State, r.Reason)
			}
			if r.Late.Duration() >= time.Second {
				late++
			}
		}
		if late < 1 || late > 2 {
			t.Fatalf("%d late runs, want only the ticks of the leaderless 2 s", late)
		}
	})
}

func TestATickWhoseRecordFailedIsCaughtUpByTheNextLeaderBehindNewerRecords(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		failed := start.Add(5 * time.Second)
		s.store.failCreate(subjects.RunKey("j", failed), true)
		// A records the ticks after the failed one, then its term ends with the
		// failed tick still unrecorded (as when its server is cut off mid-retry).
		s.twoTerms("@every 1s", 8*time.Second, func() {
			if _, _, ok := s.store.run(subjects.RunKey("j", start.Add(7*time.Second))); !ok {
				t.Fatal("the ticks after the failed one were not recorded")
			}
			s.store.failCreate(subjects.RunKey("j", failed), false)
		}, 5*time.Second)
		runs := s.checkEveryTickOnce("j", start.Add(time.Second), start.Add(12*time.Second), time.Second)
		if r := runs[subjects.RunKey("j", failed)]; r.Late.Duration() < 3*time.Second {
			t.Fatalf("the failed tick's run is %s late; want it caught up by the next leader", r.Late.Duration())
		}
	})
}

func TestABurstOfMoreLaunchesThanWriteSlotsAllLaunch(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		for i := range 3 {
			s.node(fmt.Sprintf("n%d", i), time.Second)
		}
		// 3*maxInflight jobs due in the same second: more writes than slots and
		// result buffer together.
		n := 3 * maxInflight
		for i := range n {
			s.putJob(fmt.Sprintf("j%d", i), jobYAML("0 1 * * *", ""))
		}
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(time.Hour + time.Minute)
		stop()
		complete := 0
		for _, r := range s.store.runs() {
			if r.State == subjects.StateComplete {
				complete++
			}
		}
		if complete != n {
			t.Fatalf("%d of %d runs due at 01:00 completed", complete, n)
		}
	})
}
