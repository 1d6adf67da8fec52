package ticker

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// This file is what every server keeps of the buckets, leading or standing by: each
// job's versions and settled mark, the records of its unsettled ticks, the nodes and
// the active runs. It only takes changes in; it decides and writes nothing.

// jobEntry is one key of the jobs bucket as the dispatcher keeps it.
type jobEntry struct {
	facts jobFacts
	// plan is the plan of the version that owns the job's ticks now; nil if none.
	plan *jobPlan
	// state is the job's state as this ticker would store it. Its Deleted is when
	// the job was last deleted, as far as this ticker knows: runs of ticks before
	// then belong to the deleted job.
	state subjects.JobState
	// wake is when the job is to be decided next; index its place in the heap (-1:
	// not in it). confirming is set while runs that would block a tick are read.
	wake       time.Time
	index      int
	confirming bool
}

// nodeEntry is a client node and when its record was last written.
type nodeEntry struct {
	member  subjects.Member
	attrs   map[string]string
	written time.Time
	rev     uint64
	polled  time.Time // when the sweep last began to read the record from the leader
	checked time.Time // when the last such read that returned began
}

// runEntry is a run the dispatcher still has to watch: not yet terminal, or lost
// with a reschedule to come.
type runEntry struct {
	key         string
	run         subjects.Run
	rev         uint64 // 0 while the record is being created
	busy        bool   // a write for it is under way
	published   time.Time
	republished int // publications again of the current allocation's launch
	// confirmed is when a read from the bucket's leader began that found the record
	// at rev (activeRun.confirmed).
	confirmed time.Time
	// What the entry adds to the per-job and per-node counts, so that it takes away
	// exactly that.
	countedJob  bool
	countedNode string
}

// apply takes one bucket change into the dispatcher's view.
func (d *dispatcher) apply(c Change) {
	switch c.Kind {
	case JobStateChanged:
		d.applyState(c)
	case JobChanged:
		d.jobsRev = max(d.jobsRev, c.Rev)
		d.applyJob(c)
	case NodeChanged:
		d.applyNode(c)
	case RunChanged:
		d.applyRun(c, false)
	case RunsWatched:
		d.runsRev, d.resumed = c.Rev, c.Rev > 0
	}
}

// applyState takes a job state a leader stored: its settled mark is a fact (every
// tick up to it has a record), which a standby resumes from.
func (d *dispatcher) applyState(c Change) {
	if c.Deleted {
		return
	}
	var st subjects.JobState
	if err := json.Unmarshal(c.Value, &st); err != nil {
		d.log.Warn().Err(err).Str("key", c.Key).Msg("unreadable job state ignored")
		return
	}
	je := d.jobs[st.Job]
	if je != nil && st.Spec == je.state.Spec {
		st.Spec = je.state.Spec // one copy of the file for both
	}
	d.states[st.Job] = st
	if je == nil {
		return
	}
	je.state.Deleted = laterOf(je.state.Deleted, st.Deleted)
	if st.LastTick > 0 {
		d.settle(je, time.Unix(st.LastTick, 0))
	}
}

// entry returns the job's entry, made from its stored state if it has none yet.
func (d *dispatcher) entry(key string) *jobEntry {
	je := d.jobs[key]
	if je != nil {
		return je
	}
	st := d.states[key]
	st.Job = key
	je = &jobEntry{facts: jobFacts{key: key}, state: st, index: -1}
	if st.LastTick > 0 {
		je.facts.settled = time.Unix(st.LastTick, 0)
	}
	d.jobs[key] = je
	return je
}

