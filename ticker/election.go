package ticker

import (
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
// every TTL/4; each renewal writes a new message, whose age restarts the TTL. The
// first renewal that fails or times out ends the lease, and so does the holder's own
// clock: a lease is valid only until TTL after the start of its last successful
// renewal, measured on the monotonic clock, so a holder that was paused (SIGSTOP)
// knows on waking that it no longer leads, before it has talked to anyone. Between
// the holder's death and the key's expiry (at most TTL plus NATS's expiry lag of
// ~0.3 s), nobody leads and nothing launches; the new holder catches up what was due.

// election campaigns for the ticker lock.
type election struct {
	kv    jetstream.KeyValue
	name  string
	ttl   time.Duration
	clock clock.Clock
	log   zerolog.Logger
}

// lease is a won lock. Valid turns false at once when a renewal fails, and Lost is
// closed when the lock is gone: another holder's revision was found, or the TTL since
// the last good renewal has passed. A renewal that only timed out (the lock stream
// electing a leader) suspends the lease and is retried while the TTL lasts: if a
// revision-checked renewal then succeeds, nobody else took the lock, and it resumes.
type lease struct {
	e          *election
	mu         sync.Mutex
	rev        uint64
	validUntil time.Time
	suspended  bool
	lost       chan struct{}
	lostOnce   sync.Once
}

// campaign blocks until this candidate holds the lock or ctx ends.
func (e *election) campaign(ctx context.Context) (*lease, error) {
	value, err := json.Marshal(subjects.Lock{Holder: e.name, Since: e.clock.Now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("encode lock: %w", err)
	}
	// Often enough that a lock that expired is taken within a small part of its TTL.
	retry := e.ttl / 20
	for {
		start := e.clock.Now()
		tryCtx, cancel := context.WithTimeout(ctx, e.ttl/2)
		rev, err := e.kv.Create(tryCtx, subjects.LockKey, value)
		cancel()
		if err == nil {
			return &lease{e: e, rev: rev, validUntil: start.Add(e.margin()), lost: make(chan struct{})}, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			e.log.Debug().Err(err).Msg("ticker lock not taken")
		}
		timer := e.clock.NewTimer(retry)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
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

// unexpired reports whether the TTL since the last good renewal still runs.
func (l *lease) unexpired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.e.clock.Now().Before(l.validUntil)
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

// keep renews the lease every TTL/4 until the lock is gone or ctx ends. It also
// ends the lease when its validity runs out between renewals (a paused process).
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
		if !l.unexpired() {
			e.log.Warn().Msg("ticker lease ran out before it could be renewed")
			return
		}
		start := e.clock.Now()
		renewCtx, cancel := context.WithTimeout(ctx, every)
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
			wait = every
		case ctx.Err() != nil:
			return
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyNotFound):
			e.log.Warn().Err(err).Msg("ticker lock taken over or expired; stepping down")
			return
		default:
			// No answer: stop launching at once, and try again while the TTL lasts.
			l.mu.Lock()
			l.suspended = true
			l.mu.Unlock()
			e.log.Warn().Err(err).Msg("ticker lock renewal failed; launches suspended")
			wait = every / 4
		}
	}
}

// release deletes the lock if this lease still holds it, so that another server takes
// over at once instead of after the TTL (a clean shutdown).
func (l *lease) release(ctx context.Context) {
	if err := l.e.kv.Delete(ctx, subjects.LockKey, jetstream.LastRevision(l.Rev())); err != nil {
		l.e.log.Debug().Err(err).Msg("ticker lock not released")
	}
}
