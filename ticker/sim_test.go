package ticker

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
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
	// runsPerJob is the dispatchers' cap of records per job (0: none).
	runsPerJob int
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
	d.runsPerJob = s.runsPerJob
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

// leadAnswering starts a dispatcher that leads and takes force and backfill
// requests: ask sends one for job (backfill nil: a force) and returns the answer;
// stop ends the dispatcher and waits.
func (s *sim) leadAnswering() (ask func(job string, backfill *subjects.BackfillRequest) subjects.ForceReply, stop func()) {
	d := newDispatcher(s.store, s.clock, zerolog.Nop())
	terms, force := make(chan leaseView, 1), make(chan forceRequest)
	terms <- alwaysLeader{}
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = d.run(ctx, terms, force) }()
	ask = func(job string, backfill *subjects.BackfillRequest) subjects.ForceReply {
		replies := make(chan subjects.ForceReply, 1)
		force <- forceRequest{job: job, backfill: backfill, reply: func(r subjects.ForceReply) { replies <- r }}
		return <-replies
	}
	return ask, func() { cancel(); <-done }
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
