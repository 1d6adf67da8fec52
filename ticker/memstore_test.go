package ticker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/subjects"
)

// memStore is an in-memory Store with the semantics the dispatcher relies on:
// create-if-absent and revision-checked updates of run records, launches recorded in
// order, and watchers that see every change in order.
type memStore struct {
	clock clock.Clock

	mu       sync.Mutex
	rev      uint64
	keys     map[ChangeKind]map[string]Change
	watchers []*memWatcher
	launches []subjects.Launch
	msgIDs   map[string]bool
	events   []subjects.Event
	onLaunch func(subjects.Launch)
	// unseen are keys whose records exist but that no watcher has seen yet (a lagging
	// watch): CreateRun conflicts on them, GetRun reads a completed run.
	unseen map[string]bool
	// blindRuns and blindNodes keep run and node record changes from the watchers
	// (a stalled watch).
	blindRuns, blindNodes bool
	// blindJobs keeps job changes from the watchers; jobLog has every job change.
	blindJobs bool
	// heldRuns are run record changes held back from the watchers while holdRuns is
	// set (a lagging watch), sent by releaseRuns; runsRev is the newest run change.
	holdRuns bool
	heldRuns []Change
	runsRev  uint64
	jobLog   []Change
	// runLog has every run record change.
	runLog []Change
	// failFills is how many JobChangesAfter reads fail from now (slow replicas).
	failFills int
	// failCreates are run keys whose creation fails, with the error CreateRun returns
	// (failCreate, setPhantom).
	failCreates map[string]error
	// checkpoint is the stored runs checkpoint's revision.
	checkpoint uint64
	// initialRuns is how many run record changes the last Watch sent before ready.
	initialRuns int
	// trimmed are the run keys TrimRuns dropped.
	trimmed []string
}

type memWatcher struct {
	mu     sync.Mutex
	queue  []Change
	notify chan struct{}
}

func newMemStore(clk clock.Clock) *memStore {
	return &memStore{clock: clk, keys: map[ChangeKind]map[string]Change{
		JobChanged: {}, JobStateChanged: {}, NodeChanged: {}, RunChanged: {},
	}}
}

// set stores a value (nil = delete) and tells every watcher.
func (s *memStore) set(kind ChangeKind, key string, value []byte) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setLocked(kind, key, value)
}

func (s *memStore) setLocked(kind ChangeKind, key string, value []byte) uint64 {
	return s.setAt(kind, key, value, s.clock.Now())
}

func (s *memStore) setAt(kind ChangeKind, key string, value []byte, written time.Time) uint64 {
	s.rev++
	c := Change{Kind: kind, Key: key, Value: value, Rev: s.rev, Written: written, Deleted: value == nil}
	if value == nil {
		delete(s.keys[kind], key)
	} else {
		s.keys[kind][key] = c
	}
	if kind == JobChanged {
		s.jobLog = append(s.jobLog, c)
	}
	if kind == RunChanged {
		s.runsRev = c.Rev
		s.runLog = append(s.runLog, c)
		if s.holdRuns {
			s.heldRuns = append(s.heldRuns, c)
			return s.rev
		}
	}
	if kind == RunChanged && s.blindRuns || kind == NodeChanged && s.blindNodes || kind == JobChanged && s.blindJobs {
		return s.rev
	}
	for _, w := range s.watchers {
		w.push(c)
	}
	return s.rev
}

// holdRunChanges makes the watchers lag on run records: they see none until
// releaseRuns.
func (s *memStore) holdRunChanges() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdRuns = true
}

// releaseRuns sends the held run record changes, in order, and stops holding them.
func (s *memStore) releaseRuns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.heldRuns {
		for _, w := range s.watchers {
			w.push(c)
		}
	}
	s.heldRuns, s.holdRuns = nil, false
}

func (s *memStore) RunsLastRevision(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runsRev, nil
}

