package harness

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// lateThreshold is how late a launch must be to count as late in the table.
const lateThreshold = time.Second

// CheckInput is everything the checker judges: the definitions written, the run
// records (final and as they moved), and the ledger.
type CheckInput struct {
	Book    *Book
	Final   map[string]Observed   // every run record after settling, by key
	History map[string][]Observed // what the watcher saw, by key
	Execs   []*Exec
	Start   time.Time // when the scenario's first job could have been written
	End     time.Time // ticks after End-Grace are not required
	Grace   time.Duration
	Settled time.Time // when Final was read
}

// JobRow is one line of a scenario's table.
type JobRow struct {
	Job                 string
	Every               time.Duration
	Overlap             bool
	Expected, Launched  int
	Late, Skipped       int
	Duplicates, Lost    int
	Relaunched, Missing int
	// Restarted counts the restarts (allocations a runner made after a failed
	// execution) that executed.
	Restarted           int
	MaxLate, LongestGap time.Duration
	// MaxDelay is the longest time from a tick to its first execution's start, as
	// the ledger saw it.
	MaxDelay             time.Duration
	SkipReasons          map[string]int
	Executions, Orphaned int
}

// Result is the checker's verdict.
type Result struct {
	Rows       []JobRow
	Violations []string
}

func (r *Result) violate(format string, args ...any) {
	r.Violations = append(r.Violations, fmt.Sprintf(format, args...))
}

// Check judges the invariants of DESIGN.md's guarantees on in:
//   - at most one execution of a tick at a time; a second only after the first was
//     declared lost (1, 4), or, for a restart, after the first failed and ended;
//   - every tick of an acknowledged definition has a record: launched, or skipped
//     with a reason (2); no run for a tick that no definition schedules;
//   - no two executions of a prohibit_overlap job at once, but for lost ones (3);
//   - run records only move forward, and what they say matches the ledger;
//   - every run recorded complete ran to its end in the ledger; a paused span's
//     ticks are skipped for the pause, none executes (checkPause).
func Check(in CheckInput) *Result {
	res := &Result{}
	ix := indexOf(in)
	for _, e := range in.Execs {
		// An execution that began as Final was read (the ledger is read after it) may
		// have a record Final could not show yet.
		if ix.allocs[e.Alloc] == nil && e.Start.Before(in.Settled.Add(-time.Second)) {
			res.violate("%s: executed (ledger: %s), but no run record has allocation %s", e.Run, e, e.Alloc)
		}
	}

	// States only move forward.
	for _, key := range sortedKeys(in.History) {
		checkForward(res, key, in.History[key], in.Final[key])
	}
	for _, job := range in.Book.Keys() {
		if !allRaw(in.Book.Defs(job)) {
			res.Rows = append(res.Rows, checkJob(res, in, ix, job))
			checkPause(res, in, ix, job)
		}
	}
	return res
}

// index is what Check looks runs and executions up by, built once.
type index struct {
	runsByJob                            map[string][]subjects.Run
	allocs                               map[string]*subjects.Allocation
	execsByAlloc, execsByRun, execsByJob map[string][]*Exec
}

func indexOf(in CheckInput) *index {
	ix := &index{
		runsByJob: map[string][]subjects.Run{}, allocs: map[string]*subjects.Allocation{},
		execsByAlloc: map[string][]*Exec{}, execsByRun: map[string][]*Exec{}, execsByJob: map[string][]*Exec{},
	}
	for _, key := range sortedKeys(in.Final) {
		r := in.Final[key].Run
		ix.runsByJob[r.Job] = append(ix.runsByJob[r.Job], r)
	}
	for _, rs := range ix.runsByJob {
		for i := range rs {
			for j := range rs[i].Allocations {
				a := &rs[i].Allocations[j]
				ix.allocs[a.ID] = a
			}
		}
	}
	for _, e := range in.Execs {
		ix.execsByAlloc[e.Alloc] = append(ix.execsByAlloc[e.Alloc], e)
		ix.execsByRun[e.Run] = append(ix.execsByRun[e.Run], e)
		ix.execsByJob[e.Job] = append(ix.execsByJob[e.Job], e)
	}
	return ix
}

