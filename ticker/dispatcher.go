package ticker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// Tunables of the dispatcher.
const (
	// sweepEvery is how often the dispatcher looks for lost runs, launches to re-place
	// and reschedules that are due.
	sweepEvery = 500 * time.Millisecond
	// republishAfter is how long a launch may sit unclaimed on a ready node before the
	// dispatcher publishes it again (same message ID: a duplicate within the stream's
	// de-duplication window is dropped; a second copy is claimed at most once).
	republishAfter = 15 * time.Second
	// maxSkipRecords bounds how many ticks older than the catch-up window get a record
	// each after a long outage; older ones are summed up in one event.
	maxSkipRecords = 1000
	// ioTimeout bounds each write the dispatcher makes.
	ioTimeout = 5 * time.Second
	// maxInflight bounds concurrent writes, so a burst of launches is pipelined
	// without flooding the servers.
	maxInflight = 1024
	// maxFill bounds the job changes one read takes past the watch.
	maxFill = 256
	// fillTimeout bounds that read, which a term waits for before it launches.
	fillTimeout = 250 * time.Millisecond
	// gapsTimeout bounds it when a term also reads job versions it may have missed.
	gapsTimeout = 2 * time.Second
	// gapReaders bounds the jobs whose versions are read at once: after a mass update
	// of hourly jobs, a term may have thousands to read before it launches.
	gapReaders = 32
	// lateAfter is how long after it was stored a job change counts as learned late
	// (a lagging watch): a newer one may be stored already, so its ticks wait for a
	// read of the bucket's changes after it (walkLate).
	lateAfter = time.Second
	// startBudget is how long a term may wait for those reads to succeed, and a job
	// learned late for its walk.
	startBudget = 2 * time.Second
	// defaultCatchupWindow applies to runs whose job is gone.
	defaultCatchupWindow = 10 * time.Minute
)

// leaseView is what the dispatcher needs of the ticker lock.
type leaseView interface {
	// Valid reports whether the lease still holds.
	Valid() bool
	// Rev is the lock's revision, written on launches.
	Rev() uint64
	// Lost is closed when the lease ends.
	Lost() <-chan struct{}
}

// jobEntry is one key of the jobs bucket as the dispatcher sees it.
type jobEntry struct {
	key      string
	plan     *jobPlan // of the version that runs: the newest valid one, nil if none
	state    subjects.JobState
	next     time.Time // next tick; zero = never
	index    int       // in the launch heap; -1 when not in it
	lastTick time.Time // newest tick launched or recorded skipped
	// open holds the ticks (Unix seconds) whose record this term is still writing or
	// will retry: the persisted LastTick stays below them (see settledTick).
	open    []int64
	written time.Time // when the version that runs was stored; zero if only its state knows it
	rr      int       // round-robin position for spreading runs over nodes
}

// nodeEntry is a client node and when its record was last written.
type nodeEntry struct {
	member  subjects.Member
	attrs   map[string]string
	written time.Time
	rev     uint64
	polled  time.Time // when the sweep last read the record itself
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
	// What the entry adds to the per-job and per-node counts, so that it takes away
	// exactly that.
	countedJob  bool
	countedNode string
}

// result is what an asynchronous write reports back to the loop.
type result struct {
	key    string
	job    string
	tick   time.Time
	create bool // the write made a new run record
	// skipped is the reason of a new record of a skipped tick.
	skipped string
	err     error
	apply   func() // run in the loop on success
}

// fillResult is what a read of job changes past the watch found.
type fillResult struct {
	began    time.Time // when the read began
	changes  []Change
	versions map[string][]Change // by job: versions read from gaps (versionGaps)
	runsLast uint64              // at a term's start: the runs bucket's newest revision
	err      error
	gapsErr  error
}

// retryTick is a tick whose run record could not be written; the sweep tries again.
type retryTick struct {
	job  string
	tick time.Time
	// skipped is the reason the tick was to be recorded skipped for, if it was: it
	// is recorded skipped again (a tick catchup: latest skipped must not launch).
	skipped string
}

// lateWalk is a job changed while leading whose change was learned late: its ticks
// are walked from settled, against the job's state stored then, once the bucket's
// changes after it were read.
type lateWalk struct {
	since   time.Time
	settled time.Time
	stored  subjects.JobState
}

// forceRequest is a `job periodic force` request waiting for its reply.
type forceRequest struct {
	job   string
	reply func(subjects.ForceReply)
}

// dispatcher is the ticker's scheduler: one loop owns all state, fed by bucket
// changes, leadership terms, a timer at the soonest tick, a sweep, and write results.
// Every server runs one all the time: a standby keeps its view of jobs, nodes and runs
// current from the buckets, so that when it wins the lock it launches at once, without
// reading anything (and without the JetStream meta leader, which new watches need and
// which may have died with the previous holder). Only the leader writes.
type dispatcher struct {
	store   Store
	clock   clock.Clock
	lease   leaseView // nil while standing by
	leading bool
	log     zerolog.Logger
	planner planner
	// loadedCh is closed once every bucket was read.
	loadedCh chan struct{}

	jobs    map[string]*jobEntry
	states  map[string]subjects.JobState // as stored in the job state bucket, by job key
	pending map[string]Change            // job versions read before every bucket was read
	history map[string][]jobVersion      // versions of jobs whose ticks may not have settled
	deleted map[string]time.Time         // when jobs not made again since were deleted, as seen here
	jobsRev uint64                       // the newest jobs bucket revision applied
	filling time.Time                    // when a read of job changes the watch may lack began; zero when done
	fills   chan fillResult
	// starting is a term's lease while the job changes the watch may lack are read:
	// the term starts (lease, leading) once they were, or after startBudget.
	starting      leaseView
	startingSince time.Time
	// awaitRuns is the runs bucket revision a starting term waits for the watch to
	// send: a run record the previous holder made must be known before a tick of
	// its job launches (prohibit_overlap). runsRev is the newest the watch sent.
	awaitRuns, runsRev uint64
	newest             map[string]int64 // newest tick with a record, read before that
	retries            []retryTick
	late               map[string]lateWalk // jobs whose walk waits for a read (walkLate)
	heap               launchHeap
	nodes              map[string]*nodeEntry
	names              []string // node names, sorted: placement walks them in a stable order
	runs               map[string]*runEntry
	byJob              map[string]int // non-terminal runs per job
	byNode             map[string]int // queued and running allocations per node
	dirty              map[string]bool
	newestBeat         time.Time // the newest node heartbeat seen
	flowSince          time.Time // since when node heartbeats have landed without a pause
	ready              bool      // every bucket was read
	results            chan result
	inflight           chan struct{}
	ctx                context.Context
}

