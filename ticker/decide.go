package ticker

import (
	"fmt"
	"time"

	"github.com/jetcron/jetcron/placement"
)

// maxSkipRecords bounds how many ticks older than the catch-up window get a record
// each after a long outage; older ones are summed up in one event.
const maxSkipRecords = 1000

// version is one version of a job as the jobs bucket stored it.
type version struct {
	rev    uint64
	stored time.Time // the server's time of the bucket message
	plan   *jobPlan  // nil for a deletion or an invalid file
	// invalid marks an invalid file (its error is in the job's state).
	invalid bool
}

// deletion reports whether the version removed the job.
func (v *version) deletion() bool { return v.plan == nil && !v.invalid }

// recordState is how far the record of a tick has come.
type recordState uint8

const (
	// recordWriting: this ticker is writing the tick's record.
	recordWriting recordState = iota + 1
	// recordWritten: the record exists in the run records bucket.
	recordWritten
)

// activeRun is a run that counts for prohibit_overlap: queued, running, or lost and
// awaiting its reschedule.
type activeRun struct {
	id, key string
	// confirmed is when a read of its record from the bucket's leader began, which
	// found it still active; zero if it was only seen on a watch.
	confirmed time.Time
	// node is the node a sysbatch run is pinned to; empty for any other run.
	node string
}

// jobFacts is everything decide knows of one job.
type jobFacts struct {
	key string
	// versions are the job's versions in storage order: the one that owned the job's
	// ticks at settled (if any), and every one stored since.
	versions []version
	// settled is the job's settled mark: every tick up to it that a version owns has
	// a record (or was summed up in an event as too old for one).
	settled time.Time
	// records are the ticks after settled with a record or a write under way.
	records map[int64]recordState
}

// actionKind says what decide wants done with a tick.
type actionKind uint8

const (
	// actLaunch: make the tick's run, queued on node (or on none, waiting).
	actLaunch actionKind = iota + 1
	// actSkip: record the tick skipped with reason.
	actSkip
	// actConfirm: read the runs in confirm from the bucket's leader, then decide again;
	// the tick would be skipped for overlapping them.
	actConfirm
)

// action is what happens to one tick of a job.
type action struct {
	kind actionKind
	tick time.Time
	plan *jobPlan // of the version that owns the tick
	// reason is why a tick is skipped, or, for a launch with no node, why none fits.
	reason string
	// node is where a launch is placed; nil while no node is eligible, and for a
	// sysbatch launch, which goes to every node in nodes.
	node  *placement.Node
	nodes []*placement.Node
	// confirm are the keys of the runs to read again (actConfirm).
	confirm []string
}

// decision is what decide returns for one job.
type decision struct {
	actions []action
	// settled is the job's new settled mark.
	settled time.Time
	// summary counts the ticks older than the catch-up window that get no record of
	// their own (beyond maxSkipRecords), from summaryFrom to before summaryTo.
	summary                int
	summaryFrom, summaryTo time.Time
	// wake is when the job has a tick to decide next; zero if never.
	wake time.Time
}

