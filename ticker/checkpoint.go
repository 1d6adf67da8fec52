package ticker

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// This file is how a starting ticker avoids reading the whole run history: the leader
// stores, with each job's state, the job's open runs (JobState.Open), and then a
// checkpoint (subjects.RunsCheckpoint) at the runs bucket revision its view held when
// it listed them. A starting ticker watches the run records only after the
// checkpoint and reads the records the job states list (loadOpen).

// openReadWorkers bounds the concurrent reads of listed open runs at start.
const openReadWorkers = 32

// openKeys lists the record keys of the job's runs that are not over (those that
// count for it: queued, running, or awaiting a reschedule), sorted.
func (d *dispatcher) openKeys(jobKey string) []string {
	runs := d.active[jobKey]
	if len(runs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(runs))
	for key := range runs {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

// stateToStore is the job's state as the leader stores it now, with its open runs.
func (d *dispatcher) stateToStore(jobKey string) subjects.JobState {
	st := d.states[jobKey]
	if je := d.jobs[jobKey]; je != nil {
		st = je.state
	}
	st.Job, st.Open, st.ListsOpen = jobKey, d.openKeys(jobKey), true
	return st
}

// sameState reports whether storing b over a would change anything but the time.
func sameState(a, b subjects.JobState) bool {
	return a.Job == b.Job && a.Valid == b.Valid && a.Error == b.Error && a.Spec == b.Spec &&
		a.Revision == b.Revision && a.Removed == b.Removed && a.Deleted.Equal(b.Deleted) &&
		a.LastTick == b.LastTick && slices.Equal(a.Open, b.Open) && a.ListsOpen == b.ListsOpen
}

// sameBeyondLastTick is sameState but for the settled mark, which a leader stores
// only once it passes a tick (decideJob).
func sameBeyondLastTick(stored, st subjects.JobState) bool {
	st.LastTick = stored.LastTick
	return sameState(stored, st)
}

// flushStates stores, while leading, the state of every job marked dirty that differs
// from the stored one, and then a checkpoint at the runs revision the view held when
// the states were taken. One round at a time: a state written by a later round never
// lands before an earlier round's, and the checkpoint follows only a round whose
// writes all succeeded (a failed one is marked dirty again).
func (d *dispatcher) flushStates() {
	if !d.ready || !d.leading || d.flushing {
		return
	}
	rev := d.runsRev
	var batch []subjects.JobState
	for key := range d.dirty {
		delete(d.dirty, key)
		st := d.stateToStore(key)
		if stored, ok := d.states[key]; ok && sameState(stored, st) {
			continue
		}
		batch = append(batch, st)
	}
	if len(batch) == 0 && rev <= d.checkpointed {
		return
	}
	d.flushing = true
	checkpoint := func() {
		d.write(func(ctx context.Context, _ leaseView) (func(), error) {
			return func() { d.checkpointed, d.flushing = max(d.checkpointed, rev), false }, d.store.PutCheckpoint(ctx, rev)
		}, func(err error) {
			d.flushing = false
			if !errors.Is(err, errNotLeader) {
				d.log.Warn().Err(err).Uint64("runs_rev", rev).Msg("runs checkpoint not stored")
			}
		})
	}
	if len(batch) == 0 {
		checkpoint()
		return
	}
	left, failed := len(batch), false
	stored := func() {
		if left--; left > 0 {
			return
		}
		if failed {
			d.flushing = false
			return
		}
		checkpoint()
	}
	for _, st := range batch {
		d.write(func(ctx context.Context, _ leaseView) (func(), error) {
			return stored, d.store.PutJobState(ctx, st.Job, &st)
		}, func(err error) {
			failed = true
			if d.leading {
				d.dirty[st.Job] = true
			}
			if !errors.Is(err, errNotLeader) {
				d.log.Warn().Err(err).Str("job", st.Job).Msg("job state not stored")
			}
			stored()
		})
	}
}

// loadOpen reads, off the loop, the records of the open runs the job states list and
// the watch has not sent, retrying each until it is read or known gone; then hands
// them to the loop, which takes them into the view and is loaded.
func (d *dispatcher) loadOpen() {
	var keys []string
	for _, st := range d.states {
		for _, key := range st.Open {
			if !d.loadSeen[key] {
				keys = append(keys, key)
			}
		}
	}
	type read struct {
		key string
		run *subjects.Run
		rev uint64
	}
	began := d.clock.Now()
	go func() {
		got := make([]read, len(keys))
		next := make(chan int)
		var wg sync.WaitGroup
		for range min(openReadWorkers, len(keys)) {
			wg.Go(func() {
				for i := range next {
					got[i] = read{key: keys[i]}
					for d.ctx.Err() == nil {
						ctx, cancel := context.WithTimeout(d.ctx, ioTimeout)
						run, rev, err := d.store.GetRun(ctx, keys[i])
						cancel()
						if err == nil || errors.Is(err, jetstream.ErrKeyNotFound) {
							got[i].run, got[i].rev = run, rev
							break
						}
						d.log.Debug().Err(err).Str("key", keys[i]).Msg("open run not read; reading again")
						retry := d.clock.NewTimer(readRetry)
						select {
						case <-retry.C:
						case <-d.ctx.Done():
							retry.Stop()
						}
					}
				}
			})
		}
		for i := range keys {
			next <- i
		}
		close(next)
		wg.Wait()
		select {
		case d.done <- func() {
			for _, r := range got {
				if r.run != nil {
					d.applyOpenRead(r.key, r.run, r.rev)
				}
			}
			d.log.Info().Int("open_runs", len(keys)).Dur("took_ms", d.clock.Now().Sub(began)).Msg("open runs read")
			d.loaded()
		}:
		case <-d.ctx.Done():
		}
	}()
}

// applyOpenRead takes a listed open run's record read at start into the view, unless
// the watch sent a change of it since the checkpoint (that one is newer).
func (d *dispatcher) applyOpenRead(key string, run *subjects.Run, rev uint64) {
	if d.loadSeen[key] {
		return
	}
	c := Change{Kind: RunChanged, Key: key, Value: mustJSON(run), Rev: rev}
	if rev > d.runsRev {
		d.applyRun(c, true) // the watch is still to send it
		return
	}
	d.takeRun(c)
}