func newDispatcher(store Store, clk clock.Clock, log zerolog.Logger) *dispatcher {
	return &dispatcher{
		store: store, clock: clk, log: log,
		jobs: map[string]*jobEntry{}, states: map[string]subjects.JobState{}, pending: map[string]Change{}, newest: map[string]int64{},
		history: map[string][]jobVersion{}, deleted: map[string]time.Time{}, late: map[string]lateWalk{},
		nodes: map[string]*nodeEntry{}, runs: map[string]*runEntry{},
		byJob: map[string]int{}, byNode: map[string]int{}, dirty: map[string]bool{},
		results: make(chan result, maxInflight), inflight: make(chan struct{}, maxInflight), fills: make(chan fillResult, 1),
		loadedCh: make(chan struct{}),
	}
}

// loadedSignal is closed once the dispatcher has read every bucket: from then on,
// leading needs no reading.
func (d *dispatcher) loadedSignal() <-chan struct{} { return d.loadedCh }

// run keeps the dispatcher's view of the buckets until ctx ends, and leads during each
// term it receives from terms, until that term's lease is lost.
func (d *dispatcher) run(ctx context.Context, terms <-chan leaseView, force <-chan forceRequest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.ctx = ctx
	changes := make(chan Change, 1024)
	readyCh := d.watch(ctx, changes)
	timer := d.clock.NewTimer(time.Hour)
	defer timer.Stop()
	sweep := d.clock.NewTimer(sweepEvery)
	defer sweep.Stop()
	var lost <-chan struct{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case l := <-terms:
			d.starting, d.startingSince, lost, d.awaitRuns = l, d.clock.Now(), l.Lost(), 0
			if d.ready {
				d.fillJobs(0, d.clock.Now(), d.versionGaps())
			}
		case <-lost:
			lost = nil
			d.follow()
		case c := <-changes:
			d.apply(c)
		case <-readyCh:
			readyCh = nil
			// Every initial value was sent before ready closed, but may still sit in
			// the channel's buffer.
			for len(changes) > 0 {
				d.apply(<-changes)
			}
			d.loaded()
			if d.starting != nil {
				d.fillJobs(0, d.clock.Now(), d.versionGaps())
			}
		case r := <-d.results:
			d.finish(r)
		case f := <-d.fills:
			d.filled(f)
		case f := <-force:
			d.force(f)
		case <-timer.C:
			d.fireDue()
		case <-sweep.C:
			d.sweep()
			sweep.Reset(sweepEvery)
		}
		d.resetTimer(timer)
	}
}

