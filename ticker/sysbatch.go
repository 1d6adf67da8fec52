package ticker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetcron/jetcron/placement"
	"github.com/jetcron/jetcron/subjects"
)

// This file is the shell of sysbatch jobs: a tick that decide launched on every
// eligible node gets one record at RunKey, made create-if-absent as any tick's (so
// two tickers cannot both decide it), that lists the nodes; then a run per node at
// NodeRunKey, each made create-if-absent and launched to its node as a batch job's
// run is. The tick's record stays queued until every node's run exists, and ends
// launched (create makes the record, placeTick the rest). A leader that finds a
// tick record still queued (its maker died between the two steps) makes the
// missing node runs from the list: making them again is harmless, as each create
// is refused once the run exists.
//
// A node's run is that node's: it is never re-placed or rescheduled elsewhere
// (Run.Node pins it), so a run lost with its node, or a launch whose node died
// before claiming it, ends lost.

// listNodes makes run the record of a sysbatch tick placed on nodes: it lists them,
// and each counts the run in its load, for the jobs decided after it on the same
// view.
func listNodes(run *subjects.Run, nodes []*placement.Node) {
	for _, n := range nodes {
		run.Nodes = append(run.Nodes, n.Name)
		n.Load++
	}
}

// isTick reports whether the run is a sysbatch tick's record still waiting for its
// node runs to be made.
func isTick(run *subjects.Run) bool {
	return run.State == subjects.StateQueued && len(run.Nodes) > 0 && run.Node == ""
}

// nodeRun is a node's run of a sysbatch tick that placeTick makes.
type nodeRun struct {
	key string
	run subjects.Run
}

// placeTick makes the runs of the sysbatch tick record at key on each node it lists
// that has none known yet (create-if-absent: one made meanwhile is kept), publishes
// their launches, and then marks the record launched. It is what a term that made
// the record does next, and what the sweep does for a record left queued. Once the
// job has no valid version, the missing runs are made skipped.
func (d *dispatcher) placeTick(key string) {
	e := d.runs[key]
	if e == nil || e.busy || e.rev == 0 || !isTick(&e.run) {
		return
	}
	tick := time.Unix(e.run.Scheduled, 0)
	je := d.jobs[e.run.Job]
	var plan *jobPlan
	if je != nil && je.plan != nil && je.owns(&e.run) {
		plan = je.plan
	}
	if plan != nil && plan.overlap && e.run.Backfill && d.backfillWaits(e) {
		return // the sweep places it once the job's earlier runs ended
	}
	now := d.clock.Now()
	var missing []nodeRun
	for _, name := range e.run.Nodes {
		nkey := subjects.NodeRunKey(e.run.Job, tick, name)
		if known := d.runs[nkey]; known != nil {
			continue // made already: by this term, or seen on the watch
		}
		nr := subjects.Run{
			ID: subjects.NodeRunID(e.run.Job, tick, name), Job: e.run.Job, Scheduled: e.run.Scheduled,
			Forced: e.run.Forced, Backfill: e.run.Backfill, Jitter: e.run.Jitter, Node: name, State: subjects.StateQueued,
		}
		if plan == nil {
			nr.State, nr.Reason = subjects.StateSkipped, "job removed before the run could be placed"
		} else {
			nr.Allocations = []subjects.Allocation{allocation(d.nodeRef(name), "", now, &nr)}
			d.track(nkey, nr, 0)
			ne := d.runs[nkey]
			ne.busy, ne.confirmed = true, now
		}
		missing = append(missing, nodeRun{nkey, nr})
	}
	e.busy = true
	rev, tickRun := e.rev, e.run
	log := d.log.With().Str("job", tickRun.Job).Str("run_id", tickRun.ID).Logger()
	// made is written off the loop by the write and read on the loop by what it
	// hands back (finish), which runs after it.
	made := map[string]uint64{}
	// finish takes the node runs made into the loop's view: those this write made at
	// their revision; the others (refused as existing, or failed) are left to the
	// watch, unless it told the truth already.
	finish := func() {
		for _, m := range missing {
			ne := d.runs[m.key]
			switch nrev := made[m.key]; {
			case ne == nil || ne.rev != 0:
			case nrev > 0:
				ne.rev, ne.busy, ne.published = nrev, false, d.clock.Now()
			default:
				d.untrack(m.key)
			}
		}
	}
	d.write(func(ctx context.Context, l leaseView) (func(), error) {
		var failed error
		for _, m := range missing {
			nrev, err := d.createNodeRun(ctx, l, m, plan)
			if err != nil {
				failed = errors.Join(failed, err)
				continue
			}
			made[m.key] = nrev
		}
		if failed != nil {
			return nil, fmt.Errorf("make the tick's node runs: %w", failed)
		}
		done := cloneRun(tickRun)
		done.State = subjects.StateLaunched
		newRev, err := d.store.UpdateRun(ctx, key, &done, rev)
		if err != nil {
			return nil, fmt.Errorf("mark the tick launched: %w", err)
		}
		d.emit(&done, nil)
		return func() {
			finish()
			for _, nrev := range made {
				d.madeRecord(tickRun.Job, nrev)
			}
			if cur := d.runs[key]; cur != nil && cur.rev == rev {
				// Launched: no longer tracked; the watch's older revisions of the
				// record, still to come, must not track it again.
				d.untrack(key)
				if newRev > d.runsRev {
					d.ahead[key] = newRev
				}
			}
		}, nil
	}, func(err error) {
		d.notBusy(key, rev)
		finish()
		if !errors.Is(err, errNotLeader) && !errors.Is(err, ErrConflict) {
			log.Warn().Err(err).Strs("nodes", tickRun.Nodes).Msg("sysbatch tick not fully placed; the sweep tries again")
		}
	})
}