// baseVersion gives a job whose stored state names a valid version older than every
// version the watch sent (the bucket keeps 16 a job) that version, as the one that
// owned the job's ticks at its settled mark. It runs once the watch's initial values
// were all sent: before that, the state may name a version the watch is still to
// send, and standing for it would hide the versions before it.
func (d *dispatcher) baseVersion(je *jobEntry) {
	st, vs := d.states[je.facts.key], je.facts.versions
	if st.Spec == "" || st.Removed || len(vs) > 0 && vs[0].rev <= st.Revision {
		return
	}
	j, err := job.Parse(je.facts.key, []byte(st.Spec))
	if err != nil {
		return
	}
	p, err := d.planner.plan(j)
	if err != nil {
		return
	}
	je.facts.versions = append([]version{{rev: st.Revision, plan: p}}, vs...)
	if je.plan = currentPlan(je.facts.versions); je.plan == p {
		je.state.Spec, je.state.Revision = st.Spec, st.Revision // an invalid file since keeps it running
	}
}

// applyJob takes a version of a job (a file or a deletion) from the watch or a read.
func (d *dispatcher) applyJob(c Change) {
	je := d.entry(c.Key)
	vs := je.facts.versions
	if n := len(vs); n > 0 && vs[n-1].rev >= c.Rev {
		return // known already
	}
	v := version{rev: c.Rev, stored: c.Written}
	st := je.state
	st.Updated = d.clock.Now().UTC()
	switch {
	case c.Deleted:
		st.Removed, st.Deleted = true, laterOf(st.Deleted, c.Written)
		d.log.Info().Str("job", c.Key).Uint64("revision", c.Rev).Msg("job removed; it launches no more")
	default:
		j, err := job.Parse(c.Key, c.Value)
		var p *jobPlan
		if err == nil {
			p, err = d.planner.plan(j)
		}
		st.Removed = false
		if err != nil {
			v.invalid = true
			st.Valid, st.Error = false, err.Error()
			if je.plan == nil {
				st.Spec, st.Revision = "", 0 // no valid version runs since a deletion
			}
			d.log.Warn().Str("job", c.Key).Uint64("revision", c.Rev).Err(err).Msg("invalid job file; the last valid version keeps running")
		} else {
			v.plan = p
			st.Valid, st.Error, st.Spec, st.Revision = true, "", d.specOf(je, c.Value), c.Rev
			d.log.Debug().Str("job", c.Key).Uint64("revision", c.Rev).Msg("job version stored")
		}
	}
	before := je.plan
	je.facts.versions = append(vs, v)
	je.plan = currentPlan(je.facts.versions)
	je.state = st
	if je.plan != before {
		d.recount(c.Key)
	}
	if d.leading {
		d.dirty[c.Key] = true
		d.flushStates()
		d.wakeNow(je)
	}
}

// currentPlan is the plan of the version that owns a job's ticks after every one of
// versions was stored: the newest valid one since the newest deletion.
func currentPlan(versions []version) *jobPlan {
	for i := len(versions) - 1; i >= 0; i-- {
		switch v := &versions[i]; {
		case v.plan != nil:
			return v.plan
		case v.deletion():
			return nil
		}
	}
	return nil
}

// specOf is a job file as its state records it, sharing the copy the dispatcher
// holds already when it is the same.
func (d *dispatcher) specOf(je *jobEntry, value []byte) string {
	if je.state.Spec == string(value) {
		return je.state.Spec
	}
	if stored := d.states[je.facts.key].Spec; stored == string(value) {
		return stored
	}
	return string(value)
}

// settle moves the job's settled mark to at, if later, and drops what no tick after
// it needs: records of earlier ticks and versions replaced before it. It reports
// whether the mark passed a tick with a record.
func (d *dispatcher) settle(je *jobEntry, at time.Time) (passed bool) {
	f := &je.facts
	if !at.After(f.settled) {
		return false
	}
	f.settled = at
	for t := range f.records {
		if !time.Unix(t, 0).After(at) {
			delete(f.records, t)
			passed = true
		}
	}
	if len(f.records) == 0 {
		f.records = nil
	}
	f.versions = pruneVersions(f.versions, at)
	return passed
}