// watch starts the store's watch, retrying while JetStream cannot make it yet (its
// consumers need a meta leader).
func (d *dispatcher) watch(ctx context.Context, changes chan Change) <-chan struct{} {
	for {
		wctx, cancel := context.WithCancel(ctx)
		ready, err := d.store.Watch(wctx, changes)
		if err == nil {
			context.AfterFunc(ctx, cancel)
			return ready
		}
		cancel()
		d.log.Warn().Err(err).Msg("cannot watch the buckets yet; retrying")
		timer := d.clock.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

func (d *dispatcher) resetTimer(timer *time.Timer) {
	if !d.ready || !d.leading {
		return
	}
	wait := time.Hour
	if top := d.heap.peek(); top != nil {
		wait = max(top.next.Sub(d.clock.Now()), 0)
	}
	timer.Stop()
	select {
	case <-timer.C:
	default:
	}
	timer.Reset(wait)
}

// apply takes one bucket change into the loop's state.
func (d *dispatcher) apply(c Change) {
	switch c.Kind {
	case JobStateChanged:
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
		if je != nil && !d.leading && st.LastTick > 0 && st.LastTick > je.lastTick.Unix() {
			// The leader's progress, so that this standby resumes from it.
			je.lastTick, je.state.LastTick = time.Unix(st.LastTick, 0), st.LastTick
		}
		if je == nil && st.Removed {
			delete(d.history, st.Job) // the leader saw the deletion
			if !st.Deleted.Before(d.deleted[st.Job]) {
				delete(d.deleted, st.Job) // and recorded when it was
			}
		} else if je != nil {
			d.forget(st.Job, je.settledTick())
		}
	case JobChanged:
		if c.Rev <= d.jobsRev {
			return // read from the bucket already (fillJobs)
		}
		d.jobsRev = c.Rev
		d.applyJob(c)
	case NodeChanged:
		d.applyNode(c)
	case RunChanged:
		d.runsRev = max(d.runsRev, c.Rev)
		d.applyRun(c)
		if d.starting != nil && d.awaitRuns > 0 && d.runsRev >= d.awaitRuns {
			d.startTerm()
		}
	}
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
		d.nodes[m.Name].polled = old.polled
	}
	if c.Written.Sub(d.newestBeat) > m.TTL.Duration()/2 {
		d.flowSince = c.Written // heartbeats land again after a pause
	}
	d.newestBeat = laterOf(d.newestBeat, c.Written)
}

func (d *dispatcher) applyRun(c Change) {
	if c.Deleted {
		d.untrack(c.Key)
		return
	}
	var run subjects.Run
	if err := json.Unmarshal(c.Value, &run); err != nil {
		d.log.Warn().Err(err).Str("key", c.Key).Msg("unreadable run record ignored")
		return
	}
	// A run record does not move the job's last tick: records land out of order
	// (catch-up writes are pipelined, failed ones retried), so a newer one says
	// nothing about the ticks before it. Only the leader's settled tick does.
	if !run.Forced && !d.ready && d.newest[run.Job] < run.Scheduled {
		d.newest[run.Job] = run.Scheduled
	}
	// A lost run is kept until the sweep has seen whether its job reschedules it.
	if run.State.Terminal() && run.State != subjects.StateLost {
		d.untrack(c.Key)
		return
	}
	d.track(c.Key, run, c.Rev)
}

// track records the run's current state, keeping the per-job and per-node counts.
func (d *dispatcher) track(key string, run subjects.Run, rev uint64) {
	e := d.runs[key]
	if e == nil {
		// Seen for the first time: its launch counts as published now, so that it is
		// published again only if it then stays unclaimed for republishAfter.
		e = &runEntry{key: key, published: d.clock.Now()}
		d.runs[key] = e
	} else {
		d.uncount(e)
	}
	if a, b := e.run.Current(), run.Current(); a == nil || b == nil || a.ID != b.ID || a.Node != b.Node {
		e.republished = 0
	}
	e.run, e.rev, e.busy = run, rev, false
	d.count(e)
}

func (d *dispatcher) untrack(key string) {
	if e := d.runs[key]; e != nil {
		d.uncount(e)
		delete(d.runs, key)
	}
}

// count adds the run to the active runs of its job (for prohibit_overlap) and of its
// node (for placement): a queued or running run, and a lost one that its job will
// launch again, which a newer tick must not overtake.
func (d *dispatcher) count(e *runEntry) {
	run := &e.run
	if !run.State.Terminal() || run.State == subjects.StateLost && d.willReschedule(run) {
		e.countedJob = true
		d.byJob[run.Job]++
	}
	if a := run.Current(); !run.State.Terminal() && a != nil && a.Node != "" {
		e.countedNode = a.Node
		d.byNode[a.Node]++
	}
}

// recount counts the job's runs again after the job was made or its reschedule
// attempts changed: whether a lost run awaits a reschedule, and so counts for
// prohibit_overlap, depends on the job (a lost run read while its job was deleted
// counted for nothing).
func (d *dispatcher) recount(jobKey string) {
	for _, e := range d.runs {
		if e.run.Job == jobKey {
			d.uncount(e)
			d.count(e)
		}
	}
}

func (d *dispatcher) uncount(e *runEntry) {
	if e.countedJob {
		d.byJob[e.run.Job]--
	}
	if e.countedNode != "" {
		d.byNode[e.countedNode]--
	}
	e.countedJob, e.countedNode = false, ""
}

// willReschedule reports whether a lost run has reschedule attempts left. A run of
// a tick before its job was last deleted has none: it belongs to the deleted job,
// whose policy is gone with it, not to the job made again under the same key.
func (d *dispatcher) willReschedule(run *subjects.Run) bool {
	je := d.jobs[run.Job]
	return je != nil && je.plan != nil && run.Attempts < je.plan.attempts && je.owns(run)
}

// owns reports whether the run is of the job as it is now: its tick came after the
// job was last deleted.
func (je *jobEntry) owns(run *subjects.Run) bool {
	return time.Unix(run.Scheduled, 0).After(je.state.Deleted)
}

// takeDeleted gives a job made again the time of the deletion this server saw
// before it, if later than the one its stored state knows.
func (d *dispatcher) takeDeleted(je *jobEntry) {
	if at, ok := d.deleted[je.key]; ok {
		je.state.Deleted = laterOf(je.state.Deleted, at)
		delete(d.deleted, je.key)
	}
}

// applyJob takes a new version (or the removal) of a job. Until every bucket was read
// it only remembers it. A standby keeps the version; the leader also records the job's
// state and schedules it.
func (d *dispatcher) applyJob(c Change) {
	key := c.Key
	if c.Deleted {
		d.remember(c, nil)
		d.deleted[key] = c.Written
	}
	if !d.ready {
		if c.Deleted {
			delete(d.pending, key)
		} else {
			d.pending[key] = c
		}
		return
	}
	je := d.jobs[key]
	if c.Deleted {
		if je == nil {
			return
		}
		d.heap.remove(je)
		delete(d.jobs, key)
		if d.leading {
			if _, waits := d.late[key]; !waits {
				delete(d.history, key)
			}
			st := je.state
			st.Removed, st.Updated, st.Deleted = true, d.clock.Now().UTC(), c.Written
			d.putState(key, st)
			d.log.Info().Str("job", key).Msg("job removed; it launches no more")
		}
		return
	}
	made, before := je == nil, (*jobPlan)(nil)
	if je != nil {
		before = je.plan
	}
	if je == nil {
		// Made again after a deletion: its stored state knows the previous version
		// and its settled tick, which a term caught up from (lead).
		je = &jobEntry{key: key, index: -1, state: d.states[key]}
		je.state.Job = key
		d.takeDeleted(je)
		if je.state.LastTick > 0 {
			je.lastTick = time.Unix(je.state.LastTick, 0)
		}
		d.jobs[key] = je
	}
	prevRev := je.state.Revision
	j, err := job.Parse(key, c.Value)
	now := d.clock.Now()
	_, waits := d.late[key]
	deferred := d.leading && (waits || now.Sub(c.Written) > lateAfter)
	if deferred {
		d.walkAfterRead(je, now) // before forget, which must keep what the walk needs
	}
	st := je.state
	removed := made || st.Removed // made here after a deletion, or one a leader recorded
	st.Removed, st.Updated = false, now.UTC()
	if err != nil {
		st.Valid, st.Error = false, err.Error()
		if removed {
			// Made again, invalid: no valid version of it exists since the removal.
			st.Spec, st.Revision = "", 0
		} else if je.plan == nil && st.Spec != "" {
			// A previous term stored the last valid version: keep running it.
			if prev, perr := job.Parse(key, []byte(st.Spec)); perr == nil {
				d.setPlan(je, prev)
			}
		}
		if d.leading {
			d.log.Error().Str("job", key).Uint64("revision", c.Rev).Err(err).Msg("invalid job file; the last valid version keeps running")
		}
	} else {
		st.Valid, st.Error, st.Spec, st.Revision = true, "", d.specOf(je, c.Value), c.Rev
		je.written = c.Written
		d.setPlan(je, j)
		d.remember(c, je.plan)
		d.forget(key, je.settledTick())
		d.log.Debug().Str("job", key).Uint64("revision", c.Rev).Msg("job loaded")
	}
	je.state = st
	if je.plan != nil && (made || before != nil && before.attempts != je.plan.attempts) {
		d.recount(key)
	}
	if d.leading {
		if !deferred && (err == nil || je.plan != nil && je.index < 0) {
			// Ticks of a new version are due from when it was stored.
			d.schedule(je, versionStart(je.written, je.lastTick, err == nil && c.Rev != prevRev), now)
		}
		d.putState(key, st)
	}
}

// walkAfterRead holds the ticks of a job whose change was learned late until the
// bucket's changes after it were read: launching its ticks up to now at once would
// launch those of a version that may have been replaced or deleted since.
func (d *dispatcher) walkAfterRead(je *jobEntry, now time.Time) {
	d.heap.remove(je)
	if _, waits := d.late[je.key]; !waits {
		d.late[je.key] = lateWalk{since: now, settled: je.settledTick(), stored: d.states[je.key]}
	}
	if d.filling.IsZero() {
		d.fillJobs(0, now, nil)
	}
}

// walkLate walks the jobs learned late once f, a read that began after they were,
// read the changes after them; or, failing that, once they waited startBudget: then
// on the watch's view. It reads again for those still waiting.
func (d *dispatcher) walkLate(f fillResult, now time.Time) {
	for key, lw := range d.late {
		if f.err == nil && !f.began.Before(lw.since) || now.Sub(lw.since) >= startBudget {
			delete(d.late, key)
			d.walk(key, lw.stored, lw.settled, now)
		}
	}
	if len(d.late) > 0 && d.filling.IsZero() {
		wait := time.Duration(0)
		if f.err != nil {
			wait = fillTimeout / 5 // not a tight loop of failing reads
		}
		d.fillJobs(wait, now, nil)
	}
}

// walk handles a job's ticks from its settled tick through every version it had since
// (catchUpVersions), launched or recorded skipped, and schedules the ones to come.
func (d *dispatcher) walk(key string, stored subjects.JobState, settled, now time.Time) {
	je := d.jobs[key]
	if je == nil || je.plan == nil {
		// Deleted, or made again invalid: no version runs, and the ticks its
		// versions had due are recorded skipped.
		d.catchUpVersions(key, nil, stored, settled, now)
		delete(d.history, key)
		return
	}
	if from := d.catchUpVersions(key, je, stored, settled, now); !from.IsZero() {
		d.schedule(je, from, now)
	}
}

// setPlan makes the job's plan from its parsed version.
func (d *dispatcher) setPlan(je *jobEntry, j *job.Job) {
	p, err := d.planner.plan(j)
	if err != nil {
		d.log.Error().Str("job", je.key).Err(err).Msg("job not planned")
		return
	}
	je.plan = p
}

// specOf is a job file as its state records it, sharing the copy the dispatcher
// holds already (the running version's, or the stored state's) when it is the same.
func (d *dispatcher) specOf(je *jobEntry, value []byte) string {
	if je.state.Spec == string(value) {
		return je.state.Spec
	}
	if stored := d.states[je.key].Spec; stored == string(value) {
		return stored
	}
	return string(value)
}

// loaded runs once every bucket has been read: it makes the jobs' entries, each
// knowing its last launched tick.
func (d *dispatcher) loaded() {
	d.ready = true
	defer close(d.loadedCh)
	for key, c := range d.pending {
		je := &jobEntry{key: key, index: -1, state: d.states[key]}
		je.state.Job = key
		d.takeDeleted(je)
		// The persisted tick is settled: every tick up to it has a record. Without one,
		// the newest run record is the best guess.
		last := je.state.LastTick
		if last == 0 {
			last = d.newest[key]
		}
		if last > 0 {
			je.lastTick = time.Unix(last, 0)
		}
		d.jobs[key] = je
		d.applyJob(c)
	}
	d.pending, d.newest = nil, nil
	for _, e := range d.runs {
		// Lost runs read before their jobs count for overlap only now (willReschedule).
		d.uncount(e)
		d.count(e)
	}
	d.log.Info().Int("jobs", len(d.jobs)).Int("nodes", len(d.nodes)).Int("active_runs", len(d.runs)).Msg("ticker loaded")
}

// lead starts a term, once the job changes the watch may lack were read (fillJobs):
// launches a previous holder made but may not have published are published again,
// each job's state is recorded where it changed, and each job's versions since its
// settled tick are walked (catchUpVersions), which catches up what was due while
// nobody held the lock.
func (d *dispatcher) lead() {
	now := d.clock.Now()
	for _, e := range d.runs {
		if a := e.run.Current(); e.run.State == subjects.StateQueued && a != nil && a.Node != "" && e.rev != 0 {
			d.publishAgain(e, 0)
		}
	}
	for key := range d.history {
		if d.jobs[key] != nil {
			continue
		}
		// Deleted while nobody led: its ticks due before that are recorded skipped.
		stored := d.states[key]
		var settled time.Time
		if stored.LastTick > 0 {
			settled = time.Unix(stored.LastTick, 0)
		}
		d.walk(key, stored, settled, now)
		if !stored.Removed && stored.Spec != "" {
			stored.Removed, stored.Updated = true, now.UTC()
			stored.Deleted = laterOf(stored.Deleted, d.deleted[key])
			d.putState(key, stored)
		}
	}
	for key, je := range d.jobs {
		stored := d.states[key]
		if stored.Valid != je.state.Valid || stored.Error != je.state.Error || stored.Revision != je.state.Revision ||
			!stored.Deleted.Equal(je.state.Deleted) {
			d.putState(key, je.state)
		}
		// Versions the job had while nobody led have their ticks caught up too.
		d.walk(key, stored, je.lastTick, now)
	}
	d.log.Info().Int("jobs", len(d.jobs)).Int("nodes", len(d.nodes)).Int("active_runs", len(d.runs)).
		Dur("took", d.clock.Now().Sub(now)).Msg("ticker leading")
}

// follow ends a term: nothing more is written; writes under way fail on the lease.
// Each job falls back to its settled tick, so that the next term (here or elsewhere)
// catches up every tick this one could not record, even behind newer records.
func (d *dispatcher) follow() {
	d.lease, d.leading, d.starting, d.awaitRuns = nil, false, nil, 0
	d.retries = nil
	clear(d.late) // the next term walks every job from its settled tick
	for _, je := range d.jobs {
		je.lastTick, je.open = je.settledTick(), nil
	}
	clear(d.dirty)
	for key, e := range d.runs {
		if e.rev == 0 {
			d.untrack(key) // made by this term, never confirmed
		}
	}
	d.log.Info().Msg("ticker standing by")
}

// schedule handles the ticks of je after from up to now (catch-up) and sets its next:
// ticks older than the catch-up window are recorded skipped (one record each for the
// newest maxSkipRecords, one event for the rest); with catchup: latest only the newest
// tick in the window launches.
func (d *dispatcher) schedule(je *jobEntry, from, now time.Time) {
	sched := je.plan.schedule
	d.catchUp(je, sched, from, now, now)
	d.heap.set(je, sched.Next(now))
}

// catchUp handles the ticks of sched after from up to until, at now.
func (d *dispatcher) catchUp(je *jobEntry, sched interface{ Next(time.Time) time.Time }, from, until, now time.Time) {
	window := je.plan.window
	var due, old []time.Time
	oldCount, firstOld := 0, time.Time{}
	for t := sched.Next(from); !t.IsZero() && !t.After(until); t = sched.Next(t) {
		if now.Sub(t) <= window {
			due = append(due, t)
			continue
		}
		if oldCount == 0 {
			firstOld = t
		}
		oldCount++
		if old = append(old, t); len(old) > 2*maxSkipRecords {
			old = append(old[:0], old[len(old)-maxSkipRecords:]...)
		}
		if oldCount >= 100*maxSkipRecords {
			t = now.Add(-window) // a very long outage: do not walk all of it
		}
	}
	if len(old) > maxSkipRecords {
		old = old[len(old)-maxSkipRecords:]
	}
	reason := fmt.Sprintf("outside the catch-up window of %s", window)
	if n := oldCount - len(old); n > 0 {
		d.store.PublishEvent(&subjects.Event{
			Job: je.key, State: subjects.StateSkipped, Time: now.UTC(),
			Reason: fmt.Sprintf("%d ticks from %s to before %s skipped: %s", n, firstOld.UTC().Format(time.RFC3339), old[0].UTC().Format(time.RFC3339), reason),
		})
		d.log.Warn().Str("job", je.key).Int("ticks", n).Msg("ticks skipped without a record each: outside the catch-up window")
	}
	for _, t := range old {
		d.skip(je, t, reason)
	}
	for i, t := range due {
		if je.plan.latest && i < len(due)-1 {
			d.skip(je, t, "catchup: latest launches only the newest missed tick")
			continue
		}
		d.launch(je, t, false, nil)
	}
}

// fireDue handles every job whose tick has come.
func (d *dispatcher) fireDue() {
	if !d.leading {
		return
	}
	now := d.clock.Now()
	for {
		je := d.heap.peek()
		if je == nil || je.next.After(now) {
			return
		}
		tick := je.next
		if now.Sub(tick) > je.plan.window {
			d.skip(je, tick, "outside the catch-up window")
		} else {
			d.launch(je, tick, false, nil)
		}
		d.heap.set(je, je.plan.schedule.Next(tick))
	}
}

// skip records tick as skipped with reason.
func (d *dispatcher) skip(je *jobEntry, tick time.Time, reason string) {
	now := d.clock.Now()
	run := subjects.Run{
		ID: subjects.RunID(je.key, tick), Job: je.key, Scheduled: tick.Unix(),
		State: subjects.StateSkipped, Reason: reason, Late: subjects.MillisOf(now.Sub(tick)),
	}
	d.create(je, tick, run, nil)
}

// launch makes the run of je for tick: skipped if prohibit_overlap finds one still
// running, else queued on a chosen node (or on none, waiting for one).
func (d *dispatcher) launch(je *jobEntry, tick time.Time, forced bool, reply func(subjects.ForceReply)) {
	d.launchAfter(je, tick, forced, reply, false)
}

// launchAfter is launch; rechecked says the job's active runs were just read again.
func (d *dispatcher) launchAfter(je *jobEntry, tick time.Time, forced bool, reply func(subjects.ForceReply), rechecked bool) {
	now := d.clock.Now()
	key := subjects.RunKey(je.key, tick)
	if _, known := d.runs[key]; known {
		if reply != nil {
			reply(subjects.ForceReply{Error: "a run for this second exists already"})
		}
		return
	}
	run := subjects.Run{
		ID: subjects.RunID(je.key, tick), Job: je.key, Scheduled: tick.Unix(), Forced: forced,
		Late: subjects.MillisOf(now.Sub(tick)),
	}
	if je.plan.overlap && d.byJob[je.key] > 0 {
		if keys := d.confirmedActive(je.key); !rechecked && keys != nil {
			d.recheck(je, tick, forced, reply, keys)
			return
		}
		run.State, run.Reason = subjects.StateSkipped, "prohibit_overlap: "+d.activeRunOf(je.key)+" is still running"
		if forced {
			reply(subjects.ForceReply{Skipped: run.Reason})
			return
		}
		d.create(je, tick, run, nil)
		return
	}
	run.State = subjects.StateQueued
	run.Allocations = []subjects.Allocation{d.allocate(je, now, &run)}
	d.create(je, tick, run, reply)
}

// confirmedActive returns the keys of the job's active runs when all of them were read
// from the bucket; nil when one is this ticker's own, not yet confirmed.
func (d *dispatcher) confirmedActive(jobKey string) []string {
	var keys []string
	for key, e := range d.runs {
		if e.run.Job != jobKey || !e.countedJob {
			continue
		}
		if e.rev == 0 {
			return nil
		}
		keys = append(keys, key)
	}
	return keys
}

// recheck reads the job's active runs from the bucket before a tick is skipped for
// overlapping them: the watch may lag (for seconds after its stream changed leader),
// and a run it still shows running may have ended.
func (d *dispatcher) recheck(je *jobEntry, tick time.Time, forced bool, reply func(subjects.ForceReply), keys []string) {
	type fresh struct {
		run subjects.Run
		rev uint64
	}
	if !forced {
		je.openTick(tick)
	}
	d.async(result{key: subjects.RunKey(je.key, tick), job: je.key, tick: tick, create: true}, func(ctx context.Context, _ leaseView) (func(), error) {
		got := map[string]fresh{}
		for _, key := range keys {
			if run, rev, err := d.store.GetRun(ctx, key); err == nil {
				got[key] = fresh{*run, rev}
			}
		}
		return func() {
			for key, f := range got {
				if e := d.runs[key]; e != nil && f.rev > e.rev {
					d.applyRun(Change{Kind: RunChanged, Key: key, Value: mustJSON(f.run), Rev: f.rev})
				}
			}
			switch {
			case d.jobs[je.key] == je && je.plan != nil:
				d.launchAfter(je, tick, forced, reply, true)
			case forced:
				reply(subjects.ForceReply{Error: "the job was removed"})
			default:
				d.skip(je, tick, "job removed before its tick could be recorded")
			}
		}, nil
	})
}

// activeRunOf names a non-terminal run of the job, for skip reasons.
func (d *dispatcher) activeRunOf(jobKey string) string {
	for _, e := range d.runs {
		if e.run.Job == jobKey && e.countedJob {
			return e.run.ID
		}
	}
	return "a run"
}

// firstActive is the run of the job that prohibit_overlap lets go on: one placed or
// running, else the oldest tick still waiting, for a node or (lost) for its
// reschedule.
func (d *dispatcher) firstActive(jobKey string) *runEntry {
	var first *runEntry
	for _, e := range d.runs {
		if e.run.Job != jobKey || !e.countedJob {
			continue
		}
		if a := e.run.Current(); e.run.State == subjects.StateRunning || e.run.State == subjects.StateQueued && a != nil && a.Node != "" {
			return e
		}
		if first == nil || e.run.Scheduled < first.run.Scheduled {
			first = e
		}
	}
	return first
}

// allocate makes a queued allocation on the node place picks; with none eligible it
// has no node and run.Reason says why.
func (d *dispatcher) allocate(je *jobEntry, now time.Time, run *subjects.Run) subjects.Allocation {
	a := subjects.Allocation{ID: newAllocID(), State: subjects.StateQueued, Created: now.UTC()}
	run.Late = subjects.MillisOf(now.Sub(time.Unix(run.Scheduled, 0)))
	node, why := d.place(je, now)
	if node == nil {
		run.Reason = "waiting: " + why
		return a
	}
	run.Reason = ""
	a.Node, a.NodeID = node.member.Name, node.member.ID
	return a
}

// place picks the eligible node with the fewest active allocations, rotating among
// equals so that runs spread over the nodes. It returns nil and why when none fits.
func (d *dispatcher) place(je *jobEntry, now time.Time) (*nodeEntry, string) {
	var eligible []*nodeEntry
	why, ready := "no node is registered", 0
	for _, name := range d.names {
		n := d.nodes[name]
		if !n.member.Alive(n.written, now) {
			continue
		}
		ready++
		if ok, reason := je.plan.placement.Eligible(n.attrs); !ok {
			why = reason
			continue
		}
		if n.member.Drain {
			why = "every eligible node is draining"
			continue
		}
		eligible = append(eligible, n)
	}
	if len(eligible) == 0 {
		if ready == 0 && len(d.nodes) > 0 {
			why = "no node is ready"
		}
		return nil, "no eligible node: " + why
	}
	start := je.rr % len(eligible)
	je.rr++
	best := eligible[start]
	for i := 1; i < len(eligible); i++ {
		n := eligible[(start+i)%len(eligible)]
		if d.byNode[n.member.Name] < d.byNode[best.member.Name] {
			best = n
		}
	}
	return best, ""
}

// create stores a new run record and, if it has a node, publishes its launch, off the
// loop. A record that exists already means another ticker made the run: nothing more
// is done (this is what keeps two tickers from launching a tick twice).
func (d *dispatcher) create(je *jobEntry, tick time.Time, run subjects.Run, reply func(subjects.ForceReply)) {
	key := subjects.RunKey(je.key, tick)
	if !run.State.Terminal() {
		d.track(key, run, 0)
		d.runs[key].busy = true
	}
	var task []byte
	if je.plan != nil {
		task = je.plan.task
	}
	if !run.Forced {
		je.openTick(tick)
	}
	var skipped string
	if run.State == subjects.StateSkipped {
		skipped = run.Reason
	}
	d.async(result{key: key, job: je.key, tick: tick, create: true, skipped: skipped}, func(ctx context.Context, l leaseView) (func(), error) {
		rev, err := d.store.CreateRun(ctx, key, &run)
		if errors.Is(err, ErrConflict) {
			// Only a record read back settles the tick: a stream's leader refuses a
			// create while another one for the key is still proposed, and that one
			// may never be stored (soak 17 had a tick with no record that a new
			// holder took for settled). Until it is read, the create is retried.
			if _, _, gerr := d.store.GetRun(ctx, key); gerr != nil {
				return nil, fmt.Errorf("create run record: refused as existing, yet not read back: %w", gerr)
			}
			if reply != nil {
				reply(subjects.ForceReply{Error: "a run for this second exists already"})
			}
			return func() {
				// The run exists already: its record (from the watch) is the truth, not
				// the optimistic entry made for it.
				if e := d.runs[key]; e != nil && e.rev == 0 {
					d.untrack(key)
				}
				d.markTick(&run)
			}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("create run record: %w", err)
		}
		d.emit(&run, run.Current(), "")
		if a := run.Current(); a != nil && a.Node != "" {
			if err := d.publish(ctx, l, &run, rev, task, 0); err != nil {
				d.log.Warn().Err(err).Str("job", run.Job).Str("run_id", run.ID).Str("node", a.Node).Msg("launch not published; it will be published again")
			}
		}
		if reply != nil {
			reply(subjects.ForceReply{RunID: run.ID})
		}
		return func() {
			d.markTick(&run)
			if e := d.runs[key]; e != nil && e.rev == 0 {
				e.rev, e.busy, e.published = rev, false, d.clock.Now()
			}
		}, nil
	})
}

// markTick notes the run's tick as recorded for its job; the job's settled tick is
// persisted by the next sweep. Forced runs are not ticks of the schedule. A result
// that arrives after the term ended changes nothing: the next term catches up from
// the settled tick, and finds the record.
func (d *dispatcher) markTick(run *subjects.Run) {
	je, tick := d.jobs[run.Job], time.Unix(run.Scheduled, 0)
	if !d.leading || je == nil || run.Forced {
		return
	}
	je.lastTick = laterOf(je.lastTick, tick)
	if settled := je.settledTick().Unix(); settled > je.state.LastTick {
		je.state.LastTick = settled
		d.dirty[je.key] = true
	}
}

// versionStart is when a version of a job, stored at written, starts to be due: after
// the job's settled tick, or, for a version newer than the one that tick was settled
// under, from when it was stored, also if the previous version passed that while this
// one was on its way (a watch can lag for seconds): records made already cost a
// refused create each.
func versionStart(written, settled time.Time, newer bool) time.Time {
	if newer {
		return written
	}
	return laterOf(settled, written)
}

// openTick notes that the tick's record is being written.
func (je *jobEntry) openTick(tick time.Time) {
	if t := tick.Unix(); !slices.Contains(je.open, t) {
		je.open = append(je.open, t)
	}
}

// closeTick notes that the tick's record was written, or found written.
func (je *jobEntry) closeTick(tick time.Time) {
	if i := slices.Index(je.open, tick.Unix()); i >= 0 {
		je.open = slices.Delete(je.open, i, i+1)
	}
}

// settledTick is the newest tick up to which every tick has a record as far as this
// term knows: the last recorded tick, but below every tick still open.
func (je *jobEntry) settledTick() time.Time {
	settled := je.lastTick
	for _, t := range je.open {
		if before := time.Unix(t-1, 0); before.Before(settled) {
			settled = before
		}
	}
	return settled
}

// publish sends the launch of the run's current allocation, claimable at rev; again
// counts its publications again (0: the first).
func (d *dispatcher) publish(ctx context.Context, l leaseView, run *subjects.Run, rev uint64, task []byte, again int) error {
	if !l.Valid() {
		return errNotLeader
	}
	a := run.Current()
	launch := &subjects.Launch{
		RunID: run.ID, Job: run.Job, Scheduled: run.Scheduled, Alloc: len(run.Allocations), AllocID: a.ID,
		Node: a.Node, Revision: rev, Run: mustJSON(run), Task: task,
		Late: subjects.MillisOf(d.clock.Now().Sub(time.Unix(run.Scheduled, 0))), Republish: again,
	}
	return d.store.PublishLaunch(ctx, launch, l.Rev())
}

var errNotLeader = errors.New("ticker lease lost")

// emit publishes an event for the run's allocation.
func (d *dispatcher) emit(run *subjects.Run, a *subjects.Allocation, errText string) {
	e := &subjects.Event{RunID: run.ID, Job: run.Job, State: run.State, Late: run.Late, Reason: run.Reason, Time: d.clock.Now().UTC()}
	if a != nil {
		e.Node, e.AllocID = a.Node, a.ID
		if errText == "" {
			errText = a.Error
		}
	}
	if errText != "" {
		e.Reason = errText
	}
	d.store.PublishEvent(e)
	d.log.Info().Str("job", run.Job).Str("run_id", run.ID).Str("node", e.Node).Str("state", string(run.State)).
		Int64("late_ms", int64(run.Late)).Str("reason", e.Reason).Msg("run " + string(run.State))
}

// async runs a write off the loop, bounded by maxInflight, and reports to the loop.
func (d *dispatcher) async(r result, write func(ctx context.Context, l leaseView) (func(), error)) {
	l := d.lease
	select {
	case d.inflight <- struct{}{}:
	case <-d.ctx.Done():
		return
	}
	go func() {
		if l == nil || !l.Valid() {
			r.err = errNotLeader
		} else {
			ctx, cancel := context.WithTimeout(d.ctx, ioTimeout)
			r.apply, r.err = write(ctx, l)
			cancel()
		}
		// The slot goes back before the result is handed over: the loop may itself
		// be waiting for a slot, and only the loop takes results.
		<-d.inflight
		select {
		case d.results <- r:
		case <-d.ctx.Done():
		}
	}()
}

// finish applies a write's result in the loop. A run record that could not be made
// is retried by the sweep: a skipped tick's as the same skip, a launch's as a launch
// or a skip, as the tick's age then says.
func (d *dispatcher) finish(r result) {
	if r.err == nil {
		if je := d.jobs[r.job]; r.create && je != nil {
			je.closeTick(r.tick) // before apply, which may open it again (a recheck)
		}
		if r.apply != nil {
			r.apply()
		}
		return
	}
	e := d.runs[r.key]
	if r.create {
		if e != nil && e.rev == 0 {
			d.untrack(r.key)
		}
		if d.leading {
			// Also when the lease was only suspended: the tick must not be missed if
			// it resumes. A term that ends drops its retries; the next one catches up.
			if !errors.Is(r.err, errNotLeader) {
				d.log.Warn().Err(r.err).Str("job", r.job).Str("run_id", subjects.RunID(r.job, r.tick)).Msg("run not recorded; retrying")
			}
			d.retries = append(d.retries, retryTick{job: r.job, tick: r.tick, skipped: r.skipped})
		}
		return
	}
	if e == nil {
		return
	}
	e.busy = false
	if !errors.Is(r.err, ErrConflict) && !errors.Is(r.err, errNotLeader) {
		d.log.Warn().Err(r.err).Str("job", e.run.Job).Str("run_id", e.run.ID).Msg("run update failed; will retry")
	}
}

// force launches a run of the job now, as `job periodic force` asks.
func (d *dispatcher) force(f forceRequest) {
	if !d.leading || !d.ready {
		f.reply(subjects.ForceReply{Error: "this ticker does not lead (yet); try again"})
		return
	}
	je := d.jobs[f.job]
	if je == nil || je.plan == nil {
		f.reply(subjects.ForceReply{Error: fmt.Sprintf("job %q is not defined or has no valid version", f.job)})
		return
	}
	d.launch(je, d.clock.Now().Truncate(time.Second), true, f.reply)
}

// sweep finds runs that need the ticker: lost allocations, launches to re-place or to
// publish again, reschedules due, and queued runs that waited too long; and persists
// job states that changed.
func (d *dispatcher) sweep() {
	now := d.clock.Now()
	if d.starting != nil && d.awaitRuns > 0 && now.Sub(d.startingSince) >= startBudget {
		d.startTerm()
	}
	if !d.ready || !d.leading {
		return
	}
	retries := d.retries
	d.retries = nil
	for _, r := range retries {
		je := d.jobs[r.job]
		if je == nil {
			je = &jobEntry{key: r.job, index: -1} // deleted since: the tick still gets its record
			if r.skipped == "" {
				r.skipped = "job removed before its tick could be recorded"
			}
		}
		if r.skipped != "" {
			d.skip(je, r.tick, r.skipped)
			continue
		}
		if je.plan == nil {
			continue
		}
		if now.Sub(r.tick) > je.plan.window {
			d.skip(je, r.tick, "outside the catch-up window: its record could not be written in time")
		} else {
			d.launch(je, r.tick, false, nil)
		}
	}
	d.pollStaleNodes(now)
	if d.filling.IsZero() || now.Sub(d.filling) > 2*fillTimeout {
		d.fillJobs(0, now, nil)
	}
	for _, e := range d.runs {
		if e.busy || e.rev == 0 {
			continue
		}
		d.sweepRun(e, now)
	}
	for key := range d.dirty {
		if je := d.jobs[key]; je != nil {
			d.putState(key, je.state)
			d.forget(key, je.settledTick())
		}
		delete(d.dirty, key)
	}
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
	case run.State == subjects.StateLost:
		if !d.willReschedule(&run) || a == nil || a.Finished == nil {
			if je != nil && !je.owns(&run) {
				d.log.Info().Str("job", run.Job).Str("run_id", run.ID).Time("deleted", je.state.Deleted).
					Msg("lost run not relaunched: its tick is from before the job was deleted and made again")
			}
			d.untrack(e.key)
			return
		}
		if now.Before(a.Finished.Add(je.plan.delay)) {
			return
		}
		if je.plan.overlap && d.byJob[je.key] > 1 && d.firstActive(je.key) != e {
			return // another run of the job goes first (one launched by a term that missed this one)
		}
		next := cloneRun(run)
		next.Attempts++
		next.State = subjects.StateQueued
		next.Allocations = append(next.Allocations, d.allocate(je, now, &next))
		d.update(e, next, je.plan.task)
	case run.State == subjects.StateQueued && a != nil:
		d.sweepQueued(e, je, a, window, now)
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
	case a.Node == "" && je.plan.overlap && d.byJob[je.key] > 1 && d.firstActive(je.key) != e:
		// Runs of one prohibit_overlap job waited for a node together (made by terms
		// that could not see each other's): only the first may run.
		next := cloneRun(run)
		next.State, next.Reason = subjects.StateSkipped, "prohibit_overlap: "+d.firstActive(je.key).run.ID+" is still queued or running"
		next.Current().State = subjects.StateSkipped
		d.update(e, next, nil)
	case a.Node == "":
		next := cloneRun(run)
		placed := d.allocate(je, now, &next)
		if placed.Node != "" {
			cur := next.Current()
			cur.Node, cur.NodeID, cur.Created = placed.Node, placed.NodeID, placed.Created
			d.update(e, next, je.plan.task)
			return
		}
		if now.Sub(tick) > window {
			next.State = subjects.StateSkipped
			next.Reason = "skipped: " + next.Reason + " within the catch-up window"
			next.Current().State = subjects.StateSkipped
			d.update(e, next, nil)
		}
	case d.nodeDown(a.Node, now):
		next := cloneRun(run)
		cur := next.Current()
		cur.State, cur.Error, cur.Finished = subjects.StateLost, "node "+a.Node+" went down before claiming the launch", ptr(now.UTC())
		next.Allocations = append(next.Allocations, d.allocate(je, now, &next))
		d.update(e, next, je.plan.task)
	case now.Sub(e.published) > republishAfter:
		e.republished++
		d.publishAgain(e, e.republished)
	}
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
	run, rev, task := e.run, e.rev, je.plan.task
	d.async(result{key: e.key, job: run.Job}, func(ctx context.Context, l leaseView) (func(), error) {
		if err := d.publish(ctx, l, &run, rev, task, n); err != nil {
			return nil, fmt.Errorf("publish launch again: %w", err)
		}
		return func() {
			if cur := d.runs[e.key]; cur != nil && cur.rev == rev {
				cur.busy = false
			}
		}, nil
	})
}

