package ticker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// seenLock is the ticker lock as this server last learned it: from its watch on the
// lock key, or from a read after a takeover or create failed.
type seenLock struct {
	// rev is the newest revision learned; 0 when none is known.
	rev uint64
	// gone: rev is a delete or purge marker (a holder that stopped cleanly released
	// the lock), so the lock is free now.
	gone bool
	// at is when this server first learned rev, on its own monotonic clock. It is
	// after the write of rev began, which is what makes taking over rev at at+TTL safe.
	at time.Time
	// stale: a takeover of rev failed on its revision, so rev is no longer the newest.
	stale bool
}

// takeoverAt is when a candidate may take the lock over from rev with a
// revision-checked update: at once if rev released it, TTL after it was learned if
// it is a holder's write. ok is false when no revision is known to take over.
func (s seenLock) takeoverAt(ttl time.Duration) (at time.Time, ok bool) {
	switch {
	case s.rev == 0 || s.stale:
		return time.Time{}, false
	case s.gone:
		return s.at, true
	default:
		return s.at.Add(ttl), true
	}
}

// watch follows the lock key until ctx ends, recording every revision it delivers
// and waking the campaign. The watch is made once, when the ticker starts, and kept
// through every term: a new one needs the JetStream meta leader, which may be the
// server that just died. When it breaks, it is made again; meanwhile the campaign
// falls back to creates and reads.
func (e *election) watch(ctx context.Context) {
	for {
		w, err := e.kv.Watch(ctx, subjects.LockKey, jetstream.MetaOnly())
		if err == nil {
			for ent := range w.Updates() {
				if ent != nil {
					e.see(ent.Revision(), ent.Operation() != jetstream.KeyValuePut)
				}
			}
			_ = w.Stop()
		} else if ctx.Err() == nil {
			e.log.Debug().Err(err).Msg("cannot watch the ticker lock yet; retrying")
		}
		timer := e.clock.NewTimer(e.ttl)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// see records that rev was learned now (gone: it is a delete or purge marker) and
// wakes the campaign. A revision already known keeps the time it was first learned.
func (e *election) see(rev uint64, gone bool) {
	e.mu.Lock()
	if rev != e.seen.rev {
		e.seen = seenLock{rev: rev, gone: gone, at: e.clock.Now()}
	}
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// forget marks rev as no longer the newest revision: a takeover of it failed.
func (e *election) forget(rev uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen.rev == rev {
		e.seen.stale = true
	}
}

// lastSeen returns the lock as last learned.
func (e *election) lastSeen() seenLock {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen
}

// learn reads the lock's newest revision when the watch has not given one that a
// takeover could use (it broke, or its newest revision was taken over by someone
// else): the read is the time origin of the next takeover instead. A read from a
// replica that lags returns an older revision; the takeover of it fails on its
// revision, and the lock is read again.
func (e *election) learn(ctx context.Context) {
	if s := e.lastSeen(); s.rev != 0 && !s.stale {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.ttl/2)
	defer cancel()
	ent, err := e.kv.Get(ctx, subjects.LockKey)
	switch {
	case err == nil:
		e.see(ent.Revision(), false)
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		// Free: the next create takes it.
	case ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.log.Debug().Err(err).Msg("ticker lock not read")
	}
}
