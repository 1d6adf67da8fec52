package ticker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jetcron/jetcron/placement"
	"github.com/jetcron/jetcron/subjects"
)

// This file holds the leader's writes, each made off the loop: run records, launches,
// events and job states.

var errNotLeader = errors.New("ticker lease lost")

// errRunExists answers a force, or counts a backfill tick as existing, when the run's
// record was there before the write.
const errRunExists = "a run for this second exists already"

// write runs op off the loop under the term's lease: op is not called once the lease
// is no longer valid. The loop then runs what op returns, or failed with its error.
func (d *dispatcher) write(op func(ctx context.Context, l leaseView) (func(), error), failed func(error)) {
	l := d.lease
	d.offLoop(func(ctx context.Context) func() {
		if l == nil || !l.Valid() {
			return func() { failed(errNotLeader) }
		}
		apply, err := op(ctx, l)
		if err != nil {
			return func() { failed(err) }
		}
		return apply
	})
}

// create writes the record of a tick decide launched or skipped and, for a launch
// with a node, publishes it. A record that exists already (another ticker made it)
// settles the tick once it is read back: a stream's leader refuses a create while
// another one for the key is still proposed, and that one may never be stored.
func (d *dispatcher) create(je *jobEntry, a action, now time.Time) {
	key, tick := subjects.RunKey(je.facts.key, a.tick), a.tick
	run := subjects.Run{
		ID: subjects.RunID(je.facts.key, tick), Job: je.facts.key, Scheduled: tick.Unix(),
		Jitter: subjects.MillisOf(a.plan.dueAt(je.facts.key, tick).Sub(tick)),
	}
	run.Late = subjects.MillisOf(now.Sub(tick) - run.Jitter.Duration())
	if a.kind == actSkip {
		run.State, run.Reason = subjects.StateSkipped, a.reason
	} else {
		run.State = subjects.StateQueued
		switch {
		case len(a.nodes) > 0:
			listNodes(&run, a.nodes) // a sysbatch tick: its node runs follow (placeTick)
		default:
			run.Allocations = []subjects.Allocation{allocation(a.node, a.reason, now, &run)}
			if a.node != nil {
				a.node.Load++
			}
		}
		d.track(key, run, 0)
		e := d.runs[key]
		e.busy, e.confirmed = true, now
	}
	if je.facts.records == nil {
		je.facts.records = map[int64]recordState{}
	}
	je.facts.records[tick.Unix()] = recordWriting
	d.createRecord(key, run, a.plan, nil, func(ok bool) {
		if e := d.runs[key]; !ok && e != nil && e.rev == 0 {
			d.untrack(key)
		}
		if je.facts.records[tick.Unix()] == recordWriting {
			if ok {
				je.facts.records[tick.Unix()] = recordWritten
			} else {
				delete(je.facts.records, tick.Unix())
			}
		}
		if ok {
			d.placeTick(key)
			d.wakeNow(je)
		} else {
			d.wakeAt(je, d.clock.Now().Add(writeRetry))
		}
	})
}

// createRecord stores a new run record and publishes its launch if it has a node.
// done is called in the loop with whether the record now exists; reply, if given,
// answers a force request.
func (d *dispatcher) createRecord(key string, run subjects.Run, plan *jobPlan, reply func(subjects.ForceReply), done func(ok bool)) {
	d.write(func(ctx context.Context, l leaseView) (func(), error) {
		rev, err := d.store.CreateRun(ctx, key, &run)
		if errors.Is(err, ErrConflict) {
			if _, _, gerr := d.store.GetRun(ctx, key); gerr != nil {
				return nil, fmt.Errorf("create run record: refused as existing, yet not read back: %w", gerr)
			}
			if reply != nil {
				reply(subjects.ForceReply{Error: errRunExists})
			}
			return func() {
				if e := d.runs[key]; e != nil && e.rev == 0 {
					d.untrack(key) // the record made by another ticker is the truth
				}
				done(true)
			}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("create run record: %w", err)
		}
		d.emit(&run, run.Current())
		if a := run.Current(); a != nil && a.Node != "" {
			if err := d.publish(ctx, l, &run, rev, plan, 0); err != nil {
				d.log.Warn().Err(err).Str("job", run.Job).Str("run_id", run.ID).Str("node", a.Node).Msg("launch not published; it will be published again")
			}
		}
		if reply != nil {
			reply(subjects.ForceReply{RunID: run.ID})
		}
		return func() {
			if e := d.runs[key]; e != nil && e.rev == 0 {
				e.rev, e.busy, e.published = rev, false, d.clock.Now()
			}
			d.madeRecord(run.Job, rev)
			done(true)
		}, nil
	}, func(err error) {
		if !errors.Is(err, errNotLeader) {
			d.log.Warn().Err(err).Str("job", run.Job).Str("run_id", run.ID).Msg("run not recorded; retrying")
		}
		if reply != nil {
			reply(subjects.ForceReply{Error: err.Error()})
		}
		done(false)
	})
}