// update writes next over the run's record at its known revision and, when task is
// given and the current allocation has a node, publishes its launch.
func (d *dispatcher) update(e *runEntry, next subjects.Run, task []byte) {
	e.busy = true
	rev := e.rev
	d.async(result{key: e.key, job: next.Job}, func(ctx context.Context, l leaseView) (func(), error) {
		newRev, err := d.store.UpdateRun(ctx, e.key, &next, rev)
		if err != nil {
			return nil, err
		}
		d.emit(&next, next.Current(), "")
		if a := next.Current(); task != nil && a != nil && a.Node != "" && next.State == subjects.StateQueued {
			if err := d.publish(ctx, l, &next, newRev, task, 0); err != nil {
				d.log.Warn().Err(err).Str("job", next.Job).Str("run_id", next.ID).Msg("launch not published; it will be published again")
			}
		}
		return func() {
			if cur := d.runs[e.key]; cur != nil {
				cur.published = d.clock.Now()
			}
		}, nil
	})
}

// nodeDown reports whether the named node is down: it left, is unknown, or its
// heartbeat lapsed while other heartbeats kept landing. After a pause of every
// heartbeat (the nodes stream electing a leader, or this watch lagging), a node is
// judged only once heartbeats have landed again for half a TTL, longer than its
// heartbeat interval: declaring runs lost without evidence would launch them twice.
func (d *dispatcher) nodeDown(name string, now time.Time) bool {
	n := d.nodes[name]
	if n == nil || n.member.Left {
		return true
	}
	ttl := n.member.TTL.Duration()
	deadline := n.written.Add(ttl)
	return now.After(deadline) && d.newestBeat.After(deadline) && now.Sub(d.flowSince) > ttl/2
}

