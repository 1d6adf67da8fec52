package ticker

import (
	"context"
	"slices"
	"time"

	"github.com/jetcron/jetcron/placement"
	"github.com/jetcron/jetcron/subjects"
)

// This file is the sweep: what happens to runs after their launch (lost runs,
// re-placement, reschedules, launches published again), and the job states stored.

// sweep finds runs that need the ticker: lost allocations, launches to re-place or to
// publish again, reschedules due, and queued runs that waited too long; and persists
// job states that changed, with a runs checkpoint.
func (d *dispatcher) sweep() {
	now := d.clock.Now()
	for key, rev := range d.ahead {
		if rev <= d.runsRev {
			delete(d.ahead, key) // the watch is past it, whatever it sent
		}
	}
	if !d.ready || !d.leading {
		return
	}
	d.pollStaleNodes(now)
	for _, e := range d.runs {
		if e.busy || e.rev == 0 {
			continue
		}
		d.sweepRun(e, now)
	}
	d.flushStates()
	d.trimRuns()
}

func (d *dispatcher) sweepRun(e *runEntry, now time.Time) {
	run := e.run
	a := run.Current()
	je := d.jobs[run.Job]
	window := defaultCatchupWindow
	if je != nil && je.plan != nil {
		window = je.plan.window
	}
	switch {
	case run.State == subjects.StateRunning && a != nil && (d.nodeDown(a.Node, now) || d.restarted(a)):
		next := cloneRun(run)
		cur := next.Current()
		why := "node " + a.Node + " stopped heartbeating"
		if d.restarted(a) {
			why = "the runner on node " + a.Node + " restarted"
		}
		cur.State, cur.Error, cur.Finished = subjects.StateLost, why, ptr(now.UTC())
		next.State = subjects.StateLost
		d.update(e, next, nil)
	case run.State == subjects.StateLost || run.State == subjects.StateFailed:
		at, ended := time.Time{}, false
		if d.willReschedule(&run) {
			at, ended = rescheduleAt(&run, je.plan.policy)
		}
		if !ended {
			if je != nil && !je.owns(&run) {
				d.log.Info().Str("job", run.Job).Str("run_id", run.ID).Time("deleted", je.state.Deleted).
					Msg("run not relaunched: its tick is from before the job was deleted and made again")
			}
			d.untrack(e.key)
			return
		}
		if now.Before(at) {
			return
		}
		if je.plan.overlap && len(d.active[je.facts.key]) > 1 && d.firstActive(je.facts.key) != e {
			return // another run of the job goes first (one launched by a term that missed this one)
		}
		next := cloneRun(run)
		next.Attempts++
		next.State, next.Reason = subjects.StateQueued, ""
		next.Allocations = append(next.Allocations, d.allocateAvoiding(je, now, &next, a.Node))
		d.update(e, next, je.plan)
	case run.State == subjects.StateQueued && a != nil:
		d.sweepQueued(e, je, a, window, now)
	case isTick(&run):
		d.placeTick(e.key) // a sysbatch tick whose node runs are not all made
	}
}

// sweepQueued re-places a queued launch whose node died before claiming it, places one
// that waited for an eligible node, gives up on it after the catch-up window, and
// publishes again a launch left unclaimed on a ready node.
func (d *dispatcher) sweepQueued(e *runEntry, je *jobEntry, a *subjects.Allocation, window time.Duration, now time.Time) {
	run := e.run
	tick := time.Unix(run.Scheduled, 0)
	if je == nil || je.plan == nil {
		// Its job is gone: no one publishes its launch again, so once it was left
		// unclaimed as long as a launch may be, it ends skipped (a claim still under
		// way is fenced by the record's revision).
		if now.Sub(tick) > window || now.Sub(e.published) > republishAfter {
			next := cloneRun(run)
			next.State, next.Reason = subjects.StateSkipped, "job removed before the run could be placed"
			next.Current().State = subjects.StateSkipped
			d.update(e, next, nil)
		}
		return
	}
	switch {
	case a.Node == "" && je.plan.overlap && len(d.active[je.facts.key]) > 1 && d.firstActive(je.facts.key) != e:
		if run.Backfill {
			return // a backfilled run waits for its turn, oldest first
		}
		// Runs of one prohibit_overlap job waited for a node together (made by terms
		// that could not see each other's): only the first may run.
		next := cloneRun(run)
		next.State, next.Reason = subjects.StateSkipped, "prohibit_overlap: "+d.firstActive(je.facts.key).run.ID+" is still queued or running"
		next.Current().State = subjects.StateSkipped
		d.update(e, next, nil)
	case a.Node == "":
		next := cloneRun(run)
		placed := d.allocate(je, now, &next)
		if placed.Node != "" {
			cur := next.Current()
			cur.Node, cur.NodeID, cur.Created = placed.Node, placed.NodeID, placed.Created
			d.update(e, next, je.plan)
			return
		}
		waited := now.Sub(tick) - run.Jitter.Duration() // since it was due
		if run.Backfill {
			waited = now.Sub(a.Created) // a backfilled tick is old by design
		}
		if waited > window {
			next.State = subjects.StateSkipped
			next.Reason = "skipped: " + next.Reason + " within the catch-up window"
			next.Current().State = subjects.StateSkipped
			d.update(e, next, nil)
		}
	case pinned(&run) && d.nodeDown(a.Node, now):
		d.loseUnclaimed(e, now) // a sysbatch run is its node's: never placed elsewhere
	case d.nodeDown(a.Node, now):
		next := cloneRun(run)
		cur := next.Current()
		cur.State, cur.Error, cur.Finished = subjects.StateLost, "node "+a.Node+" went down before claiming the launch", ptr(now.UTC())
		next.Allocations = append(next.Allocations, d.allocate(je, now, &next))
		d.update(e, next, je.plan)
	case now.Sub(e.published) > republishAfter:
		e.republished++
		d.publishAgain(e, e.republished)
	}
}

