package harness

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// These tests show that the checker fails on each broken invariant; they run with the
// unit tests (no processes, no NATS).

var t0 = time.Unix(1_800_000_000, 0)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func ptrT(t time.Time) *time.Time { return &t }

// fixture: job "j" @every 1s acknowledged at t0, scenario ends at t0+5s; ticks 1-5
// each ran once on n1 and completed.
func fixture() CheckInput {
	b := newBook()
	b.add("j", &Def{Spec: &JobSpec{Every: time.Second}, Sent: at(-0.1), Acked: at(0)})
	in := CheckInput{Book: b, Final: map[string]Observed{}, History: map[string][]Observed{}, Start: at(-1), End: at(5), Settled: at(8)}
	for i := 1; i <= 5; i++ {
		tick := at(float64(i))
		id := "a" + string(rune('0'+i))
		r := subjects.Run{ID: subjects.RunID("j", tick), Job: "j", Scheduled: tick.Unix(), State: subjects.StateComplete,
			Allocations: []subjects.Allocation{{ID: id, Node: "n1", State: subjects.StateComplete, Finished: ptrT(tick.Add(300 * time.Millisecond))}}}
		in.Final[subjects.RunKey("j", tick)] = Observed{Rev: uint64(10 + i), Run: r}
		in.Execs = append(in.Execs, &Exec{Job: "j", Run: r.ID, Node: "n1", Alloc: id, Sched: tick.Unix(), PID: 100 + i,
			Start: tick.Add(10 * time.Millisecond), End: tick.Add(200 * time.Millisecond)})
	}
	return in
}

func wantViolation(t *testing.T, res *Result, substr string) {
	t.Helper()
	for _, v := range res.Violations {
		if strings.Contains(v, substr) {
			return
		}
	}
	t.Fatalf("no violation containing %q; got %q", substr, res.Violations)
}

func TestCheckPassesAGoodRun(t *testing.T) {
	res := Check(fixture())
	if len(res.Violations) > 0 {
		t.Fatalf("violations: %q", res.Violations)
	}
	if row := res.Rows[0]; row.Expected != 5 || row.Launched != 5 || row.Duplicates != 0 {
		t.Fatalf("row = %+v", row)
	}
}

func TestCheckFindsASilentMiss(t *testing.T) {
	in := fixture()
	delete(in.Final, subjects.RunKey("j", at(3)))
	in.Execs = append(in.Execs[:2], in.Execs[3:]...)
	wantViolation(t, Check(in), "silent miss")
}

func TestCheckFindsATickExecutedTwice(t *testing.T) {
	in := fixture()
	x := *in.Execs[2]
	x.Node, x.PID, x.Start = "n2", 999, x.Start.Add(50*time.Millisecond)
	in.Execs = append(in.Execs, &x)
	res := Check(in)
	wantViolation(t, res, "executed 2 times")
	if res.Rows[0].Duplicates == 0 {
		t.Fatal("duplicate not counted")
	}
}

// relaunchTick2 declares tick 2's allocation on n1 lost at lostAt and adds its
// relaunch, allocation b2 on n2, executed from start to end. It returns the run's key.
func relaunchTick2(in *CheckInput, lostAt, start, end time.Time) string {
	key := subjects.RunKey("j", at(2))
	o := in.Final[key]
	o.Run.Allocations[0].State, o.Run.Allocations[0].Finished = subjects.StateLost, ptrT(lostAt)
	o.Run.Allocations = append(o.Run.Allocations, subjects.Allocation{ID: "b2", Node: "n2", State: subjects.StateComplete})
	in.Final[key] = o
	in.Execs = append(in.Execs, &Exec{Job: "j", Run: o.Run.ID, Node: "n2", Alloc: "b2", Start: start, End: end})
	return key
}

func TestCheckFindsASecondAllocationBeforeTheFirstWasLost(t *testing.T) {
	in := fixture()
	// The first allocation was declared lost only after the second started.
	relaunchTick2(&in, at(2.5), at(2.1), at(2.4))
	in.Execs[1].End = time.Time{}
	wantViolation(t, Check(in), "declared lost only at")
}

func TestCheckAcceptsARelaunchAfterLost(t *testing.T) {
	in := fixture()
	relaunchTick2(&in, at(2.1), at(3.2), at(3.4))
	in.Execs[1].End = time.Time{}
	res := Check(in)
	if len(res.Violations) > 0 {
		t.Fatalf("violations: %q", res.Violations)
	}
	if row := res.Rows[0]; row.Lost != 1 || row.Relaunched != 1 {
		t.Fatalf("row = %+v", row)
	}
}

