package ticker

import (
	"context"
	"errors"
)

// This file bounds the run records each job keeps (server.runs_per_job), beside the
// runs bucket's age limit: a job every second would otherwise fill the history alone.
//
// The leader notes the revision of every tenth-of-the-cap-th record a job makes. Once
// it has eleven such marks, the records made since the oldest number at least the cap,
// so it drops the job's records last written before that mark, and the mark. It never
// drops at or above the revision of a run still open: a long run's record may be
// older than the cap's newest ones. A new leader starts counting afresh, so a job
// keeps between the cap and about twice it.

// trimMarks is how many marks a job has when it is trimmed.
const trimMarks = 11

// trimState is what the leader counts of one job's records.
type trimState struct {
	made  int      // records made since the last mark
	marks []uint64 // revisions of every step-th record made, oldest first
}

// madeRecord notes that the leader made a record of the job at revision rev.
func (d *dispatcher) madeRecord(jobKey string, rev uint64) {
	if d.runsPerJob <= 0 || rev == 0 {
		return
	}
	ts := d.trims[jobKey]
	if ts == nil {
		ts = &trimState{}
		d.trims[jobKey] = ts
	}
	if ts.made++; ts.made < max(d.runsPerJob/(trimMarks-1), 1) {
		return
	}
	ts.made, ts.marks = 0, append(ts.marks, rev)
	if len(ts.marks) >= trimMarks {
		d.trimDue[jobKey] = true
	}
}

// trimBelow is the revision below which the records of a job with marks enough
// (trimDue) may be dropped now: its oldest mark, or an open run's older revision.
func (d *dispatcher) trimBelow(jobKey string, ts *trimState) uint64 {
	below := ts.marks[0]
	for _, e := range d.active[jobKey] {
		if e.rev == 0 {
			continue // being made: newer than any mark
		}
		below = min(below, e.rev)
	}
	return below
}

// trimRuns drops, while leading, the records of each job past its cap (see above).
// It looks only at the jobs with marks enough (trimDue), not at every job's count.
func (d *dispatcher) trimRuns() {
	if !d.leading {
		return
	}
	for jobKey := range d.trimDue {
		ts := d.trims[jobKey]
		below := d.trimBelow(jobKey, ts)
		ts.marks = ts.marks[1:]
		if len(ts.marks) < trimMarks {
			delete(d.trimDue, jobKey)
		}
		d.write(func(ctx context.Context, _ leaseView) (func(), error) {
			return func() {}, d.store.TrimRuns(ctx, jobKey, below, d.runsPerJob)
		}, func(err error) {
			if !errors.Is(err, errNotLeader) {
				d.log.Warn().Err(err).Str("job", jobKey).Uint64("below_rev", below).Msg("old run records not dropped; they are dropped after the next ones")
			}
		})
	}
}