// decide is the ticker's whole judgement of one job's ticks: given the facts (active
// are the job's runs that count for prohibit_overlap), what
// happens to each tick up to horizon, at now. It reads no clock and does no I/O.
// horizon is the time up to which the facts are complete (see the dispatcher's lag
// rule); ticks after it wait. The rules, each stated once:
//
//   - Ownership: a tick belongs to the newest version stored before it; an
//     invalid version is transparent (the valid one before it keeps its ticks), a
//     deletion owns no ticks (nor does an invalid version after it). A tick no version
//     owns is not a tick of the job and needs no record.
//   - Settled: the settled mark becomes the instant before the oldest owned tick
//     without a written record, or horizon if there is none.
//   - A tick with a record, or with a write under way, is left alone.
//   - Removed: when the job's newest version owns nothing (deleted, or made again
//     invalid after a deletion), its unrecorded ticks are skipped.
//   - Jitter: a tick is due at its tick plus its version's jitter offset for (job,
//     tick); until then it waits, as a tick after horizon does. Every rule below
//     counts from when a tick is due.
//   - Catch-up window: a tick due more than its version's catchup_window ago is
//     skipped; beyond maxSkipRecords such ticks, the oldest are only summed up.
//   - Paused: a tick of a paused version is skipped with its note; resuming (a
//     version stored without the pause) owns only the ticks after it.
//   - catchup: latest: a tick with a newer owned tick at or before horizon is skipped.
//   - prohibit_overlap: a tick of a version that prohibits overlap is skipped while
//     the job has an active run, one confirmed active by a read that began at or
//     after the tick was due; an active run not so confirmed is read again first
//     (actConfirm), and the job is decided again once it was.
//   - Placement: a launch goes to the eligible, ready, not draining node with the
//     fewest queued and running allocations; among equals, the one a hash of the job
//     and tick picks, so runs spread the same way on every ticker. With no such node
//     the run is queued with no node, saying why.
//   - Sysbatch: a tick of a sysbatch version launches on every eligible, ready, not
//     draining or stopping node of the view it is decided on, a run on each; a node
//     that joins later gets only later ticks. With no such node the tick is skipped,
//     saying why (it never waits for a node: a later node is not the tick's).
//     prohibit_overlap counts each node's run as an active run of the job, and the
//     reason names the node run that blocks.
func decide(f *jobFacts, active []activeRun, nodes []placement.Node, horizon, now time.Time) decision {
	spans, current := ownership(f.versions, f.settled, horizon)
	d := decision{settled: horizon}
	// settle keeps the settled mark below every owned tick without a written record.
	settle := func(t time.Time) {
		if f.records[t.Unix()] != recordWritten && !t.After(d.settled) {
			d.settled = t.Add(-time.Nanosecond)
		}
	}
	old := oldTicks{now: now}
	var due []tickOf
	for _, s := range spans {
		for t := s.plan.schedule.Next(s.after); !t.IsZero() && (s.until.IsZero() || !t.After(s.until)) && !t.After(horizon); t = s.plan.schedule.Next(t) {
			at := s.plan.dueAt(f.key, t)
			switch {
			case at.After(horizon):
				settle(t) // held back by its jitter
				d.wakeBy(at)
			case now.Sub(at) > s.plan.window && f.records[t.Unix()] == 0:
				t = old.add(t, s.plan)
			default:
				due = append(due, tickOf{t, s.plan})
			}
		}
	}
	for _, o := range old.kept {
		settle(o.tick)
		if current == nil {
			d.skip(o, "job removed before a ticker could launch this tick")
		} else {
			d.skip(o, fmt.Sprintf("outside the catch-up window of %s", o.plan.window))
		}
	}
	if old.summed > 0 {
		d.summary, d.summaryFrom, d.summaryTo = old.summed, old.first, old.kept[0].tick
	}
	running := len(active)
	load := map[string]int{}
	for i, t := range due {
		rec := f.records[t.tick.Unix()]
		settle(t.tick)
		if rec != 0 {
			continue
		}
		switch {
		case current == nil:
			d.skip(t, "job removed before a ticker could launch this tick")
		case t.plan.paused != "":
			d.skip(t, t.plan.paused)
		case t.plan.latest && i < len(due)-1:
			d.skip(t, "catchup: latest launches only the newest missed tick")
		case t.plan.overlap && running > 0:
			if stale := unconfirmed(active, t.plan.dueAt(f.key, t.tick)); len(stale) > 0 && running == len(active) {
				d.actions = append(d.actions, action{kind: actConfirm, tick: t.tick, plan: t.plan, confirm: stale})
				return d.withWake(spans, horizon, f.key)
			}
			d.skip(t, "prohibit_overlap: "+blocker(active, d.actions)+" is still running")
		case t.plan.sysbatch:
			if d.launchEverywhere(t, nodes) {
				running++
			}
		default:
			node, why := place(t.plan, nodes, load, f.key, t.tick)
			if node != nil {
				load[node.Name]++
			}
			d.actions = append(d.actions, action{kind: actLaunch, tick: t.tick, plan: t.plan, node: node, reason: why})
			running++
		}
	}
	return d.withWake(spans, horizon, f.key)
}

// tickOf is a tick and the plan of the version that owns it.
type tickOf struct {
	tick time.Time
	plan *jobPlan
}

func (d *decision) skip(t tickOf, reason string) {
	d.actions = append(d.actions, action{kind: actSkip, tick: t.tick, plan: t.plan, reason: reason})
}