func TestCheckFindsOverlapUnderProhibitOverlap(t *testing.T) {
	in := fixture()
	in.Book.Defs("j")[0].Spec.Overlap = true
	in.Execs[1].End = at(3.5) // tick 2 still runs when tick 3 starts
	wantViolation(t, Check(in), "prohibit_overlap")
}

func TestCheckAcceptsALostExecutionsTailWhenItsHostWakes(t *testing.T) {
	in := fixture()
	in.Book.Defs("j")[0].Spec.Overlap = true
	// Declared lost at 2.5 while its host was paused; relaunched at 2.7; the paused
	// process ran its last lines when the host woke, at 3.6, after tick 3 started.
	relaunchTick2(&in, at(2.5), at(2.7), at(2.9))
	in.Execs[1].End = at(3.6)
	if res := Check(in); len(res.Violations) > 0 {
		t.Fatalf("violations: %q", res.Violations)
	}
}

func TestCheckFindsAnExecutionWithoutARecordUnlessItBeganAsTheRecordsWereRead(t *testing.T) {
	in := fixture()
	in.Execs = append(in.Execs, &Exec{Job: "j", Run: subjects.RunID("j", at(3)), Node: "n2", Alloc: "ghost", Start: at(3.1), End: at(3.2)})
	wantViolation(t, Check(in), "no run record has allocation ghost")

	in = fixture()
	in.Execs = append(in.Execs, &Exec{Job: "j", Run: subjects.RunID("j", at(3)), Node: "n2", Alloc: "late", Start: in.Settled.Add(-500 * time.Millisecond)})
	for _, v := range Check(in).Violations {
		if strings.Contains(v, "no run record has allocation late") {
			t.Fatalf("flagged an execution that began as the records were read: %s", v)
		}
	}
}

func TestCheckFindsAStateMovingBackwards(t *testing.T) {
	in := fixture()
	key := subjects.RunKey("j", at(4))
	done := in.Final[key]
	running := done
	running.Run.Allocations = []subjects.Allocation{{ID: "a4", Node: "n1", State: subjects.StateRunning}}
	running.Run.State = subjects.StateRunning
	running.Rev = done.Rev + 1 // running written after complete
	in.History[key] = []Observed{done, running}
	in.Final[key] = running
	wantViolation(t, Check(in), "moved backwards")
}

func TestCheckFindsCompleteWithoutExecution(t *testing.T) {
	in := fixture()
	in.Execs = in.Execs[1:]
	wantViolation(t, Check(in), "recorded complete, but the ledger has no execution")
}

func TestCheckFindsASkipWithoutReasonAndAPhantomRun(t *testing.T) {
	in := fixture()
	key := subjects.RunKey("j", at(5))
	o := in.Final[key]
	o.Run.State, o.Run.Allocations = subjects.StateSkipped, nil
	in.Final[key] = o
	in.Execs = in.Execs[:4]
	phantom := at(-5)
	in.Final[subjects.RunKey("j", phantom)] = Observed{Rev: 1, Run: subjects.Run{ID: subjects.RunID("j", phantom), Job: "j", Scheduled: phantom.Unix(), State: subjects.StateSkipped, Reason: "x"}}
	res := Check(in)
	wantViolation(t, res, "skipped without a reason")
	wantViolation(t, res, "no written definition schedules")
}

func TestLedgerScriptRecordsStartAndEnd(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "ledger.sh")
	if err := os.WriteFile(script, []byte(ledgerScript), 0o755); err != nil {
		t.Fatal(err)
	}
	ledger := filepath.Join(dir, "j.log")
	cmd := exec.Command("/bin/sh", script, ledger, "2", "0.01", filepath.Join(dir, "argv"), "a;b", "$(x)")
	cmd.Env = append(os.Environ(), "JETCRON_NODE=n1", "JETCRON_RUN_ID=j/periodic-5", "JETCRON_SCHEDULED=5", "JETCRON_ALLOC_ID=abc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	es, err := readLedger(dir)
	if err != nil || len(es) != 1 {
		t.Fatalf("readLedger = %v, %v", es, err)
	}
	e := es[0]
	if e.Job != "j" || e.Node != "n1" || e.Alloc != "abc" || e.Sched != 5 || !e.Ended() || e.Term {
		t.Fatalf("exec = %+v", e)
	}
	argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
	if string(argv) != "a;b\x00$(x)\x00" {
		t.Fatalf("argv = %q", argv)
	}
}

