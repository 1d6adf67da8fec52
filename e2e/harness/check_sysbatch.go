package harness

import (
	"slices"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// anySysbatch reports whether any definition written of a job is of type sysbatch.
func anySysbatch(defs []*Def) bool {
	for _, d := range defs {
		if d.Spec != nil && !d.Raw && d.Spec.Sysbatch {
			return true
		}
	}
	return false
}

// checkSysbatch judges a sysbatch job per (tick, node), beside what checkJob judges
// of its ticks' own records (every tick recorded: launched or skipped with a reason):
//   - no silent miss on a node: a launched tick lists the nodes it was placed on, and
//     each has a run of its own (ID <job>/periodic-<unix>/<node>) that ended by the
//     time the scenario settled;
//   - no run on a node the tick was not placed on, and none of a skipped tick;
//   - a node's run is that node's: every allocation on that node (a restart after a
//     failure adds one there), none after a lost one; a lost run is never moved;
//   - at most one execution per (tick, node), on that node (checkRunExecs).
func checkSysbatch(res *Result, in CheckInput, ix *index, job string, ticks map[int64]subjects.Run, row *JobRow) {
	nodeRuns := map[int64]map[string]subjects.Run{}
	for _, r := range ix.runsByJob[job] {
		if r.Node == "" {
			continue
		}
		if nodeRuns[r.Scheduled] == nil {
			nodeRuns[r.Scheduled] = map[string]subjects.Run{}
		}
		nodeRuns[r.Scheduled][r.Node] = r
	}
	for _, t := range sortedTicks(ticks) {
		tr := ticks[t]
		switch {
		case tr.State == subjects.StateSkipped:
			for n := range nodeRuns[t] {
				res.violate("%s: skipped (%s), yet it has a run on %s", tr.ID, tr.Reason, n)
			}
		case len(tr.Nodes) == 0 && !tr.Forced:
			res.violate("%s: %s without the nodes it was placed on", tr.ID, tr.State)
		}
		for _, n := range tr.Nodes {
			nr, ok := nodeRuns[t][n]
			switch {
			case !ok:
				res.violate("%s: placed on %s, which has no run of it: a silent miss on that node", tr.ID, n)
			case !nr.State.Terminal() && !time.Unix(t, 0).After(in.End):
				res.violate("%s: still %s when the scenario settled", nr.ID, nr.State)
			}
		}
	}
	for _, t := range sortedTicks(runsOfTicks(nodeRuns)) {
		tr, recorded := ticks[t]
		var first time.Time // the tick's first execution on any node
		for _, n := range sortedKeys(nodeRuns[t]) {
			nr := nodeRuns[t][n]
			if want := subjects.NodeRunID(job, time.Unix(t, 0), n); nr.ID != want {
				res.violate("%s: a run on %s whose ID is not %s", nr.ID, n, want)
			}
			if !recorded || !slices.Contains(tr.Nodes, n) {
				res.violate("%s: a run on %s, but the tick's record (found %v) was not placed there: %v", nr.ID, n, recorded, tr.Nodes)
			}
			for i, a := range nr.Allocations {
				switch {
				case a.Node != n:
					res.violate("%s: moved off its node %s: allocations %v", nr.ID, n, allocNodes(nr.Allocations))
				case i > 0 && nr.Allocations[i-1].State == subjects.StateLost:
					res.violate("%s: run again after it was lost on %s: allocations %v", nr.ID, n, allocNodes(nr.Allocations))
				}
				if a.State == subjects.StateLost {
					row.Lost++
				}
			}
			es := ix.execsByRun[nr.ID]
			for _, x := range es {
				if x.Node != n {
					res.violate("%s: executed on %s, not on its node %s: %s", nr.ID, x.Node, n, x)
				}
				if first.IsZero() || x.Start.Before(first) {
					first = x.Start
				}
			}
			row.Duplicates += checkRunExecs(res, &nr, es, ix.execsByAlloc)
		}
		if !first.IsZero() && !tr.Forced {
			row.MaxDelay = max(row.MaxDelay, first.Sub(time.Unix(t, 0)))
		}
	}
	for _, x := range ix.execsByJob[job] {
		if _, _, node, err := subjects.SplitRunID(x.Run); err != nil || node == "" {
			res.violate("%s: a sysbatch job executed under a run ID that names no node: %s", x.Run, x)
		}
	}
}

// runsOfTicks is the ticks of nodeRuns, for sortedTicks.
func runsOfTicks(nodeRuns map[int64]map[string]subjects.Run) map[int64]subjects.Run {
	out := make(map[int64]subjects.Run, len(nodeRuns))
	for t := range nodeRuns {
		out[t] = subjects.Run{}
	}
	return out
}

// allocNodes lists where each allocation went, for a violation's message.
func allocNodes(as []subjects.Allocation) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.ID + "@" + a.Node + ":" + string(a.State)
	}
	return out
}