// nodeDown reports whether the named node is down: it left, is unknown, or its
// heartbeat lapsed, as a read of its record from the nodes stream's leader that
// began after its deadline found (the lag rule), while other heartbeats kept
// landing. After a pause of every heartbeat (the nodes stream electing a leader), a
// node is judged only once heartbeats have landed again for half a TTL, longer than
// its heartbeat interval: declaring runs lost without evidence would launch them
// twice.
func (d *dispatcher) nodeDown(name string, now time.Time) bool {
	n := d.nodes[name]
	if n == nil || n.member.Left {
		return true
	}
	ttl := n.member.TTL.Duration()
	deadline := n.written.Add(ttl)
	return now.After(deadline) && n.checked.After(deadline) && d.newestBeat.After(deadline) && now.Sub(d.flowSince) > ttl/2
}

// firstActive is the run of the job that prohibit_overlap lets go on: one placed or
// running, else the oldest tick still waiting, for a node or (lost) for its
// reschedule.
func (d *dispatcher) firstActive(jobKey string) *runEntry {
	var first *runEntry
	for _, e := range d.active[jobKey] {
		if a := e.run.Current(); e.run.State == subjects.StateRunning || e.run.State == subjects.StateQueued && a != nil && a.Node != "" {
			return e
		}
		if first == nil || e.run.Scheduled < first.run.Scheduled {
			first = e
		}
	}
	return first
}

// pollStaleNodes reads the record of each node whose heartbeat is overdue from the
// nodes stream's leader, at most once a second each: a watch can lag for seconds
// after its stream changed leader, and a node is judged down only on such a read.
func (d *dispatcher) pollStaleNodes(now time.Time) {
	for name, n := range d.nodes {
		if now.Sub(n.written) <= n.member.TTL.Duration()/2 || now.Sub(n.polled) < time.Second {
			continue
		}
		n.polled = now
		d.offLoop(func(ctx context.Context) func() {
			began := d.clock.Now()
			c, err := d.store.GetNode(ctx, name)
			if err != nil {
				return func() {} // the next sweep tries again
			}
			return func() {
				d.applyNode(c)
				if n := d.nodes[name]; n != nil {
					n.checked = laterOf(n.checked, began)
				}
			}
		})
	}
}

// restarted reports whether the runner process that claimed the allocation is gone:
// its node heartbeats from another session.
func (d *dispatcher) restarted(a *subjects.Allocation) bool {
	n := d.nodes[a.Node]
	return n != nil && a.Session != "" && n.member.Session != "" && n.member.Session != a.Session
}

func cloneRun(r subjects.Run) subjects.Run {
	r.Allocations = append([]subjects.Allocation(nil), r.Allocations...)
	return r
}

func ptr[T any](v T) *T { return &v }

// allocate makes a queued allocation for a run of je on the node placement picks now.
func (d *dispatcher) allocate(je *jobEntry, now time.Time, run *subjects.Run) subjects.Allocation {
	return d.allocateAvoiding(je, now, run, "")
}

// allocateAvoiding is allocate for a run that lost or failed on node avoid: it goes
// to another eligible node when there is one, else back to avoid.
func (d *dispatcher) allocateAvoiding(je *jobEntry, now time.Time, run *subjects.Run, avoid string) subjects.Allocation {
	view, tick := d.nodeView(now), time.Unix(run.Scheduled, 0)
	if avoid != "" {
		others := slices.DeleteFunc(slices.Clone(view), func(n placement.Node) bool { return n.Name == avoid })
		if node, _ := place(je.plan, others, nil, je.facts.key, tick); node != nil {
			return allocation(node, "", now, run)
		}
	}
	node, why := place(je.plan, view, nil, je.facts.key, tick)
	return allocation(node, why, now, run)
}