// pruneVersions drops the versions that own no tick after settled: all but the one
// that owned the job at settled (if any) and those stored after it. The newest
// version is always kept.
func pruneVersions(vs []version, settled time.Time) []version {
	last := -1 // the newest version stored at or before settled
	for i := range vs {
		if !vs[i].stored.After(settled) {
			last = i
		}
	}
	if last <= 0 {
		return vs
	}
	owner := -1
	for i := last; i >= 0; i-- {
		if vs[i].plan != nil || vs[i].deletion() {
			owner = i
			break
		}
	}
	keep := vs[last+1:]
	if owner >= 0 {
		keep = append([]version{vs[owner]}, keep...)
	}
	if len(keep) == 0 {
		keep = vs[len(vs)-1:]
	}
	return slices.Clip(append([]version(nil), keep...))
}

func (d *dispatcher) applyNode(c Change) {
	if c.Deleted {
		name, err := subjects.ParseToken(c.Key)
		if err == nil && d.nodes[name] != nil {
			delete(d.nodes, name)
			i, _ := slices.BinarySearch(d.names, name)
			d.names = slices.Delete(d.names, i, i+1)
		}
		return
	}
	var m subjects.Member
	if err := json.Unmarshal(c.Value, &m); err != nil {
		d.log.Warn().Err(err).Str("key", c.Key).Msg("unreadable node record ignored")
		return
	}
	old := d.nodes[m.Name]
	switch {
	case old == nil:
		i, _ := slices.BinarySearch(d.names, m.Name)
		d.names = slices.Insert(d.names, i, m.Name)
	case old.rev >= c.Rev:
		return // a read older than what the watch gave
	}
	d.nodes[m.Name] = &nodeEntry{member: m, attrs: m.PlacementAttrs(), written: c.Written, rev: c.Rev}
	if old != nil {
		d.nodes[m.Name].polled, d.nodes[m.Name].checked = old.polled, old.checked
	}
	if c.Written.Sub(d.newestBeat) > m.TTL.Duration()/2 {
		d.flowSince = c.Written // heartbeats land again after a pause
	}
	d.newestBeat = laterOf(d.newestBeat, c.Written)
}

// applyRun takes a run record. A record read from the bucket's leader (read) may be
// newer than what the watch sends after it: the watch's older revisions of that key
// are then ignored until the watch has caught up.
func (d *dispatcher) applyRun(c Change, read bool) {
	if read {
		if c.Rev <= d.runsRev {
			return // the watch sent it already
		}
		d.ahead[c.Key] = c.Rev
	} else {
		d.runsRev = max(d.runsRev, c.Rev)
		if d.loadSeen != nil {
			d.loadSeen[c.Key] = true
		}
		if rev, ok := d.ahead[c.Key]; ok {
			if c.Rev < rev {
				return
			}
			delete(d.ahead, c.Key)
		}
	}
	d.takeRun(c)
}

// takeRun takes a run record's change into the view, unless the view has it at that
// revision or a newer one.
func (d *dispatcher) takeRun(c Change) {
	if e := d.runs[c.Key]; e != nil && e.rev >= c.Rev {
		return
	}
	if c.Deleted {
		d.untrack(c.Key)
		return
	}
	var run subjects.Run
	if err := json.Unmarshal(c.Value, &run); err != nil {
		d.log.Warn().Err(err).Str("key", c.Key).Msg("unreadable run record ignored")
		return
	}
	d.recorded(&run)
	// A lost or failed run is kept while its job reschedules it.
	if run.State.Terminal() && !d.willReschedule(&run) {
		d.untrack(c.Key)
		return
	}
	d.track(c.Key, run, c.Rev)
}

// recorded notes that the run's tick has a record.
func (d *dispatcher) recorded(run *subjects.Run) {
	je := d.jobs[run.Job]
	if je == nil {
		return // a tick of no version this ticker knows
	}
	tick := time.Unix(run.Scheduled, 0)
	if !tick.After(je.facts.settled) {
		return
	}
	if je.facts.records == nil {
		je.facts.records = map[int64]recordState{}
	}
	je.facts.records[run.Scheduled] = recordWritten
}

