package ticker

import (
	"context"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// termStart is a term that has its lease but does not lead yet: it first reads from
// the buckets' leaders what its watches may lack. A run record the previous holder
// made and this server's watch has not sent yet would otherwise be unknown to
// prohibit_overlap, and a job version likewise to ownership.
type termStart struct {
	lease leaseView
	since time.Time
	// runsTarget is the runs bucket's newest revision, read from its leader once the
	// term began (targetKnown); runsRead the newest revision read directly since.
	runsTarget  uint64
	targetKnown bool
	runsRead    uint64
	readingRuns bool
}

// begin starts a term: it leads once starting has read what it must.
func (d *dispatcher) begin(l leaseView) {
	d.termID++
	d.term = &termStart{lease: l, since: d.clock.Now()}
	d.horizon, d.retryAt = time.Time{}, time.Time{}
}

// starting moves a starting term on: it reads the runs bucket's newest revision, the
// run records after what the watch sent up to it, and the jobs bucket's changes
// (readHorizon), each from its stream's leader, and leads once all three returned.
func (d *dispatcher) starting(now time.Time) {
	t := d.term
	if now.Before(d.retryAt) {
		return
	}
	switch {
	case t.readingRuns:
	case !t.targetKnown:
		d.readRunsTarget(t)
	case max(d.runsRev, t.runsRead) < t.runsTarget:
		d.readRuns(t)
	}
	if !d.reading && d.horizon.Before(t.since) {
		d.readHorizon(now)
	}
	if t.targetKnown && max(d.runsRev, t.runsRead) >= t.runsTarget && !d.horizon.Before(t.since) {
		d.lead(now)
	}
}

// readRunsTarget reads the runs bucket's newest revision from its leader.
func (d *dispatcher) readRunsTarget(t *termStart) {
	t.readingRuns = true
	d.offLoop(func(ctx context.Context) func() {
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		rev, err := d.store.RunsLastRevision(ctx)
		cancel()
		return func() {
			t.readingRuns = false
			if err != nil {
				d.log.Debug().Err(err).Msg("runs bucket's newest revision not read; reading again")
				d.retryAt = d.clock.Now().Add(readRetry)
				return
			}
			t.runsTarget, t.targetKnown = rev, true
		}
	})
}

// readRuns reads the run records after those the watch sent, from the bucket's
// leader, up to maxRead at a time.
func (d *dispatcher) readRuns(t *termStart) {
	t.readingRuns = true
	after := max(d.runsRev, t.runsRead)
	d.offLoop(func(ctx context.Context) func() {
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		changes, err := d.store.RunChangesAfter(ctx, after, maxRead)
		cancel()
		return func() {
			t.readingRuns = false
			for _, c := range changes {
				d.applyRun(c, true)
				t.runsRead = max(t.runsRead, c.Rev)
			}
			switch {
			case err != nil:
				d.log.Debug().Err(err).Msg("run records not read from the runs stream's leader; reading again")
				d.retryAt = d.clock.Now().Add(readRetry)
			case len(changes) < maxRead:
				t.runsRead = max(t.runsRead, t.runsTarget) // read to the end
			}
			if len(changes) > 0 {
				d.log.Info().Int("records", len(changes)).Msg("run records read from the bucket ahead of the watch")
			}
		}
	})
}

// lead makes the starting term lead: launches a previous holder made but may not have
// published are published again, each job's state is stored where it changed, and
// every job is decided, which catches up what was due while nobody led.
func (d *dispatcher) lead(now time.Time) {
	d.lease, d.leading, d.term = d.term.lease, true, nil
	for _, e := range d.runs {
		if a := e.run.Current(); e.run.State == subjects.StateQueued && a != nil && a.Node != "" && e.rev != 0 {
			d.publishAgain(e, 0)
		}
	}
	for key, je := range d.jobs {
		d.dirty[key] = true // stored only where it differs (flushStates)
		d.heap.set(je, d.horizon)
	}
	for key := range d.states {
		d.dirty[key] = true // a state an older version stored lacks ListsOpen
	}
	d.flushStates()
	d.log.Info().Int("jobs", len(d.jobs)).Int("nodes", len(d.nodes)).Int("active_runs", len(d.runs)).
		Dur("took_ms", d.clock.Now().Sub(now)).Time("horizon", d.horizon).Msg("ticker leading")
}

// follow ends a term: nothing more is written; writes under way fail on the lease.
// What they wrote is learned from their results or the watch.
func (d *dispatcher) follow() {
	d.termID++
	d.lease, d.leading, d.term, d.horizon, d.moreToRead = nil, false, nil, time.Time{}, false
	clear(d.dirty)
	for key, e := range d.runs {
		if e.rev == 0 {
			d.untrack(key) // made by this term, never confirmed
		}
	}
	for _, je := range d.jobs {
		d.heap.remove(je)
		je.confirming = false
	}
	d.log.Info().Msg("ticker standing by")
}