// allocation makes a queued allocation on node, or on none with run.Reason saying why.
func allocation(node *placement.Node, why string, now time.Time, run *subjects.Run) subjects.Allocation {
	a := subjects.Allocation{ID: newAllocID(), State: subjects.StateQueued, Created: now.UTC()}
	run.Late = subjects.MillisOf(now.Sub(time.Unix(run.Scheduled, 0).Add(run.Jitter.Duration())))
	if node == nil {
		run.Reason = "waiting: " + why
		return a
	}
	run.Reason = ""
	a.Node, a.NodeID = node.Name, node.ID
	return a
}

// confirm reads the job's runs that would block a tick from the bucket's leader; the
// job is decided again once they were, on what the read found.
func (d *dispatcher) confirm(je *jobEntry, keys []string) {
	je.confirming = true
	d.offLoop(func(ctx context.Context) func() {
		began := d.clock.Now()
		type fresh struct {
			run subjects.Run
			rev uint64
		}
		got := map[string]fresh{}
		var failed error
		for _, key := range keys {
			run, rev, err := d.store.GetRun(ctx, key)
			if err != nil {
				failed = err
				continue
			}
			got[key] = fresh{*run, rev}
		}
		return func() {
			je.confirming = false
			for key, f := range got {
				d.applyRun(Change{Kind: RunChanged, Key: key, Value: mustJSON(f.run), Rev: f.rev}, true)
			}
			if failed != nil {
				d.log.Debug().Err(failed).Str("job", je.facts.key).Msg("active runs not read from the runs stream's leader; reading again")
				d.wakeAt(je, d.clock.Now().Add(readRetry))
				return
			}
			for _, key := range keys {
				if e := d.runs[key]; e != nil {
					e.confirmed = laterOf(e.confirmed, began)
				}
			}
			d.wakeNow(je)
		}
	})
}

// summarize records, as one event, the ticks decide summed up as too old to get a
// record each.
func (d *dispatcher) summarize(jobKey string, dec decision, now time.Time) {
	if !d.leading {
		return
	}
	d.store.PublishEvent(&subjects.Event{
		Job: jobKey, State: subjects.StateSkipped, Time: now.UTC(),
		Reason: fmt.Sprintf("%d ticks from %s to before %s skipped: outside the catch-up window", dec.summary,
			dec.summaryFrom.UTC().Format(time.RFC3339), dec.summaryTo.UTC().Format(time.RFC3339)),
	})
	d.log.Warn().Str("job", jobKey).Int("ticks", dec.summary).Msg("ticks skipped without a record each: outside the catch-up window")
}

// publish sends the launch of the run's current allocation, claimable at rev; again
// counts its publications again (0: the first).
func (d *dispatcher) publish(ctx context.Context, l leaseView, run *subjects.Run, rev uint64, plan *jobPlan, again int) error {
	if !l.Valid() {
		return errNotLeader
	}
	a := run.Current()
	launch := &subjects.Launch{
		RunID: run.ID, Job: run.Job, Scheduled: run.Scheduled, Alloc: len(run.Allocations), AllocID: a.ID,
		Node: a.Node, Revision: rev, Run: mustJSON(run), Task: plan.task, Restart: plan.restart,
		Late: subjects.MillisOf(d.clock.Now().Sub(time.Unix(run.Scheduled, 0))), Republish: again,
	}
	return d.store.PublishLaunch(ctx, launch, l.Rev())
}

// publishAgain publishes the launch of a queued run once more, with the same claim
// revision. The n-th time (n >= 1) it has a message ID of its own, so the stream keeps
// it; with n = 0 (a new term, in case the previous holder died between making the
// record and publishing) it has the original's, so a launch that was stored is not
// stored twice.
func (d *dispatcher) publishAgain(e *runEntry, n int) {
	je := d.jobs[e.run.Job]
	if je == nil || je.plan == nil {
		return
	}
	e.busy, e.published = true, d.clock.Now()
	run, rev, plan := e.run, e.rev, je.plan
	d.write(func(ctx context.Context, l leaseView) (func(), error) {
		if err := d.publish(ctx, l, &run, rev, plan, n); err != nil {
			return nil, fmt.Errorf("publish launch again: %w", err)
		}
		return func() { d.notBusy(e.key, rev) }, nil
	}, func(error) { d.notBusy(e.key, rev) })
}

