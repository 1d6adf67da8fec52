package ticker

import (
	"context"
	"fmt"
	"sync"
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

// forget drops the versions of the job that no term, nor a late walk, needs any
// more: a version is needed while its successor was stored after the job's settled
// tick. What is left, the version the dispatcher runs alone, is dropped too once the
// job's stored state names it or its ticks settled: versionsSince knows it from the
// job itself. (So a job that is not being changed keeps no history.)
func (d *dispatcher) forget(key string, settled time.Time) {
	if _, waits := d.late[key]; waits {
		return // walkLate walks them from the settled tick of before
	}
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
		vs = append(vs, je.version())
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
		if v.plan == nil && !gone && v.written.After(je.state.Deleted) {
			// Deleted, then made again: runs of its ticks before are not the job's now.
			je.state.Deleted = v.written
			d.dirty[key] = true
		}
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

// version is the version of the job that runs.
func (je *jobEntry) version() jobVersion {
	return jobVersion{rev: je.state.Revision, written: je.written, plan: je.plan}
}

// versionGap is a span of a job's revisions this server may not have seen (after
// excluded, before excluded; after 0 is from the oldest the bucket keeps).
type versionGap struct {
	key           string
	after, before uint64
}

// versionGaps lists, for a term about to start, the versions of jobs that this server
// may lack and whose ticks may not have settled:
//   - those before the first version it knows, when that one was stored after the
//     job's settled tick: the previous ones ran until then. A server that started
//     after they were stored, or forgot them once the job's state named a newer
//     version, knows only the newer one, while the ticks of the older ones may have
//     no record yet (the term that stored the state ended before writing them);
//   - those between the version the stored state names and the first one it knows:
//     stored and replaced while no ticker ran (a whole cluster restarting), which a
//     watch's initial values do not show.
func (d *dispatcher) versionGaps() []versionGap {
	var gaps []versionGap
	add := func(key string, first jobVersion, settled time.Time) {
		stored := d.states[key].Revision
		switch {
		case !settled.IsZero() && first.written.After(settled):
			gaps = append(gaps, versionGap{key: key, before: first.rev})
		case first.rev > stored+1:
			gaps = append(gaps, versionGap{key: key, after: stored, before: first.rev})
		}
	}
	for key, je := range d.jobs {
		first := je.version()
		if h := d.history[key]; len(h) > 0 && (first.plan == nil || h[0].rev < first.rev) {
			first = h[0]
		}
		add(key, first, je.lastTick)
	}
	for key, h := range d.history {
		if d.jobs[key] == nil {
			var settled time.Time
			if last := d.states[key].LastTick; last > 0 {
				settled = time.Unix(last, 0)
			}
			add(key, h[0], settled)
		}
	}
	return gaps
}

// rememberEarlier adds to a job's history the versions read from a gap, which come
// before every version it knows; a job that had no history gets the version that runs
// after them, which ends their spans.
func (d *dispatcher) rememberEarlier(key string, changes []Change) {
	var earlier []jobVersion
	for _, c := range changes {
		v := jobVersion{rev: c.Rev, written: c.Written}
		if !c.Deleted {
			j, err := job.Parse(key, c.Value)
			if err != nil {
				continue // an invalid version left the previous one running
			}
			if v.plan, err = d.planner.plan(j); err != nil {
				continue
			}
		}
		earlier = append(earlier, v)
	}
	if len(earlier) == 0 {
		return
	}
	d.log.Info().Str("job", key).Int("versions", len(earlier)).Msg("job versions whose ticks may not have settled read back from the bucket")
	h := d.history[key]
	if je := d.jobs[key]; len(h) == 0 && je != nil && je.plan != nil {
		h = []jobVersion{je.version()}
	}
	d.history[key] = append(earlier, h...)
}

// readGaps reads the versions in gaps from the store, gapReaders jobs at a time, and
// returns those of each job read whole. The error counts the jobs whose versions were
// not all read and names the first.
func (d *dispatcher) readGaps(ctx context.Context, gaps []versionGap) (map[string][]Change, error) {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		failed   int
		firstErr error
	)
	versions := make(map[string][]Change, len(gaps))
	slots := make(chan struct{}, gapReaders)
	for _, g := range gaps {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			vs, err := d.store.JobVersions(ctx, g.key, g.after, g.before)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				versions[g.key] = vs
				return
			}
			// A part is dropped: what it lacks would stretch an older version's span.
			if failed++; firstErr == nil {
				firstErr = fmt.Errorf("versions of job %s: %w", g.key, err)
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		return versions, fmt.Errorf("versions of %d of %d jobs not all read: %w", failed, len(gaps), firstErr)
	}
	return versions, nil
}
