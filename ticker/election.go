package ticker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/clock"
	"github.com/jetcron/jetcron/subjects"
)

// Leadership is a KV key with a TTL (the bucket's MaxAge), as in choria's asyncjobs
// election. A candidate takes it with Create, which only one of any number of
// concurrent candidates can win. The holder renews it with a revision-checked Update
// every TTL/4; each renewal writes a new message, whose age restarts the TTL. A
// renewal that times out suspends launching until one succeeds; a renewal that finds
// another revision ends the lease, unless that revision is the holder's own renewal
// that timed out but was written (its value names this term), which it then renews.
// The holder's own clock ends the lease too: a lease is valid only until TTL (less a
// tenth for clock rates) after the start of its last successful renewal, measured on
// the monotonic clock, so a holder that was paused (SIGSTOP) knows on waking that it
// no longer leads, before it has talked to anyone.
//
// Every server watches the lock key, and a standby takes the lock over from the
// newest revision it saw, with an update checked on that revision, in two cases:
//   - at once when that revision is a delete or purge marker: a holder that stops
//     cleanly (SIGTERM, agent shutdown) releases the lock, having first stopped
//     trusting its lease;
//   - TTL after it received a holder's write, if none came since. The holder began
//     that write before the standby received it, so by then the holder's lease has
//     run out on the holder's own clock; and a renewal the standby has not received
//     yet makes the revision check fail. This is NATS's own expiry judged on the
//     standby's clock, without the lag of NATS's expiry timer (a check at least
//     250 ms apart on a clock that ticks every 100 ms: up to ~0.35 s after the TTL).
//
// A revision-checked write has one winner among any number of candidates, and a
// holder whose lock was taken over fails its next renewal on the revision, so safety
// never rests on the TTL being long: a false failover (a holder alive but unable to
// renew within its TTL) pauses launching briefly, and a launch from a holder whose
// lease has just ended is made harmless by the run record's create-if-absent and the
// launch's Nats-Msg-Id. Between a holder's death and the takeover, nobody leads and
// nothing launches; the new holder catches up what was due. Creates every TTL/4 and
// reads of the lock cover a watch that is broken, and a key that NATS expired first.

// election campaigns for the ticker lock.
type election struct {
	kv    jetstream.KeyValue
	name  string
	ttl   time.Duration
	clock clock.Clock
	log   zerolog.Logger

	mu      sync.Mutex
	seen    seenLock
	changed chan struct{} // a new revision was seen (buffered, 1)
}

func newElection(kv jetstream.KeyValue, name string, ttl time.Duration, clk clock.Clock, log zerolog.Logger) *election {
	return &election{kv: kv, name: name, ttl: ttl, clock: clk, log: log, changed: make(chan struct{}, 1)}
}

// lease is a won lock. Valid turns false at once when a renewal fails or the lease's
// validity ran out, and Lost is closed when the lock is gone: another holder's
// revision was found, or no renewal succeeded for a TTL past the lease's end. A
// renewal that got no answer (the lock stream electing a leader, or slow under load)
// suspends the lease and is retried: if a revision-checked renewal then succeeds,
// nobody else took the lock, and it resumes.
type lease struct {
	e          *election
	mu         sync.Mutex
	rev        uint64
	validUntil time.Time
	suspended  bool
	lost       chan struct{}
	lostOnce   sync.Once
}

// campaign blocks until this candidate holds the lock or ctx ends. It takes over the
// revision its watch saw once takeoverAt allows it, and otherwise tries Create every
// TTL/4 (a lock that NATS expired, or no revision known).
func (e *election) campaign(ctx context.Context) (*lease, error) {
	value, err := json.Marshal(subjects.Lock{Holder: e.name, Since: e.clock.Now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("encode lock: %w", err)
	}
	poll, retry := e.ttl/4, e.ttl/20
	var createAt, retryAt time.Time // zero: at once
	for {
		now := e.clock.Now()
		s := e.lastSeen()
		takeAt, canTake := s.takeoverAt(e.ttl)
		if !now.Before(retryAt) {
			switch {
			case canTake && !now.Before(takeAt):
				l, err := e.try(ctx, value, s.rev)
				switch {
				case err == nil:
					return l, nil
				case lockMoved(err):
					// Renewed, taken or expired since: create at once, or learn the newer revision.
					e.forget(s.rev)
					createAt = time.Time{}
				default:
					retryAt = now.Add(retry)
				}
				continue
			case !now.Before(createAt):
				createAt = now.Add(poll)
				l, err := e.try(ctx, value, 0)
				switch {
				case err == nil:
					return l, nil
				case errors.Is(err, jetstream.ErrKeyExists):
					e.learn(ctx)
				default:
					retryAt = now.Add(retry)
				}
				continue
			}
		}
		wake := createAt
		if canTake && takeAt.Before(wake) {
			wake = takeAt
		}
		if retryAt.After(wake) {
			wake = retryAt
		}
		timer := e.clock.NewTimer(wake.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-e.changed:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// lockMoved reports whether a revision-checked write of the lock failed because the
// lock is no longer at that revision (renewed, taken over, deleted or expired), as
// opposed to getting no answer.
func lockMoved(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) ||
		errors.Is(err, jetstream.ErrKeyNotFound)
}

// try takes the lock: with Create when rev is 0, else with an update checked on rev
// (a takeover). The lease is valid from when the write began.
func (e *election) try(ctx context.Context, value []byte, rev uint64) (*lease, error) {
	start := e.clock.Now()
	tryCtx, cancel := context.WithTimeout(ctx, e.ttl/2)
	defer cancel()
	var err error
	var won uint64
	if rev == 0 {
		won, err = e.kv.Create(tryCtx, subjects.LockKey, value)
	} else {
		won, err = e.kv.Update(tryCtx, subjects.LockKey, value, rev)
	}
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			e.log.Debug().Err(err).Uint64("from_revision", rev).Msg("ticker lock not taken")
		}
		return nil, fmt.Errorf("take ticker lock (from revision %d): %w", rev, err)
	}
	if rev != 0 {
		e.log.Info().Uint64("from_revision", rev).Msg("ticker lock taken over: released, or not renewed for its TTL")
	}
	return &lease{e: e, rev: won, validUntil: start.Add(e.margin()), lost: make(chan struct{})}, nil
}

// margin is how long after a renewal began the holder trusts its lease: the TTL less
// a tenth for clock-rate differences between this host and the server's.
func (e *election) margin() time.Duration { return e.ttl - e.ttl/10 }

// Valid reports whether the lease holds at this instant and is not suspended.
func (l *lease) Valid() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.suspended && l.e.clock.Now().Before(l.validUntil)
}

