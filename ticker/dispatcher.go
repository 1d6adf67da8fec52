package ticker

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/placement"
	"github.com/jetcron/jetcron/subjects"
)

// Tunables of the dispatcher.
const (
	// sweepEvery is how often the dispatcher looks for lost runs, launches to re-place
	// and reschedules that are due, and stores the job states that changed.
	sweepEvery = 500 * time.Millisecond
	// republishAfter is how long a launch may sit unclaimed on a ready node before the
	// dispatcher publishes it again (same message ID: a duplicate within the stream's
	// de-duplication window is dropped; a second copy is claimed at most once).
	republishAfter = 15 * time.Second
	// ioTimeout bounds each write the dispatcher makes.
	ioTimeout = 5 * time.Second
	// maxInflight bounds concurrent writes and reads, so that a burst of launches is
	// pipelined without flooding the servers.
	maxInflight = 1024
	// maxRead bounds the changes one read from a bucket's leader takes.
	maxRead = 256
	// readTimeout bounds a read from a bucket's leader: one that hangs (the stream
	// electing a leader) is tried again after readRetry.
	readTimeout = 500 * time.Millisecond
	readRetry   = 100 * time.Millisecond
	// writeRetry is how long after a tick's record could not be written the job is
	// decided again.
	writeRetry = 500 * time.Millisecond
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

// forceRequest is a `job periodic force` request, or a `job backfill` one, waiting
// for its reply.
type forceRequest struct {
	job      string
	backfill *subjects.BackfillRequest // nil for a force
	reply    func(subjects.ForceReply)
}

// dispatcher is the ticker's scheduler: a thin shell around decide. One loop owns all
// state, fed by bucket changes, leadership terms, a timer at the soonest job to
// decide, a sweep, and the results of reads and writes made off the loop. Every
// server runs one all the time: a standby keeps its view of jobs, nodes and runs
// current from the buckets (mirror.go), so that when it wins the lock it only reads
// what its watches may lack before it leads (term.go). Only the leader writes.
//
// The one rule for lag: a watch may lag by seconds, so what decide is told counts
// only up to the horizon, the time a read of the jobs bucket's changes from its
// stream's leader began, that began in this term and returned every change the
// watch had not sent. Ticks after the horizon wait for the next such read.
type dispatcher struct {
	store   Store
	clock   clock.Clock
	log     zerolog.Logger
	planner planner
	ctx     context.Context
	// loadedCh is closed once every bucket was read; ready is set then.
	loadedCh chan struct{}
	ready    bool

	lease   leaseView // the leading term's lease; nil while standing by
	leading bool
	term    *termStart // a term reading what its watches may lack; nil when none
	termID  int        // counts terms begun and ended, so reads know theirs

	jobs    map[string]*jobEntry
	states  map[string]subjects.JobState // as stored in the job state bucket, by job key
	nodes   map[string]*nodeEntry
	names   []string // node names, sorted: placement walks them in a stable order
	runs    map[string]*runEntry
	active  map[string]map[string]*runEntry // by job: runs that count for prohibit_overlap
	byNode  map[string]int                  // queued and running allocations per node
	ahead   map[string]uint64               // run keys read from the leader ahead of the watch
	jobsRev uint64                          // the newest jobs bucket revision applied
	runsRev uint64                          // the newest runs bucket revision the watch sent
	// newestBeat and flowSince tell whether node heartbeats are landing (nodeDown).
	newestBeat, flowSince time.Time

	// horizon is the time up to which the facts are complete (the lag rule); zero
	// while no read of this term returned.
	horizon    time.Time
	reading    bool      // a read of the jobs bucket's changes is under way
	moreToRead bool      // the last one stopped at maxRead
	retryAt    time.Time // failed reads are tried again from then
	heap       launchHeap
	dirty      map[string]bool // jobs whose state (open runs included) changed since it was stored
	flushing   bool            // a round of flushStates is under way
	// checkpointed is the newest runs checkpoint this ticker stored.
	checkpointed uint64
	// loadSeen holds, until loaded, the run keys the watch sent: a listed open run's
	// record read at start is older than any of them (applyOpenRead).
	loadSeen map[string]bool
	// resumed is set when the runs watch began after a checkpoint (loadOpen).
	resumed bool
	// runsPerJob caps the records each job keeps (0: no cap); trims counts them.
	runsPerJob int
	trims      map[string]*trimState
	trimDue    map[string]bool // jobs in trims with trimMarks marks or more
	done       chan func()     // what work off the loop hands back to it
	inflight   chan struct{}
}

func newDispatcher(store Store, clk clock.Clock, log zerolog.Logger) *dispatcher {
	return &dispatcher{
		store: store, clock: clk, log: log,
		jobs: map[string]*jobEntry{}, states: map[string]subjects.JobState{},
		nodes: map[string]*nodeEntry{}, runs: map[string]*runEntry{}, active: map[string]map[string]*runEntry{},
		byNode: map[string]int{}, ahead: map[string]uint64{}, dirty: map[string]bool{},
		done: make(chan func(), maxInflight), inflight: make(chan struct{}, maxInflight),
		loadedCh: make(chan struct{}), loadSeen: map[string]bool{}, trims: map[string]*trimState{}, trimDue: map[string]bool{},
	}
}

// loadedSignal is closed once the dispatcher has read every bucket.
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
			d.begin(l)
			lost = l.Lost()
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
			if d.resumed {
				d.loadOpen()
			} else {
				d.loaded()
			}
		case fn := <-d.done:
			fn()
		case f := <-force:
			if f.backfill != nil {
				d.backfill(f)
			} else {
				d.force(f)
			}
		case <-timer.C:
		case <-sweep.C:
			d.sweep()
			sweep.Reset(sweepEvery)
		}
		d.step()
		d.resetTimer(timer)
	}
}