// fillJobs reads the job changes stored after the newest one applied straight from
// the bucket, off the loop: a watch can lag for seconds after its stream changed
// leader, and a version the leader does not know yet would have the previous one
// launch ticks that are no longer its own. It costs one read when there is nothing
// new. The read is short: a replica that hangs is passed over by the next one. It also
// reads the versions in gaps (versionGaps) that the bucket still keeps, and starts
// after wait (a term reading again after a failure).
func (d *dispatcher) fillJobs(wait time.Duration, now time.Time, gaps []versionGap) {
	d.filling = now
	after, starting := d.jobsRev, d.starting != nil
	go func() {
		if wait > 0 {
			timer := d.clock.NewTimer(wait)
			select {
			case <-timer.C:
			case <-d.ctx.Done():
				timer.Stop()
				return
			}
		}
		budget := fillTimeout
		if len(gaps) > 0 {
			budget = gapsTimeout
		}
		ctx, cancel := context.WithTimeout(d.ctx, budget)
		defer cancel()
		f := fillResult{began: d.clock.Now()}
		f.changes, f.err = d.store.JobChangesAfter(ctx, after, maxFill)
		if starting && f.err == nil {
			f.runsLast, f.err = d.store.RunsLastRevision(ctx)
		}
		f.versions, f.gapsErr = d.readGaps(ctx, gaps)
		select {
		case d.fills <- f:
		case <-d.ctx.Done():
		}
	}()
}