// Soak seed 1796653762468795687: a host was frozen right after it forked tick 2's
// process; the allocation was declared lost and relaunched on n2; on waking, the
// frozen process wrote its ledger start (after n2's) before its agent killed it.
func TestCheckOrdersExecutionsByAllocationNotByLedgerStart(t *testing.T) {
	in := fixture()
	key := relaunchTick2(&in, at(2.5), at(3.5), at(4.2))
	in.Execs[1].Start, in.Execs[1].End = at(3.8), time.Time{} // woke at 3.8, killed
	if res := Check(in); len(res.Violations) > 0 {
		t.Fatalf("violations: %q", res.Violations)
	}

	// The same order of starts with the first allocation never declared lost is a
	// second execution.
	o := in.Final[key]
	o.Run.Allocations[0].State, o.Run.Allocations[0].Finished = subjects.StateComplete, nil
	in.Final[key] = o
	wantViolation(t, Check(in), "executed twice")
}

// restartTick2 makes tick 2's execution fail on purpose (its fail record at failEnd,
// its allocation recorded failed at failEnd + 50ms), and adds its restart, allocation
// r2 on n1, executed from start to start + 200ms and complete.
func restartTick2(in *CheckInput, failEnd, start time.Time) {
	key := subjects.RunKey("j", at(2))
	o := in.Final[key]
	first := &o.Run.Allocations[0]
	first.State, first.Finished, first.ExitCode = subjects.StateFailed, ptrT(failEnd.Add(50*time.Millisecond)), new(int)
	*first.ExitCode = 1
	o.Run.Restarts = 1
	o.Run.Allocations = append(o.Run.Allocations, subjects.Allocation{ID: "r2", Node: "n1", State: subjects.StateComplete,
		Restart: 1, RestartOf: 2, Finished: ptrT(start.Add(250 * time.Millisecond))})
	in.Final[key] = o
	in.Execs[1].End, in.Execs[1].Fail = failEnd, true
	in.Execs = append(in.Execs, &Exec{Job: "j", Run: o.Run.ID, Node: "n1", Alloc: "r2", Start: start, End: start.Add(200 * time.Millisecond)})
}

func TestCheckAcceptsARestartAfterAFailedExecution(t *testing.T) {
	in := fixture()
	restartTick2(&in, at(2.2), at(2.6))
	res := Check(in)
	if len(res.Violations) > 0 {
		t.Fatalf("violations: %q", res.Violations)
	}
	if row := res.Rows[0]; row.Restarted != 1 || row.Relaunched != 0 || row.Duplicates != 0 {
		t.Fatalf("row = %+v", row)
	}
}

func TestCheckFindsARestartThatOverlapsTheFailedExecution(t *testing.T) {
	in := fixture()
	restartTick2(&in, at(2.2), at(2.6))
	in.Execs[1].End = at(2.7) // the failed execution still ran when its restart began
	wantViolation(t, Check(in), "its execution had not ended")
}

func TestCheckFindsAFailedAllocationThatWasNotToFail(t *testing.T) {
	in := fixture()
	restartTick2(&in, at(2.2), at(2.6))
	in.Execs[1].Fail = false // it ended, yet its allocation failed
	wantViolation(t, Check(in), "failed: ")
}

// An unacknowledged write may be stored after the next, acknowledged, one (it waited
// in a route's buffer during a partition) and replace it: the ticks of a definition
// written less than lateLanding after such a write are not required, while those of
// one written later are, and an invalid raw value (never applied) exempts nothing.
func TestTicksOfADefinitionWrittenSoonAfterAnUnacknowledgedWriteAreNotRequired(t *testing.T) {
	every2 := &JobSpec{Every: 2 * time.Second}
	unacked := func(sent float64) *Def {
		return &Def{Spec: &JobSpec{Every: 3 * time.Second}, Sent: at(sent), Err: errors.New("context deadline exceeded")}
	}
	acked := func(sent float64) *Def { return &Def{Spec: every2, Sent: at(sent), Acked: at(sent + 0.1)} }
	for _, tc := range []struct {
		name string
		defs []*Def
		want int
	}{
		{"acknowledged alone", []*Def{acked(0)}, 5},
		{"4 s after an unacknowledged write", []*Def{unacked(-4), acked(0)}, 0},
		{"40 s after an unacknowledged write", []*Def{unacked(-40), acked(0)}, 5},
		{"after an invalid raw value not acknowledged", []*Def{{Raw: true, Invalid: true, Sent: at(-4), Err: errors.New("timeout")}, acked(0)}, 5},
	} {
		if got := len(requiredTicks(tc.defs, at(10.5))); got != tc.want {
			t.Errorf("%s: %d ticks required, want %d", tc.name, got, tc.want)
		}
	}
}
