package ticker

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/subjects"
)

// alwaysLeader is a lease that never ends: two dispatchers with one each are two
// tickers that both believe they lead.
type alwaysLeader struct{}

func (alwaysLeader) Valid() bool           { return true }
func (alwaysLeader) Rev() uint64           { return 1 }
func (alwaysLeader) Lost() <-chan struct{} { return nil }

// testLease is a lease a test ends.
type testLease struct {
	mu   sync.Mutex
	lost chan struct{}
}

func newTestLease() *testLease { return &testLease{lost: make(chan struct{})} }

func (l *testLease) Valid() bool {
	select {
	case <-l.lost:
		return false
	default:
		return true
	}
}
func (l *testLease) Rev() uint64           { return 2 }
func (l *testLease) Lost() <-chan struct{} { return l.lost }
func (l *testLease) end()                  { close(l.lost) }

// sim is a simulated cluster for dispatcher tests: an in-memory store, runner nodes,
// and dispatchers started and stopped at will, on synctest's fake clock.
type sim struct {
	t       *testing.T
	ctx     context.Context
	clock   clock.Clock
	store   *memStore
	mu      sync.Mutex
	runners map[string]*fakeRunner
}

func newSim(t *testing.T, ctx context.Context, clk clock.Clock) *sim {
	s := &sim{t: t, ctx: ctx, clock: clk, store: newMemStore(clk), runners: map[string]*fakeRunner{}}
	s.store.onLaunch = func(l subjects.Launch) {
		s.mu.Lock()
		r := s.runners[l.Node]
		s.mu.Unlock()
		if r != nil {
			r.launch(ctx, l)
		}
	}
	return s
}

// node registers a runner node that heartbeats every second and whose runs take d.
func (s *sim) node(name string, d time.Duration) *fakeRunner {
	r := &fakeRunner{t: s.t, s: s.store, d: d, node: subjects.Member{
		ID: name + "-id", Name: name, Datacenter: "dc1", TTL: subjects.MillisOf(5 * time.Second), Session: name + "-session",
		Attributes: map[string]string{"attr.unique.hostname": name, "driver.raw_exec": "1", "attr.kernel.name": "linux"},
	}}
	s.mu.Lock()
	s.runners[name] = r
	s.mu.Unlock()
	r.heartbeatEvery(s.ctx, time.Second)
	return r
}

func (s *sim) putJob(name, yaml string) { s.store.set(JobChanged, name, []byte(yaml)) }

// dispatch starts a dispatcher that leads with the lease; the returned stop ends it
// and waits.
func (s *sim) dispatch(lease leaseView) (stop func()) {
	terms, stop := s.standby()
	terms <- lease
	return stop
}

// standby starts a dispatcher that leads when it is given a lease on terms.
func (s *sim) standby() (terms chan<- leaseView, stop func()) {
	ctx, cancel := context.WithCancel(s.ctx)
	d := newDispatcher(s.store, s.clock, zerolog.Nop())
	ch := make(chan leaseView)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.run(ctx, ch, nil); err != nil {
			s.t.Errorf("dispatcher: %v", err)
		}
	}()
	return ch, func() { cancel(); <-done }
}

// leadFor runs a dispatcher that leads for d, then ends its term and stops it.
func (s *sim) leadFor(d time.Duration) {
	lease := newTestLease()
	stop := s.dispatch(lease)
	time.Sleep(d)
	lease.end()
	stop()
}

// twoTerms runs job j (on cron) on node a: a leader for led, then between, while
// nobody leads, then a standby that takes over and leads for after.
func (s *sim) twoTerms(cron string, led time.Duration, between func(), after time.Duration) {
	s.node("a", 100*time.Millisecond)
	s.putJob("j", jobYAML(cron, ""))
	leaseA := newTestLease()
	stopA := s.dispatch(leaseA)
	termsB, stopB := s.standby()
	time.Sleep(led)
	leaseA.end()
	stopA()
	between()
	termsB <- newTestLease()
	time.Sleep(after)
	stopB()
}

// executions sums the runners' executions per run ID.
func (s *sim) executions() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, r := range s.runners {
		r.mu.Lock()
		for id, n := range r.execs {
			out[id] += n
		}
		r.mu.Unlock()
	}
	return out
}

// checkEveryTickOnce asserts that every tick of job from first to last (every step)
// has exactly one record and at most one execution, and returns the records.
func (s *sim) checkEveryTickOnce(job string, first, last time.Time, step time.Duration) map[string]subjects.Run {
	s.t.Helper()
	runs := s.store.runs()
	execs := s.executions()
	for t := first; !t.After(last); t = t.Add(step) {
		key := subjects.RunKey(job, t)
		r, ok := runs[key]
		if !ok {
			s.t.Fatalf("tick %s of %s has no record (missed)", t.UTC().Format(time.RFC3339), job)
		}
		if n := execs[r.ID]; n > 1 {
			s.t.Fatalf("run %s executed %d times", r.ID, n)
		}
	}
	for id, n := range execs {
		if n != 1 {
			s.t.Fatalf("run %s executed %d times", id, n)
		}
	}
	return runs
}

func jobYAML(cron string, extra string) string {
	return fmt.Sprintf(`datacenters: [dc1]
type: batch
periodic:
  cron: %q
%s
task:
  name: t
  driver: raw_exec
  config:
    command: /bin/true
`, cron, extra)
}