// Rev is the lock's revision: the fencing token written on every launch.
func (l *lease) Rev() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rev
}

// Lost is closed when the lease ends.
func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) end() { l.lostOnce.Do(func() { close(l.lost) }) }

// keep renews the lease every TTL/4, counted from the start of the previous renewal,
// until the lock is gone or ctx ends. A renewal waits for its answer while the lease
// lasts: under a saturating write load the lock stream's commits can take longer
// than TTL/4 (up to 0.7 s was measured in a 1,000-job burst on 2 cores), and a
// renewal given up early is written anyway, so that its retry only added load. A
// renewal with no answer suspends the lease; the next one, revision-checked, resumes
// it (or adopts the unanswered one first): its success proves that nobody took the
// lock meanwhile, even past the lease's end, when nothing launched. The term ends
// when the lock moved, or when no renewal succeeded for a TTL past the lease's end,
// by which time any standby has taken it over.
func (l *lease) keep(ctx context.Context) {
	defer l.end()
	e := l.e
	value, err := json.Marshal(subjects.Lock{Holder: e.name, Since: e.clock.Now().UTC()})
	if err != nil {
		return
	}
	every := e.ttl / 4
	wait := every
	for {
		timer := e.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		start := e.clock.Now()
		if l.left(start) < -e.ttl {
			e.log.Warn().Msg("ticker lease ran out and could not be renewed")
			return
		}
		renewCtx, cancel := context.WithTimeout(ctx, max(every, l.left(start)))
		rev, err := e.kv.Update(renewCtx, subjects.LockKey, value, l.Rev())
		cancel()
		switch {
		case err == nil:
			l.mu.Lock()
			if l.suspended {
				e.log.Info().Msg("ticker lock renewed again; resuming")
			}
			l.rev, l.validUntil, l.suspended = rev, start.Add(e.margin()), false
			l.mu.Unlock()
			wait = max(0, every-e.clock.Now().Sub(start))
		case ctx.Err() != nil:
			return
		case lockMoved(err) && l.isSuspended() && l.adopt(ctx, value):
			// A renewal that got no answer was written after all: renew that revision.
			e.log.Info().Uint64("lock_revision", l.Rev()).Msg("ticker lock renewal that timed out was written; renewing it")
			wait = 0
		case lockMoved(err):
			e.log.Warn().Err(err).Msg("ticker lock taken over or expired; stepping down")
			return
		default:
			// No answer: stop launching at once, and try again.
			l.mu.Lock()
			l.suspended = true
			l.mu.Unlock()
			e.log.Warn().Err(err).Msg("ticker lock renewal failed; launches suspended")
			wait = every / 4
		}
	}
}

// left is how long the lease stays valid after now; negative once it ran out.
func (l *lease) left(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.validUntil.Sub(now)
}

// isSuspended reports whether a renewal since the last good one got no answer.
func (l *lease) isSuspended() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.suspended
}

// adopt reads the lock after a renewal that got no answer was followed by a revision
// mismatch, which is what the holder's own renewal written without an answer (a
// timeout under load) looks like. If the newest revision holds this term's value
// (its holder and its start, written by nobody else), the lease goes on from it: a
// renewal checked on that revision then proves that nobody wrote since. Until one
// succeeds the lease stays suspended and its validity is not extended. A read from a
// replica that lags can only return an older revision, whose renewal fails; then the
// lease ends.
func (l *lease) adopt(ctx context.Context, value []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, l.e.ttl/4)
	defer cancel()
	ent, err := l.e.kv.Get(ctx, subjects.LockKey)
	if err != nil || ent.Revision() <= l.Rev() || !bytes.Equal(ent.Value(), value) {
		return false
	}
	l.mu.Lock()
	l.rev = ent.Revision()
	l.mu.Unlock()
	return true
}

// release deletes the lock if this lease still holds it, so that another server takes
// over at once instead of after the TTL (a clean shutdown): standbys react to the
// delete marker on their watch. The lease stops being valid first, so that no write
// of this holder starts once the marker may be out.
func (l *lease) release(ctx context.Context) {
	l.mu.Lock()
	l.validUntil = time.Time{}
	l.mu.Unlock()
	if err := l.e.kv.Delete(ctx, subjects.LockKey, jetstream.LastRevision(l.Rev())); err != nil {
		l.e.log.Debug().Err(err).Msg("ticker lock not released")
	}
}