// filled applies a fillJobs read in the loop, and starts the term that waited for it.
func (d *dispatcher) filled(f fillResult) {
	d.filling = time.Time{}
	if f.err != nil {
		d.log.Debug().Err(f.err).Msg("job changes not read from the bucket; the watch goes on")
	}
	for _, c := range f.changes {
		if c.Rev > d.jobsRev {
			d.log.Info().Str("job", c.Key).Uint64("revision", c.Rev).Msg("job change read from the bucket ahead of the watch")
		}
		d.apply(c)
	}
	for key, vs := range f.versions {
		d.rememberEarlier(key, vs)
	}
	if d.leading {
		d.walkLate(f, d.clock.Now())
	}
	if d.starting == nil {
		return
	}
	if now := d.clock.Now(); (f.err != nil || f.gapsErr != nil) && now.Sub(d.startingSince) < startBudget {
		// Read again (from where this read got to) rather than lead on a view that
		// may be seconds old: replicas answer slowly during partitions.
		d.fillJobs(fillTimeout/5, now, d.versionGaps())
		return
	}
	if f.gapsErr != nil {
		d.log.Warn().Err(f.gapsErr).Msg("job versions no ticker saw could not all be read back; their ticks may have no record")
	}
	if f.err != nil {
		d.log.Warn().Err(f.err).Msg("job changes the watch may lack, or the runs bucket's last revision, could not be read; leading on the watch's view")
	}
	if f.runsLast > d.runsRev && d.clock.Now().Sub(d.startingSince) < startBudget {
		d.awaitRuns = f.runsLast // apply starts the term once the watch sent it; sweep once startBudget passed
		return
	}
	d.startTerm()
}