// checkJob judges one job's runs against its definitions and returns its row.
func checkJob(res *Result, in CheckInput, ix *index, job string) JobRow {
	defs := in.Book.Defs(job)
	row := JobRow{Job: job, SkipReasons: map[string]int{}}
	last := lastSpec(defs)
	if last != nil {
		row.Every, row.Overlap = last.Every, last.Overlap
	}
	required := requiredTicks(defs, in.End.Add(-in.Grace))
	row.Expected = len(required)
	byTick := map[int64]subjects.Run{} // the ticks' own records (a sysbatch job's node runs apart)
	for _, r := range ix.runsByJob[job] {
		if !r.Forced && r.Node == "" {
			byTick[r.Scheduled] = r
		}
	}
	for _, t := range required {
		if _, ok := byTick[t]; !ok {
			row.Missing++
			res.violate("%s/periodic-%d (%s): tick of an acknowledged definition has no record: a silent miss", job, t, clock(t))
		}
	}
	for _, t := range sortedTicks(byTick) {
		r := byTick[t]
		if !allowedTick(defs, t) {
			res.violate("%s: a run for tick %d (%s) that no written definition schedules", r.ID, t, clock(t))
		}
		if time.Unix(t, 0).After(in.End) {
			// The jobs keep running while the cluster settles: later ticks are
			// judged only for duplicates.
			checkRunExecs(res, &r, ix.execsByRun[r.ID], ix.execsByAlloc)
			continue
		}
		switch {
		case r.State == subjects.StateSkipped:
			row.Skipped++
			if strings.TrimSpace(r.Reason) == "" {
				res.violate("%s: skipped without a reason", r.ID)
			}
			row.SkipReasons[reasonClass(r.Reason)]++
		default:
			row.Launched++
			if r.Late.Duration() > lateThreshold {
				row.Late++
			}
			row.MaxLate = max(row.MaxLate, r.Late.Duration())
			if !r.State.Terminal() {
				res.violate("%s: still %s %s after its tick, when the scenario settled (reason %q)", r.ID, r.State, in.Settled.Sub(time.Unix(t, 0)).Round(time.Second), r.Reason)
			}
		}
		ran := false
		for i, a := range r.Allocations {
			if a.State == subjects.StateLost {
				row.Lost++
			}
			executed := len(ix.execsByAlloc[a.ID]) > 0
			switch {
			case a.Restart > 0 && executed:
				row.Restarted++
			case i > 0 && executed:
				ran = true
			}
		}
		if ran {
			row.Relaunched++
		}
		row.Duplicates += checkRunExecs(res, &r, ix.execsByRun[r.ID], ix.execsByAlloc)
		if es := ix.execsByRun[r.ID]; len(es) > 0 && !r.Forced {
			first := es[0].Start
			for _, x := range es {
				if x.Start.Before(first) {
					first = x.Start
				}
			}
			row.MaxDelay = max(row.MaxDelay, first.Sub(time.Unix(t, 0)))
		}
	}
	// Longest gap between two executions starting.
	es := ix.execsByJob[job]
	row.Executions = len(es)
	for i := 1; i < len(es); i++ {
		row.LongestGap = max(row.LongestGap, es[i].Start.Sub(es[i-1].Start))
	}
	for _, e := range es {
		if a := ix.allocs[e.Alloc]; a != nil && a.State == subjects.StateLost && e.Ended() && !e.Term {
			row.Orphaned++
		}
	}
	if anySysbatch(defs) {
		checkSysbatch(res, in, ix, job, byTick, &row)
	}
	if allOverlap(defs) {
		checkOverlap(res, job, es, ix.allocs, in.Settled, anySysbatch(defs))
	}
	return row
}