// notBusy ends the write under way for a run still at rev.
func (d *dispatcher) notBusy(key string, rev uint64) {
	if cur := d.runs[key]; cur != nil && cur.rev == rev {
		cur.busy = false
	}
}

// update writes next over the run's record at its known revision and, when task is
// given and the current allocation has a node, publishes its launch.
func (d *dispatcher) update(e *runEntry, next subjects.Run, plan *jobPlan) {
	e.busy = true
	rev := e.rev
	d.write(func(ctx context.Context, l leaseView) (func(), error) {
		newRev, err := d.store.UpdateRun(ctx, e.key, &next, rev)
		if err != nil {
			return nil, err
		}
		d.emit(&next, next.Current())
		if a := next.Current(); plan != nil && a != nil && a.Node != "" && next.State == subjects.StateQueued {
			if err := d.publish(ctx, l, &next, newRev, plan, 0); err != nil {
				d.log.Warn().Err(err).Str("job", next.Job).Str("run_id", next.ID).Msg("launch not published; it will be published again")
			}
		}
		return func() {
			if cur := d.runs[e.key]; cur != nil {
				cur.published = d.clock.Now()
			}
		}, nil
	}, func(err error) {
		d.notBusy(e.key, rev)
		if !errors.Is(err, ErrConflict) && !errors.Is(err, errNotLeader) {
			d.log.Warn().Err(err).Str("job", next.Job).Str("run_id", next.ID).Msg("run update failed; will retry")
		}
	})
}

// emit publishes an event for the run's allocation.
func (d *dispatcher) emit(run *subjects.Run, a *subjects.Allocation) {
	e := &subjects.Event{RunID: run.ID, Job: run.Job, State: run.State, Late: run.Late, Reason: run.Reason, Time: d.clock.Now().UTC()}
	if a != nil {
		e.Node, e.AllocID = a.Node, a.ID
		if a.Error != "" {
			e.Reason = a.Error
		}
	}
	d.store.PublishEvent(e)
	ev := d.log.Info()
	if run.State == subjects.StateSkipped || run.State == subjects.StateLost {
		ev = d.log.Warn()
	}
	ev.Str("job", run.Job).Str("run_id", run.ID).Str("node", e.Node).Str("state", string(run.State)).
		Int64("late_ms", int64(run.Late)).Str("reason", e.Reason).Msg("run " + string(run.State))
}

// requested is the job a force or backfill request names, or nil after answering
// why this ticker cannot act on it: it does not lead, or the job has no valid
// version.
func (d *dispatcher) requested(f forceRequest) *jobEntry {
	if !d.leading {
		f.reply(subjects.ForceReply{Error: "this ticker does not lead (yet); try again"})
		return nil
	}
	je := d.jobs[f.job]
	if je == nil || je.plan == nil {
		f.reply(subjects.ForceReply{Error: fmt.Sprintf("job %q is not defined or has no valid version", f.job)})
		return nil
	}
	return je
}

// force launches a run of the job now, as `job periodic force` asks. A forced run is
// no tick of the schedule: it leaves the job's settled mark alone.
func (d *dispatcher) force(f forceRequest) {
	je := d.requested(f)
	if je == nil {
		return
	}
	now := d.clock.Now()
	tick := now.Truncate(time.Second)
	key := subjects.RunKey(f.job, tick)
	if _, known := d.runs[key]; known {
		f.reply(subjects.ForceReply{Error: errRunExists})
		return
	}
	if active := d.activeOf(f.job); je.plan.overlap && len(active) > 0 {
		f.reply(subjects.ForceReply{Skipped: "prohibit_overlap: " + active[0].id + " is still running"})
		return
	}
	if je.plan.sysbatch {
		d.forceTick(f, je, now)
		return
	}
	node, why := place(je.plan, d.nodeView(now), nil, f.job, tick)
	run := subjects.Run{ID: subjects.RunID(f.job, tick), Job: f.job, Scheduled: tick.Unix(), Forced: true, State: subjects.StateQueued}
	run.Allocations = []subjects.Allocation{allocation(node, why, now, &run)}
	d.track(key, run, 0)
	d.runs[key].busy = true
	d.createRecord(key, run, je.plan, f.reply, func(ok bool) {
		if e := d.runs[key]; !ok && e != nil && e.rev == 0 {
			d.untrack(key)
		}
	})
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only records of ours, which always encode
	}
	return data
}

func newAllocID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