// withWake sets the decision's wake: the soonest a tick after horizon of any version
// that may own ticks after it is due (its tick plus its jitter; a later tick may be
// due sooner than an earlier one whose jitter is longer).
func (d decision) withWake(spans []span, horizon time.Time, key string) decision {
	for _, s := range spans {
		if !s.until.IsZero() && !s.until.After(horizon) {
			continue
		}
		from := horizon
		if s.after.After(from) {
			from = s.after
		}
		for t := s.plan.schedule.Next(from); !t.IsZero() && (s.until.IsZero() || !t.After(s.until)) && (d.wake.IsZero() || t.Before(d.wake)); t = s.plan.schedule.Next(t) {
			d.wakeBy(s.plan.dueAt(key, t))
		}
	}
	return d
}

// wakeBy brings the decision's wake forward to at.
func (d *decision) wakeBy(at time.Time) {
	if d.wake.IsZero() || at.Before(d.wake) {
		d.wake = at
	}
}

// unconfirmed returns the keys of the active runs not confirmed at or after tick.
func unconfirmed(active []activeRun, tick time.Time) []string {
	var keys []string
	for _, r := range active {
		if r.confirmed.Before(tick) {
			keys = append(keys, r.key)
		}
	}
	return keys
}

// launchEverywhere launches a sysbatch tick on every eligible node, or skips it when
// there is none. It reports whether it launched.
func (d *decision) launchEverywhere(t tickOf, nodes []placement.Node) bool {
	eligible, why := placement.Eligible(t.plan.placement, nodes)
	if len(eligible) == 0 {
		d.skip(t, "no eligible node: "+why)
		return false
	}
	d.actions = append(d.actions, action{kind: actLaunch, tick: t.tick, plan: t.plan, nodes: eligible})
	return true
}

// blocker names the run a tick overlaps: an active run of the job (a node's run of a
// sysbatch tick before the tick's own record, which names no node), else the newest
// launch of this decision.
func blocker(active []activeRun, actions []action) string {
	for _, r := range active {
		if r.node != "" {
			return r.id + " (on node " + r.node + ")"
		}
	}
	if len(active) > 0 {
		return active[0].id
	}
	for i := len(actions) - 1; i >= 0; i-- {
		if actions[i].kind == actLaunch {
			return "the run of " + actions[i].tick.UTC().Format(time.RFC3339)
		}
	}
	return "a run"
}

// span is a run of ticks one version owns: those after after, up to until (zero:
// no end).
type span struct {
	plan         *jobPlan
	after, until time.Time
}

// ownership splits the time after settled into the spans the job's versions own, and
// returns the plan of the version that owns the job's ticks from now on (nil if none).
func ownership(versions []version, settled, horizon time.Time) ([]span, *jobPlan) {
	var spans []span
	var owner *jobPlan
	var since time.Time
	end := func(at time.Time) {
		if owner != nil && at.After(settled) {
			spans = append(spans, span{plan: owner, after: laterOf(since, settled), until: at})
		}
	}
	for i := range versions {
		v := &versions[i]
		switch {
		case v.plan != nil:
			end(v.stored)
			owner, since = v.plan, v.stored
		case v.deletion():
			end(v.stored)
			owner = nil
		}
	}
	if owner != nil {
		spans = append(spans, span{plan: owner, after: laterOf(since, settled)})
	}
	return spans, owner
}

// oldTicks collects the ticks older than their catch-up window, keeping the newest
// maxSkipRecords and counting the rest.
type oldTicks struct {
	now    time.Time
	kept   []tickOf
	summed int
	first  time.Time // the oldest summed up
	walked int
}

// add takes an old tick and returns the tick to walk on from: a very long outage
// jumps to the start of the window instead of walking all of it.
func (o *oldTicks) add(t time.Time, plan *jobPlan) time.Time {
	o.kept = append(o.kept, tickOf{t, plan})
	if len(o.kept) > maxSkipRecords {
		if o.summed == 0 {
			o.first = o.kept[0].tick
		}
		o.summed++
		o.kept = o.kept[1:]
	}
	if o.walked++; o.walked >= 100*maxSkipRecords {
		return o.now.Add(-plan.window)
	}
	return t
}

// place picks the node for a launch of the plan's job at tick by package placement's
// rule (load adds this decision's own launches). It returns nil and why when none
// fits.
func place(plan *jobPlan, nodes []placement.Node, load map[string]int, job string, tick time.Time) (*placement.Node, string) {
	eligible, why := placement.Eligible(plan.placement, nodes)
	if len(eligible) == 0 {
		return nil, "no eligible node: " + why
	}
	return placement.Pick(eligible, load, job, tick), ""
}