// checkRunExecs judges the executions of one run against its record, and returns how
// many executions were duplicates.
func checkRunExecs(res *Result, r *subjects.Run, es []*Exec, byAlloc map[string][]*Exec) int {
	dups := 0
	for _, a := range r.Allocations {
		n := len(byAlloc[a.ID])
		if n > 1 {
			dups += n - 1
			res.violate("%s: allocation %s executed %d times: %v", r.ID, a.ID, n, byAlloc[a.ID])
		}
		switch a.State {
		case subjects.StateComplete:
			if n == 0 {
				res.violate("%s: allocation %s on %s recorded complete, but the ledger has no execution of it", r.ID, a.ID, a.Node)
			} else if e := byAlloc[a.ID][0]; !e.Ended() || e.Term {
				res.violate("%s: allocation %s recorded complete, but its execution did not finish: %s", r.ID, a.ID, e)
			}
		case subjects.StateFailed:
			// The ledger script exits 0 unless killed or told to fail (FAIL_FIRST, when
			// it writes a fail record): any other failed allocation means jetcron could
			// not run it, or killed it.
			if n == 0 || !byAlloc[a.ID][0].Fail {
				res.violate("%s: allocation %s on %s failed: %s", r.ID, a.ID, a.Node, a.Error)
			}
		case subjects.StateQueued, subjects.StateSkipped:
			if n > 0 && r.State.Terminal() {
				res.violate("%s: allocation %s is %s (never claimed), but it executed: %s", r.ID, a.ID, a.State, byAlloc[a.ID][0])
			}
		}
	}
	// A second execution of the tick only after the first was declared lost, or after
	// the first failed and ended (a restart). First and second are the allocations'
	// order in the record, the order they were made in: a process frozen with its host
	// right after it was forked writes its ledger start only when the host wakes, after
	// the relaunch it was lost to. Executions of allocations the record does not have
	// come last, by start.
	sorted := append([]*Exec(nil), es...)
	place := func(x *Exec) int {
		if i := slices.IndexFunc(r.Allocations, func(a subjects.Allocation) bool { return a.ID == x.Alloc }); i >= 0 {
			return i
		}
		return len(r.Allocations)
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		if pi, pj := place(sorted[i]), place(sorted[j]); pi != pj {
			return pi < pj
		}
		return sorted[i].Start.Before(sorted[j].Start)
	})
	for j := 1; j < len(sorted); j++ {
		later := sorted[j]
		for _, earlier := range sorted[:j] {
			if earlier.Alloc == later.Alloc {
				continue // counted above
			}
			a := allocOf(r, earlier.Alloc)
			if endedBefore(a, earlier, later.Start) {
				continue
			}
			dups++
			why := "its allocation was never declared lost"
			switch {
			case a != nil && a.State == subjects.StateLost && a.Finished != nil:
				why = fmt.Sprintf("its allocation was declared lost only at %s", a.Finished.Local().Format("15:04:05.000"))
			case a != nil && a.State == subjects.StateFailed:
				why = "its allocation failed, but its execution had not ended"
			}
			res.violate("%s: executed twice: %s, then %s; %s", r.ID, earlier, later, why)
		}
	}
	return dups
}

// endedBefore reports whether the execution x of allocation a was over at t: its
// allocation was declared lost by then (whatever the stale process still did is the
// fence's to kill), or it failed and its execution ended (the ledger's fail record)
// and was recorded ended by then. Either lets another execution of the tick start.
func endedBefore(a *subjects.Allocation, x *Exec, t time.Time) bool {
	switch {
	case a == nil || a.Finished == nil || a.Finished.After(t):
		return false
	case a.State == subjects.StateLost:
		return true
	case a.State == subjects.StateFailed:
		return x.Ended() && !x.End.After(t)
	}
	return false
}

func allocOf(r *subjects.Run, id string) *subjects.Allocation {
	for i := range r.Allocations {
		if r.Allocations[i].ID == id {
			return &r.Allocations[i]
		}
	}
	return nil
}

// checkOverlap reports two executions of a prohibit_overlap job that ran at once,
// unless one of them was declared lost. A sysbatch job's executions of one tick, one
// on each node, run at once by design: only those of different ticks count.
func checkOverlap(res *Result, job string, es []*Exec, allocs map[string]*subjects.Allocation, now time.Time, sysbatch bool) {
	end := func(e *Exec) (time.Time, bool) {
		a := allocs[e.Alloc]
		switch {
		case a != nil && a.State == subjects.StateLost && a.Finished != nil:
			// Declared lost (guarantee 4): another execution may start from then on;
			// what a paused host runs on when it wakes is the fence's to kill.
			if e.Ended() && e.End.Before(*a.Finished) {
				return e.End, true
			}
			return *a.Finished, true
		case a != nil && a.State == subjects.StateLost:
			return time.Time{}, false
		case e.Ended():
			return e.End, true
		case a != nil && a.Finished != nil:
			return *a.Finished, true
		default:
			return now, true
		}
	}
	for i, x := range es {
		xe, ok := end(x)
		if !ok {
			continue
		}
		for _, y := range es[i+1:] {
			ye, ok := end(y)
			if !ok || !y.Start.Before(xe) || !x.Start.Before(ye) || sysbatch && x.Sched == y.Sched {
				continue
			}
			res.violate("%s: prohibit_overlap, but two executions ran at once: %s, and %s", job, x, y)
		}
	}
}