// simulate runs test in a synctest bubble whose clock starts at origin.
//
// Under the race detector the bubble runs on one P. With more, Go 1.26's race
// runtime crashes now and then (SIGSEGV in __tsan::SlotLock under
// runtime.(*timer).maybeRunChan; compare golang/go#78156): a bubble's timers
// share one race context, which timer channels fire from whichever thread
// reads them, without the bubble's timer lock. On 2 cores, 3 of 3 runs of
// TestTwoTickersThatBothBelieveTheyLeadLaunchEachTickOnce -count 5 crashed,
// and 0 of 3 with GOMAXPROCS=1. The ticker's tests do not run in parallel, so
// this slows no other test.
func simulate(t *testing.T, origin time.Time, test func(t *testing.T, s *sim)) {
	if raceEnabled {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		test(t, newSim(t, ctx, clock.At(origin)))
	})
}

// start is a Monday at 00:00 UTC, as the simulated days' origin.
var start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

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
// never be stored (soak 17: a tick with no record that a new holder took for settled).
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
// when their skip records fail at first and are retried (CI once had the retries
// launch them instead).
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
		d := newDispatcher(s.store, s.clock, zerolog.Nop())
		force := make(chan forceRequest)
		terms := make(chan leaseView, 1)
		terms <- alwaysLeader{}
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		go func() { _ = d.run(ctx, terms, force) }()
		ask := func() subjects.ForceReply {
			replies := make(chan subjects.ForceReply, 1)
			force <- forceRequest{job: "j", reply: func(r subjects.ForceReply) { replies <- r }}
			return <-replies
		}
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

// byTick returns the job's records by tick (seconds after start).
func (s *sim) byTick(job string) map[int64]subjects.Run {
	out := map[int64]subjects.Run{}
	for _, r := range s.store.runs() {
		if r.Job == job {
			out[r.Scheduled-start.Unix()] = r
		}
	}
	return out
}

// ticksOf lists the ticks (seconds after start) that have a record.
func ticksOf(runs map[int64]subjects.Run) []int64 {
	ticks := slices.Collect(maps.Keys(runs))
	slices.Sort(ticks)
	return ticks
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
// 00:00:24 to 00:00:30.5, its first failedReads reads of job versions failing.
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
	s.store.setFailVersions(failedReads)
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

func TestANewLeaderWhoseFirstReadsOfJobVersionsFailReadsThemAgainBeforeItLaunches(t *testing.T) {
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

func TestANewVersionThatReachesTheLeaderLateHasItsTicksSinceItWasStored(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 2s", ""))
		stop := s.dispatch(alwaysLeader{})
		time.Sleep(10*time.Second + 500*time.Millisecond)
		// Stored at 00:00:07.5, seen at 00:00:10.5: the old version launched 8 and 10.
		s.store.setLate(JobChanged, "j", []byte(jobYAML("@every 1s", "")), 3*time.Second)
		time.Sleep(5 * time.Second)
		stop()
		s.checkEveryTickOnce("j", start.Add(8*time.Second), start.Add(15*time.Second), time.Second)
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
		// 2 to 10 and 12, 14 under @every 2s (the leader could not know better), 11
		// of @every 1s recorded skipped: its version was deleted before it could be
		// launched. Nothing of @every 1s after the deletion (13, 15).
		if got, want := ticksOf(runs), []int64{2, 4, 6, 8, 10, 11, 12, 14}; !slices.Equal(got, want) {
			t.Fatalf("ticks with a record: %v, want %v", got, want)
		}
		if r := runs[11]; r.State != subjects.StateSkipped || !strings.Contains(r.Reason, "job removed") {
			t.Fatalf("tick 11: %s %q, want skipped: job removed", r.State, r.Reason)
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

// A watch that stays behind holds a term up for startBudget at most: then it leads
// on what it has, and the ticks go on.
func TestANewHolderWhoseRunsWatchStaysBehindLeadsAfterItsBudget(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 100*time.Millisecond)
		s.putJob("j", jobYAML("@every 1s", ""))
		terms, stop := s.standby()
		s.leadFor(1500 * time.Millisecond)
		s.store.holdRunChanges()
		s.store.set(RunChanged, "unrelated", []byte(`{}`)) // the standby's watch never sends it
		terms <- newTestLease()
		time.Sleep(startBudget + 3*time.Second)
		stop()
		s.checkEveryTickOnce("j", start.Add(time.Second), start.Add(startBudget+3*time.Second), time.Second)
	})
}

// A new holder whose watch has not yet sent the run records the previous holder made
// does not launch before it has: under prohibit_overlap it would start a run next to
// one it cannot see (soak 15: a run re-placed by the previous holder and a catch-up
// tick of the new one ran at once).
func TestANewHolderLaunchesOnlyOnceItsWatchSentTheRunsThePreviousHolderMade(t *testing.T) {
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
// job: the job made again does not relaunch it, and its own runs do not overlap it
// (soak 10 had the lost run relaunched next to the new job's run). Each way a
// leader can learn of the deletion is tried: it saw it as a standby, it reads it
// from the job's stored state, it reads it back from the bucket's versions, or it
// saw both changes while leading, before its own record of the deletion was back.
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