// createNodeRun makes one node's run of a sysbatch tick and publishes its launch. It
// returns the record's revision, or 0 when the record exists already (read back
// from the leader: a create refused for a record still being proposed is no proof
// that it will exist).
func (d *dispatcher) createNodeRun(ctx context.Context, l leaseView, m nodeRun, plan *jobPlan) (uint64, error) {
	rev, err := d.store.CreateRun(ctx, m.key, &m.run)
	if errors.Is(err, ErrConflict) {
		if _, _, gerr := d.store.GetRun(ctx, m.key); gerr != nil {
			return 0, fmt.Errorf("node run %s: refused as existing, yet not read back: %w", m.run.ID, gerr)
		}
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("create node run %s: %w", m.run.ID, err)
	}
	d.emit(&m.run, m.run.Current())
	if plan != nil && m.run.State == subjects.StateQueued {
		if err := d.publish(ctx, l, &m.run, rev, plan, 0); err != nil {
			d.log.Warn().Err(err).Str("job", m.run.Job).Str("run_id", m.run.ID).Str("node", m.run.Node).
				Msg("launch not published; it will be published again")
		}
	}
	return rev, nil
}

// backfillTick makes run the record of a backfilled sysbatch tick: queued on every
// node of view eligible now, or skipped when there is none.
func backfillTick(run *subjects.Run, plan *jobPlan, view []placement.Node, now time.Time) {
	run.Late = subjects.MillisOf(now.Sub(time.Unix(run.Scheduled, 0)))
	eligible, why := placement.Eligible(plan.placement, view)
	if len(eligible) == 0 {
		run.State, run.Reason = subjects.StateSkipped, "no eligible node: "+why
		return
	}
	listNodes(run, eligible)
}

// backfillWaits reports whether a backfilled sysbatch tick of a prohibit_overlap job
// waits to be placed: while the job has another active run, but for the records of
// later backfilled ticks, which wait behind it (the oldest goes first).
func (d *dispatcher) backfillWaits(e *runEntry) bool {
	for _, o := range d.active[e.run.Job] {
		switch {
		case o == e, o.run.Scheduled == e.run.Scheduled:
		case isTick(&o.run) && o.run.Backfill && o.run.Scheduled > e.run.Scheduled:
		default:
			return true
		}
	}
	return false
}

// nodeRef is the named node as an allocation records it (its ID, when known).
func (d *dispatcher) nodeRef(name string) *placement.Node {
	n := &placement.Node{Name: name}
	if e := d.nodes[name]; e != nil {
		n.ID = e.member.ID
	}
	return n
}

// pinned reports whether the run belongs to one node (a sysbatch run): it is never
// re-placed or rescheduled on another.
func pinned(run *subjects.Run) bool { return run.Node != "" }

// loseUnclaimed ends a pinned run whose node went down before claiming its launch:
// the allocation and the run are lost, and nothing is placed elsewhere.
func (d *dispatcher) loseUnclaimed(e *runEntry, now time.Time) {
	next := cloneRun(e.run)
	cur := next.Current()
	cur.State, cur.Error, cur.Finished = subjects.StateLost, "node "+cur.Node+" went down before claiming the launch", ptr(now.UTC())
	next.State = subjects.StateLost
	d.update(e, next, nil)
}

// forceTick answers a `job periodic force` of a sysbatch job: a run now on every node
// eligible now, made as a tick's are. With none, nothing is made.
func (d *dispatcher) forceTick(f forceRequest, je *jobEntry, now time.Time) {
	tick := now.Truncate(time.Second)
	eligible, why := placement.Eligible(je.plan.placement, d.nodeView(now))
	if len(eligible) == 0 {
		f.reply(subjects.ForceReply{Skipped: "no eligible node: " + why})
		return
	}
	key := subjects.RunKey(f.job, tick)
	run := subjects.Run{ID: subjects.RunID(f.job, tick), Job: f.job, Scheduled: tick.Unix(), Forced: true, State: subjects.StateQueued}
	run.Late = subjects.MillisOf(now.Sub(tick))
	listNodes(&run, eligible)
	d.track(key, run, 0)
	d.runs[key].busy = true
	d.createRecord(key, run, je.plan, f.reply, func(ok bool) {
		if e := d.runs[key]; !ok && e != nil && e.rev == 0 {
			d.untrack(key)
		}
		if ok {
			d.placeTick(key)
		}
	})
}