// startTerm makes the starting term lead.
func (d *dispatcher) startTerm() {
	if d.awaitRuns > d.runsRev {
		d.log.Warn().Uint64("runs_revision", d.runsRev).Uint64("want", d.awaitRuns).
			Msg("leading before the watch sent every run record the bucket has")
	}
	d.lease, d.leading, d.starting, d.awaitRuns = d.starting, true, nil, 0
	d.lead()
}

// pollStaleNodes reads the record of each node whose heartbeat is overdue, at most
// once a second each: a watch can lag for seconds after its stream changed leader,
// and then neither a dead node nor a live one would show in time.
func (d *dispatcher) pollStaleNodes(now time.Time) {
	for name, n := range d.nodes {
		if now.Sub(n.written) <= n.member.TTL.Duration()/2 || now.Sub(n.polled) < time.Second {
			continue
		}
		n.polled = now
		d.async(result{key: subjects.Token(name)}, func(ctx context.Context, _ leaseView) (func(), error) {
			c, err := d.store.GetNode(ctx, name)
			if err != nil {
				return nil, nil // the next sweep tries again
			}
			return func() { d.applyNode(c) }, nil
		})
	}
}

// restarted reports whether the runner process that claimed the allocation is gone:
// its node heartbeats from another session.
func (d *dispatcher) restarted(a *subjects.Allocation) bool {
	n := d.nodes[a.Node]
	return n != nil && a.Session != "" && n.member.Session != "" && n.member.Session != a.Session
}

// putState stores a job's state off the loop.
func (d *dispatcher) putState(key string, st subjects.JobState) {
	d.async(result{key: key, job: key}, func(ctx context.Context, l leaseView) (func(), error) {
		if err := d.store.PutJobState(ctx, key, &st); err != nil {
			d.log.Warn().Err(err).Str("job", key).Msg("job state not stored")
		}
		return nil, nil
	})
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // only records of ours, which always encode
	}
	return data
}

func cloneRun(r subjects.Run) subjects.Run {
	r.Allocations = append([]subjects.Allocation(nil), r.Allocations...)
	return r
}

func ptr[T any](v T) *T { return &v }

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func newAllocID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
