package harness

import (
	"sort"
	"strings"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// The checker's judgement of records on their own (how each moved) and of the
// definitions (which ticks must have a record), with the helpers they share.

// checkForward reports a run record that moved backwards between two observed
// revisions: allocations are only appended, each allocation's state only moves
// queued → running → complete | failed | lost, a run that ended stays ended.
func checkForward(res *Result, key string, hist []Observed, final Observed) {
	seq := append([]Observed(nil), hist...)
	if final.Rev > 0 {
		seq = append(seq, final)
	}
	sort.SliceStable(seq, func(i, j int) bool { return seq[i].Rev < seq[j].Rev })
	for i := 1; i < len(seq); i++ {
		prev, next := seq[i-1].Run, seq[i].Run
		if seq[i].Rev == seq[i-1].Rev {
			continue
		}
		if len(next.Allocations) < len(prev.Allocations) {
			res.violate("%s: allocations went from %d to %d (revision %d → %d)", prev.ID, len(prev.Allocations), len(next.Allocations), seq[i-1].Rev, seq[i].Rev)
			continue
		}
		for j, pa := range prev.Allocations {
			na := next.Allocations[j]
			switch {
			case na.ID != pa.ID:
				res.violate("%s: allocation %d changed ID %s → %s", prev.ID, j, pa.ID, na.ID)
			case rank(na.State) < rank(pa.State), pa.State.Terminal() && na.State != pa.State:
				res.violate("%s: allocation %s moved backwards: %s → %s (revision %d → %d)", prev.ID, pa.ID, pa.State, na.State, seq[i-1].Rev, seq[i].Rev)
			}
		}
		switch prev.State {
		case subjects.StateComplete, subjects.StateFailed, subjects.StateSkipped, subjects.StateLaunched:
			if next.State != prev.State {
				res.violate("%s: run moved from %s to %s (revision %d → %d)", prev.ID, prev.State, next.State, seq[i-1].Rev, seq[i].Rev)
			}
		case subjects.StateRunning:
			if next.State == subjects.StateQueued && len(next.Allocations) == len(prev.Allocations) {
				res.violate("%s: run moved from running back to queued (revision %d → %d)", prev.ID, seq[i-1].Rev, seq[i].Rev)
			}
		}
	}
}

func rank(s subjects.RunState) int {
	switch s {
	case subjects.StateQueued:
		return 0
	case subjects.StateRunning:
		return 1
	default:
		return 2
	}
}

// requiredTicks are the ticks that must have a record: those of each acknowledged
// definition after its acknowledgement, until a second before the next write that
// may replace it (or until end). An invalid value does not replace the valid one.
// A definition written less than lateLanding after an unacknowledged write requires
// nothing: that write may be stored after it, and replace it at a time unknown.
func requiredTicks(defs []*Def, end time.Time) []int64 {
	var out []int64
	for i, d := range defs {
		if !d.OK() || d.Raw || d.Deleted || d.Spec == nil || mayLandAfter(defs[:i], d) {
			continue
		}
		to := end
		for _, n := range defs[i+1:] {
			if n.Raw && n.Invalid && n.OK() {
				continue
			}
			to = minTime(to, n.Sent.Add(-time.Second))
			break
		}
		out = append(out, d.Spec.Ticks(d.Acked, to)...)
	}
	return out
}

// lateLanding bounds how long after it was sent an unacknowledged write may still be
// stored. A soak saw one sent into a partition stored about 5 s later, after the next
// write, which was acknowledged (most likely held in a route's buffer until the
// partition healed; NATS closes a route that cannot write for its write deadline,
// 10 s by default, and what it held is lost).
const lateLanding = 30 * time.Second

// mayLandAfter reports whether a write among earlier, unacknowledged, may have been
// stored after d.
func mayLandAfter(earlier []*Def, d *Def) bool {
	for _, e := range earlier {
		if !e.OK() && !(e.Raw && e.Invalid) && d.Sent.Sub(e.Sent) < lateLanding {
			return true
		}
	}
	return false
}

// allowedTick reports whether some written definition (acknowledged or not)
// schedules tick while it may have been the job's.
func allowedTick(defs []*Def, tick int64) bool {
	return mayOwn(defs, tick, func(d *Def) bool { return !d.Deleted && d.Spec.OnSchedule(tick) })
}

// mayOwn reports whether a written definition for which is holds may own tick: from a
// second before it was sent, until a second after the next write was acknowledged
// (open while that write's fate is unknown, or there is none). Raw writes and
// definitions without a spec own nothing.
func mayOwn(defs []*Def, tick int64, is func(*Def) bool) bool {
	t := time.Unix(tick, 0)
	for i, d := range defs {
		if d.Raw || d.Spec == nil || !is(d) || !t.After(d.Sent.Add(-time.Second)) {
			continue
		}
		until := time.Time{} // open
		for _, n := range defs[i+1:] {
			if n.Raw && n.Invalid {
				continue
			}
			if n.OK() {
				until = n.Acked.Add(time.Second)
			}
			break
		}
		if until.IsZero() || !t.After(until) {
			return true
		}
	}
	return false
}

func allRaw(defs []*Def) bool {
	for _, d := range defs {
		if !d.Raw && !d.Deleted {
			return false
		}
	}
	return true
}

func allOverlap(defs []*Def) bool {
	n := 0
	for _, d := range defs {
		if d.Spec != nil && !d.Raw {
			if !d.Spec.Overlap {
				return false
			}
			n++
		}
	}
	return n > 0
}

func lastSpec(defs []*Def) *JobSpec {
	var s *JobSpec
	for _, d := range defs {
		if d.Spec != nil && !d.Raw {
			s = d.Spec
		}
	}
	return s
}

// reasonClass shortens a skip reason to its kind, for the table.
func reasonClass(r string) string {
	switch {
	case strings.HasPrefix(r, "prohibit_overlap"):
		return "overlap"
	case strings.Contains(r, "catchup: latest"):
		return "catchup-latest"
	case strings.Contains(r, "no eligible node"):
		return "no-node"
	case strings.Contains(r, "catch-up window"):
		return "outside-window"
	case strings.Contains(r, "removed"):
		return "job-removed"
	case r == "paused" || strings.HasPrefix(r, "paused: "):
		return "paused"
	}
	if len(r) > 30 {
		r = r[:30]
	}
	return r
}

func clock(tick int64) string { return time.Unix(tick, 0).Format("15:04:05") }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedTicks(m map[int64]subjects.Run) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
