package ticker

import (
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// maxVersions bounds the versions kept of one job: a job rewritten faster than its
// ticks settle keeps only its newest ones.
const maxVersions = 64

// jobVersion is one version of a job, valid or a deletion, as the jobs bucket stored it.
type jobVersion struct {
	rev     uint64
	written time.Time
	plan    *jobPlan // nil: the job was deleted
}

// remember keeps the version of the job that c stored (a valid one, or its deletion),
// so that a term that starts before the job's ticks settled can tell which version
// each of them belonged to: a job may be written, rewritten and deleted while nobody
// leads, and each version's ticks are due until the next one was stored.
func (d *dispatcher) remember(c Change, plan *jobPlan) {
	h := d.history[c.Key]
	if n := len(h); n > 0 && h[n-1].rev >= c.Rev {
		return // a read older than what the watch gave
	}
	if len(h) >= maxVersions {
		h = h[1:]
	}
	d.history[c.Key] = append(h, jobVersion{rev: c.Rev, written: c.Written, plan: plan})
}

// forget drops the versions of the job that no term needs any more: a version is
// needed while its successor was stored after the job's settled tick. What is left,
// the version the dispatcher runs alone, is dropped too once the job's stored state
// names it or its ticks settled: versionsSince knows it from the job itself. (So a
// job that is not being changed keeps no history.)
func (d *dispatcher) forget(key string, settled time.Time) {
	h := d.history[key]
	for len(h) >= 2 && !h[1].written.After(settled) {
		h = h[1:]
	}
	if len(h) == 1 && (h[0].rev <= d.states[key].Revision || !h[0].written.After(settled)) {
		if je := d.jobs[key]; je != nil && je.plan == h[0].plan {
			h = nil
		}
	}
	if len(h) == 0 {
		delete(d.history, key)
		return
	}
	d.history[key] = h
}

// versionsSince returns the versions of the job that were its own from its settled
// tick on, oldest first: the one its stored state names (unless the versions this
// server saw go back that far), those seen since, and the current one.
func (d *dispatcher) versionsSince(key string, je *jobEntry, stored subjects.JobState) []jobVersion {
	vs := append([]jobVersion(nil), d.history[key]...)
	if je != nil && je.plan != nil && (len(vs) == 0 || vs[len(vs)-1].rev < je.state.Revision) {
		vs = append(vs, jobVersion{rev: je.state.Revision, written: je.written, plan: je.plan})
	}
	// Only a job that changed since its state was stored needs the stored version
	// parsed (at 100,000 jobs, parsing them all would delay a term by seconds).
	if stored.Spec != "" && len(vs) > 0 && vs[0].rev > stored.Revision {
		base := jobVersion{rev: stored.Revision}
		if !stored.Removed {
			if prev, err := job.Parse(key, []byte(stored.Spec)); err == nil {
				base.plan, _ = d.planner.plan(prev)
			}
		}
		vs = append([]jobVersion{base}, vs...)
	}
	return vs
}

// catchUpVersions handles, at the start of a term, the ticks each version of the job
// had due from the job's settled tick until the next version was stored: launched
// (within the catch-up window) if the job still exists, else recorded skipped. It
// returns when the current version's own ticks are due from: after its last recorded
// tick, or, for a version newer than the one the stored state names, from when it was
// stored (its ticks while the previous one still ran were not launched); the zero
// time if the job is gone.
func (d *dispatcher) catchUpVersions(key string, je *jobEntry, stored subjects.JobState, settled, now time.Time) time.Time {
	vs := d.versionsSince(key, je, stored)
	gone := je == nil
	for i, v := range vs {
		from := versionStart(v.written, settled, v.rev > stored.Revision)
		if from.IsZero() {
			from = stored.Updated // no tick of it was recorded: it ran from no earlier
		}
		if i == len(vs)-1 {
			if gone || v.plan == nil {
				return time.Time{}
			}
			return from
		}
		until := vs[i+1].written
		if v.plan == nil || !until.After(from) {
			continue
		}
		if gone {
			d.skipAll(&jobEntry{key: key, index: -1, plan: v.plan}, from, until, "job removed before a ticker could launch this tick")
		} else {
			d.catchUp(je, v.plan.schedule, from, until, now)
		}
	}
	return time.Time{}
}

// skipAll records skipped, with reason, the ticks of je's plan after from up to until.
func (d *dispatcher) skipAll(je *jobEntry, from, until time.Time, reason string) {
	sched := je.plan.schedule
	for t, n := sched.Next(from), 0; !t.IsZero() && !t.After(until) && n < maxSkipRecords; t, n = sched.Next(t), n+1 {
		d.skip(je, t, reason)
	}
}