// watch starts the store's watch, retrying while JetStream cannot make it yet (its
// consumers need a meta leader). The run records are watched after the stored runs
// checkpoint, if any (checkpoint.go).
func (d *dispatcher) watch(ctx context.Context, changes chan Change) <-chan struct{} {
	for {
		wctx, cancel := context.WithCancel(ctx)
		cctx, ccancel := context.WithTimeout(wctx, ioTimeout)
		after, err := d.store.Checkpoint(cctx)
		ccancel()
		var ready <-chan struct{}
		if err == nil {
			ready, err = d.store.Watch(wctx, changes, after)
		}
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

// loaded runs once every bucket has been read.
func (d *dispatcher) loaded() {
	d.ready, d.loadSeen = true, nil
	close(d.loadedCh)
	for _, je := range d.jobs {
		d.baseVersion(je)
		je.facts.versions = pruneVersions(je.facts.versions, je.facts.settled)
	}
	for _, e := range d.runs {
		// Lost runs read before their jobs count for overlap only now.
		d.recountEntry(e, func() {})
	}
	d.log.Info().Int("jobs", len(d.jobs)).Int("nodes", len(d.nodes)).Int("active_runs", len(d.runs)).Msg("ticker loaded")
}

// step does what the loop's state calls for after each event: a starting term reads
// on, and a leader decides every job whose time has come within the horizon, and
// reads for a new horizon when a job's time has come past it.
func (d *dispatcher) step() {
	if !d.ready {
		return
	}
	now := d.clock.Now()
	if d.term != nil {
		d.starting(now)
	}
	if !d.leading {
		return
	}
	d.decideDue(now)
	if top := d.heap.peek(); (d.moreToRead || top != nil && !top.wake.After(now)) && !d.reading && !now.Before(d.retryAt) {
		d.readHorizon(now)
	}
}

// resetTimer sets the timer to the soonest job to decide, or to when failed reads are
// tried again; a read under way wakes the loop with its result.
func (d *dispatcher) resetTimer(timer *time.Timer) {
	now := d.clock.Now()
	wait, waiting := time.Hour, d.term != nil || d.moreToRead
	if top := d.heap.peek(); d.leading && top != nil {
		if top.wake.After(now) {
			wait = top.wake.Sub(now)
		} else {
			waiting = true
		}
	}
	if waiting && d.retryAt.After(now) {
		wait = min(wait, d.retryAt.Sub(now))
	}
	timer.Stop()
	select {
	case <-timer.C:
	default:
	}
	timer.Reset(wait)
}

// decideDue decides every job whose time has come within the horizon, and acts on
// what decide says.
func (d *dispatcher) decideDue(now time.Time) {
	var view []placement.Node
	for {
		je := d.heap.peek()
		if je == nil || je.wake.After(d.horizon) {
			return
		}
		if view == nil {
			view = d.nodeView(now)
		}
		d.decideJob(je, view, now)
	}
}

// decideJob decides one job at the horizon and carries out the decision.
func (d *dispatcher) decideJob(je *jobEntry, view []placement.Node, now time.Time) {
	dec := decide(&je.facts, d.activeOf(je.facts.key), view, d.horizon, now)
	passed := d.settle(je, dec.settled)
	if last := je.facts.settled.Unix(); last > je.state.LastTick {
		je.state.LastTick = last
		// Stored only once the mark passed a tick: the stored mark is as good until
		// then (a new leader finds no tick before it), and a leader that settles
		// 100,000 jobs at once would write 100,000 states for nothing.
		if passed || dec.summary > 0 {
			d.dirty[je.facts.key] = true
		}
	}
	if dec.summary > 0 {
		d.summarize(je.facts.key, dec, now)
	}
	for _, a := range dec.actions {
		switch a.kind {
		case actLaunch, actSkip:
			d.create(je, a, now)
		case actConfirm:
			d.confirm(je, a.confirm)
		}
	}
	if je.confirming {
		d.heap.remove(je)
		return
	}
	d.heap.set(je, dec.wake)
}

// wakeNow has the job decided again at the current horizon (at once, when leading).
func (d *dispatcher) wakeNow(je *jobEntry) {
	d.wakeAt(je, d.horizon)
}

// wakeAt has the job decided at at, or sooner if it was to be already.
func (d *dispatcher) wakeAt(je *jobEntry, at time.Time) {
	if !d.leading || je.confirming || at.IsZero() {
		return
	}
	if je.index >= 0 && !je.wake.IsZero() && je.wake.Before(at) {
		return
	}
	d.heap.set(je, at)
}

// nodeView is the nodes as decide sees them at now.
func (d *dispatcher) nodeView(now time.Time) []placement.Node {
	view := make([]placement.Node, 0, len(d.names))
	for _, name := range d.names {
		n := d.nodes[name]
		view = append(view, placement.Node{
			Name: name, ID: n.member.ID, Attrs: n.attrs, Alive: n.member.Alive(n.written, now),
			Drain: n.member.Drain, Stopping: n.member.Stopping, Load: d.byNode[name],
		})
	}
	return view
}

// readHorizon reads the jobs bucket's changes after the newest one applied from its
// stream's leader, off the loop. When it returns them all, the horizon moves to when
// it began: no version stored before then can be missing.
func (d *dispatcher) readHorizon(now time.Time) {
	d.reading, d.moreToRead = true, false
	after, term := d.jobsRev, d.termID
	d.offLoop(func(ctx context.Context) func() {
		began := d.clock.Now()
		ctx, cancel := context.WithTimeout(ctx, readTimeout)
		changes, err := d.store.JobChangesAfter(ctx, after, maxRead)
		cancel()
		return func() {
			d.reading = false
			for _, c := range changes {
				if c.Rev > d.jobsRev {
					d.log.Debug().Str("job", c.Key).Uint64("revision", c.Rev).Msg("job change read from the bucket ahead of the watch")
				}
				d.apply(c)
			}
			switch {
			case err != nil:
				d.log.Debug().Err(err).Msg("job changes not read from the jobs stream's leader; reading again")
				d.retryAt = d.clock.Now().Add(readRetry)
			case len(changes) >= maxRead:
				d.moreToRead = true
			case term == d.termID && (d.leading || d.term != nil && !began.Before(d.term.since)):
				d.horizon = laterOf(d.horizon, began)
			}
		}
	})
}

// offLoop runs op off the loop, bounded by maxInflight, and hands the function it
// returns to the loop.
func (d *dispatcher) offLoop(op func(ctx context.Context) func()) {
	select {
	case d.inflight <- struct{}{}:
	case <-d.ctx.Done():
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(d.ctx, ioTimeout)
		fn := op(ctx)
		cancel()
		// The slot goes back before the result is handed over: the loop may itself
		// be waiting for a slot, and only the loop takes results.
		<-d.inflight
		select {
		case d.done <- fn:
		case <-d.ctx.Done():
		}
	}()
}