func (w *memWatcher) push(c Change) {
	w.mu.Lock()
	w.queue = append(w.queue, c)
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// Watch sends the initial values as jsStore does: job states, then every job version
// kept (jobHistory a key), then nodes and runs (with runsAfter > 0: every run change
// after it).
func (s *memStore) Watch(ctx context.Context, out chan<- Change, runsAfter uint64) (<-chan struct{}, error) {
	w := &memWatcher{notify: make(chan struct{}, 1)}
	s.mu.Lock()
	var initial []Change
	byRev := func(cs []Change) []Change {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Rev < cs[j].Rev })
		return cs
	}
	var states, nodesRuns []Change
	s.initialRuns = 0
	unlisted := false
	for _, c := range s.keys[JobStateChanged] {
		states = append(states, c)
		unlisted = unlisted || !listsOpen(c.Value)
	}
	runsAfter = runsFrom(runsAfter, unlisted)
	for _, c := range s.keys[NodeChanged] {
		nodesRuns = append(nodesRuns, c)
	}
	if runsAfter == 0 {
		for _, c := range s.keys[RunChanged] {
			nodesRuns = append(nodesRuns, c)
		}
	} else {
		for _, c := range s.runLog {
			if c.Rev > runsAfter {
				nodesRuns = append(nodesRuns, c)
			}
		}
	}
	kept := map[string]int{}
	for i := len(s.jobLog) - 1; i >= 0; i-- {
		c := s.jobLog[i]
		if kept[c.Key]++; kept[c.Key] <= jobHistory {
			initial = append(initial, c)
		}
	}
	for _, c := range nodesRuns {
		if c.Kind == RunChanged {
			s.initialRuns++
		}
	}
	initial = append(append(byRev(states), byRev(initial)...), Change{Kind: RunsWatched, Rev: runsAfter})
	initial = append(initial, byRev(nodesRuns)...)
	s.watchers = append(s.watchers, w)
	s.mu.Unlock()
	ready := make(chan struct{})
	go func() {
		defer s.unwatch(w)
		for _, c := range initial {
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
		close(ready)
		for {
			w.mu.Lock()
			queue := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, c := range queue {
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-w.notify:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ready, nil
}

// jobHistory is how many versions of a job the jobs bucket keeps (its History).
const jobHistory = 16

func (s *memStore) unwatch(w *memWatcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.watchers {
		if x == w {
			s.watchers = append(s.watchers[:i], s.watchers[i+1:]...)
			return
		}
	}
}

func (s *memStore) CreateRun(_ context.Context, key string, run *subjects.Run) (uint64, error) {
	data, _ := json.Marshal(run)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[RunChanged][key]; ok || s.unseen[key] {
		return 0, ErrConflict
	}
	if err := s.failCreates[key]; err != nil {
		return 0, err
	}
	return s.setLocked(RunChanged, key, data), nil
}

// failCreate makes the creation of the run record key time out (fail true) or work
// again.
func (s *memStore) failCreate(key string, fail bool) {
	var err error
	if fail {
		err = context.DeadlineExceeded
	}
	s.failCreateWith(key, err)
}

// setPhantom makes the creation of the run record key be refused as existing, with
// no record stored (phantom true: a create still proposed on the stream, never
// stored), or work again.
func (s *memStore) setPhantom(key string, phantom bool) {
	var err error
	if phantom {
		err = ErrConflict
	}
	s.failCreateWith(key, err)
}

// failCreateWith makes the creation of the run record key return err (nil: work).
func (s *memStore) failCreateWith(key string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCreates == nil {
		s.failCreates = map[string]error{}
	}
	s.failCreates[key] = err
}

func (s *memStore) JobChangesAfter(_ context.Context, rev uint64, limit int) ([]Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failFills > 0 {
		s.failFills--
		return nil, context.DeadlineExceeded
	}
	var out []Change
	for _, c := range s.jobLog {
		if c.Rev > rev && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *memStore) RunChangesAfter(_ context.Context, rev uint64, limit int) ([]Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Change
	for _, c := range s.runLog {
		if c.Rev > rev && len(out) < limit {
			out = append(out, c)
		}
	}
	return out, nil
}

// setFailFills makes the next n JobChangesAfter reads fail.
func (s *memStore) setFailFills(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failFills = n
}

// setBlindJobs stalls the watchers' job changes (blind true) or lets new ones through.
func (s *memStore) setBlindJobs(blind bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blindJobs = blind
}

func (s *memStore) GetRun(_ context.Context, key string) (*subjects.Run, uint64, error) {
	r, rev, ok := s.run(key)
	s.mu.Lock()
	unseen := s.unseen[key]
	s.mu.Unlock()
	switch {
	case ok:
		return &r, rev, nil
	case unseen:
		return &subjects.Run{ID: key, State: subjects.StateComplete}, 1, nil
	}
	return nil, 0, fmt.Errorf("no record %s: %w", key, jetstream.ErrKeyNotFound)
}

func (s *memStore) Checkpoint(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpoint, nil
}

// TrimRuns drops the job's records last written before below, unseen by watchers, as
// a stream purge is.
func (s *memStore) TrimRuns(_ context.Context, jobKey string, below uint64, _ int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, c := range s.keys[RunChanged] {
		if strings.HasPrefix(key, subjects.Token(jobKey)+".") && c.Rev < below {
			delete(s.keys[RunChanged], key)
			s.trimmed = append(s.trimmed, key)
		}
	}
	return nil
}

func (s *memStore) PutCheckpoint(_ context.Context, rev uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checkpoint = rev
	return nil
}

func (s *memStore) GetNode(_ context.Context, name string) (Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.keys[NodeChanged][subjects.Token(name)]
	if !ok {
		return Change{}, ErrConflict
	}
	return c, nil
}

func (s *memStore) UpdateRun(_ context.Context, key string, run *subjects.Run, rev uint64) (uint64, error) {
	data, _ := json.Marshal(run)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.keys[RunChanged][key]; !ok || cur.Rev != rev {
		return 0, ErrConflict
	}
	return s.setLocked(RunChanged, key, data), nil
}

func (s *memStore) PublishLaunch(_ context.Context, l *subjects.Launch, _ uint64) error {
	s.mu.Lock()
	id := l.MsgID()
	if s.msgIDs[id] {
		s.mu.Unlock()
		return nil // de-duplicated, as JetStream does within its window
	}
	if s.msgIDs == nil {
		s.msgIDs = map[string]bool{}
	}
	s.msgIDs[id] = true
	s.launches = append(s.launches, *l)
	on := s.onLaunch
	s.mu.Unlock()
	if on != nil {
		on(*l)
	}
	return nil
}

func (s *memStore) PublishEvent(e *subjects.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, *e)
}

func (s *memStore) PutJobState(_ context.Context, jobKey string, st *subjects.JobState) error {
	data, _ := json.Marshal(st)
	s.set(JobStateChanged, subjects.Token(jobKey), data)
	return nil
}

// run returns the record of a run, and whether it exists.
func (s *memStore) run(key string) (subjects.Run, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.keys[RunChanged][key]
	var r subjects.Run
	if ok {
		_ = json.Unmarshal(c.Value, &r)
	}
	return r, c.Rev, ok
}

// runs returns every run record by key.
func (s *memStore) runs() map[string]subjects.Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]subjects.Run{}
	for k, c := range s.keys[RunChanged] {
		var r subjects.Run
		_ = json.Unmarshal(c.Value, &r)
		out[k] = r
	}
	return out
}

func (s *memStore) jobState(jobKey string) (subjects.JobState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.keys[JobStateChanged][subjects.Token(jobKey)]
	var st subjects.JobState
	if ok {
		_ = json.Unmarshal(c.Value, &st)
	}
	return st, ok
}

func (s *memStore) launchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.launches)
}