// track records the run's current state, keeping the per-job and per-node counts.
func (d *dispatcher) track(key string, run subjects.Run, rev uint64) {
	e := d.runs[key]
	if e == nil {
		// Seen for the first time: its launch counts as published now, so that it is
		// published again only if it then stays unclaimed for republishAfter.
		e = &runEntry{key: key, published: d.clock.Now()}
		d.runs[key] = e
	}
	if a, b := e.run.Current(), run.Current(); a == nil || b == nil || a.ID != b.ID || a.Node != b.Node {
		e.republished = 0
	}
	d.recountEntry(e, func() { e.run, e.rev, e.busy = run, rev, false })
}

func (d *dispatcher) untrack(key string) {
	if e := d.runs[key]; e != nil {
		if e.countedJob {
			d.dirty[e.run.Job] = true // its open runs changed
		}
		d.uncount(e)
		delete(d.runs, key)
	}
}

// recountEntry takes e out of the counts, applies change, and counts it again. A job
// whose open runs changed by it is marked dirty (its stored state lists them); one
// whose run only moved from queued to running is not.
func (d *dispatcher) recountEntry(e *runEntry, change func()) {
	was := e.countedJob
	d.uncount(e)
	change()
	d.count(e)
	if e.countedJob != was {
		d.dirty[e.run.Job] = true
	}
}

// count adds the run to the active runs of its job (for prohibit_overlap) and of its
// node (for placement): a queued or running run, and a lost one that its job will
// launch again, which a newer tick must not overtake.
func (d *dispatcher) count(e *runEntry) {
	run := &e.run
	if !run.State.Terminal() || d.willReschedule(run) {
		e.countedJob = true
		if d.active[run.Job] == nil {
			d.active[run.Job] = map[string]*runEntry{}
		}
		d.active[run.Job][e.key] = e
	}
	if a := run.Current(); !run.State.Terminal() && a != nil && a.Node != "" {
		e.countedNode = a.Node
		d.byNode[a.Node]++
	}
}

// recount counts the job's runs again after its current version changed: whether a
// lost run awaits a reschedule depends on the job's policy.
func (d *dispatcher) recount(jobKey string) {
	for _, e := range d.runs {
		if e.run.Job == jobKey {
			d.recountEntry(e, func() {})
		}
	}
}

func (d *dispatcher) uncount(e *runEntry) {
	if e.countedJob {
		delete(d.active[e.run.Job], e.key)
		if len(d.active[e.run.Job]) == 0 {
			delete(d.active, e.run.Job)
		}
	}
	if e.countedNode != "" {
		d.byNode[e.countedNode]--
	}
	e.countedJob, e.countedNode = false, ""
}

// willReschedule reports whether a run that ended runs again by its job's reschedule
// policy (awaitsReschedule). A run of a tick before its job was last deleted does
// not: it belongs to the deleted job, whose policy is gone with it, not to the job
// made again under the same key.
func (d *dispatcher) willReschedule(run *subjects.Run) bool {
	je := d.jobs[run.Job]
	if je == nil || je.plan == nil {
		return false
	}
	return awaitsReschedule(run, je.plan.policy, je.owns(run))
}

// owns reports whether the run is of the job as it is now: its tick came after the
// job was last deleted.
func (je *jobEntry) owns(run *subjects.Run) bool {
	return time.Unix(run.Scheduled, 0).After(je.state.Deleted)
}

// activeOf lists the job's active runs, oldest tick first, for decide.
func (d *dispatcher) activeOf(jobKey string) []activeRun {
	runs := d.active[jobKey]
	if len(runs) == 0 {
		return nil
	}
	out := make([]activeRun, 0, len(runs))
	for _, e := range runs {
		out = append(out, activeRun{id: e.run.ID, key: e.key, confirmed: e.confirmed, node: e.run.Node})
	}
	slices.SortFunc(out, func(a, b activeRun) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return out
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