// fakeRunner plays a runner for the node: it claims each launch addressed to it with
// the revision-checked update a real runner makes, "runs" for d, and completes.
type fakeRunner struct {
	t      testing.TB
	s      *memStore
	node   subjects.Member
	d      time.Duration
	mu     sync.Mutex
	dead   bool
	silent bool           // heartbeats do not reach the store; runs go on
	gen    int            // the runner process's start; runs of an earlier one never finish
	fails  bool           // its runs end failed, exit code 1
	execs  map[string]int // executions per run ID
}

func (r *fakeRunner) heartbeat() {
	r.mu.Lock()
	skip := r.dead || r.silent
	data, _ := json.Marshal(r.node)
	r.mu.Unlock()
	if skip {
		return
	}
	r.s.set(NodeChanged, subjects.Token(r.node.Name), data)
}

// heartbeatEvery heartbeats until ctx ends.
func (r *fakeRunner) heartbeatEvery(ctx context.Context, every time.Duration) {
	r.heartbeat()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.heartbeat()
			}
		}
	}()
}

func (r *fakeRunner) setSilent(silent bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.silent = silent
}

// restart is the runner process starting again: a new session, its runs gone.
func (r *fakeRunner) restart() {
	r.mu.Lock()
	r.node.Session += "-restarted"
	r.gen++
	r.mu.Unlock()
	r.heartbeat()
}

func (r *fakeRunner) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dead = true
}

func (r *fakeRunner) launch(ctx context.Context, l subjects.Launch) {
	r.mu.Lock()
	dead, session := r.dead, r.node.Session
	r.mu.Unlock()
	if dead || l.Node != r.node.Name {
		return
	}
	key, _ := subjects.RunKeyOf(l.RunID)
	run, _, ok := r.s.run(key)
	if !ok {
		r.t.Errorf("launch %s (key %s) has no record; records: %v", l.RunID, key, r.s.runs())
		return
	}
	a := run.Current()
	if a == nil || a.ID != l.AllocID || a.State != subjects.StateQueued {
		return
	}
	now := time.Now().UTC()
	a.State, a.Started, a.Session = subjects.StateRunning, &now, session
	run.State = subjects.StateRunning
	rev, err := r.s.UpdateRun(ctx, key, &run, l.Revision)
	if err != nil {
		return // another claimant won
	}
	r.mu.Lock()
	if r.execs == nil {
		r.execs = map[string]int{}
	}
	r.execs[l.RunID]++
	gen := r.gen
	r.mu.Unlock()
	go func() {
		select {
		case <-time.After(r.d):
		case <-ctx.Done():
			return
		}
		r.mu.Lock()
		dead := r.dead || r.gen != gen
		r.mu.Unlock()
		if dead {
			return
		}
		end := time.Now().UTC()
		code, state := 0, subjects.StateComplete
		r.mu.Lock()
		if r.fails {
			code, state = 1, subjects.StateFailed
		}
		r.mu.Unlock()
		a.State, a.Finished, a.ExitCode = state, &end, &code
		run.State = state
		_, _ = r.s.UpdateRun(ctx, key, &run, rev)
	}()
}
