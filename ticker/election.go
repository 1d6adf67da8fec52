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

// lease is a won lock. Valid turns false when a renewal fails or the TTL since the
// last good renewal has passed; Lost is closed then.
type lease struct {
	e          *election
	mu         sync.Mutex
	rev        uint64
	validUntil time.Time
	lost       chan struct{}
	lostOnce   sync.Once
}

// campaign blocks until this candidate holds the lock or ctx ends.
func (e *election) campaign(ctx context.Context) (*lease, error) {
	value, err := json.Marshal(subjects.Lock{Holder: e.name, Since: e.clock.Now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("encode lock: %w", err)
	}
	retry := e.ttl / 8
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

// Valid reports whether the lease still holds at this instant.
func (l *lease) Valid() bool {
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

// keep renews the lease every TTL/4 until a renewal fails or ctx ends. It also ends
// the lease when its validity runs out between renewals (a paused process).
func (l *lease) keep(ctx context.Context) {
	defer l.end()
	e := l.e
	value, err := json.Marshal(subjects.Lock{Holder: e.name, Since: e.clock.Now().UTC()})
	if err != nil {
		return
	}
	every := e.ttl / 4
	for {
		timer := e.clock.NewTimer(every)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		if !l.Valid() {
			e.log.Warn().Msg("ticker lease ran out before it could be renewed")
			return
		}
		start := e.clock.Now()
		renewCtx, cancel := context.WithTimeout(ctx, every)
		rev, err := e.kv.Update(renewCtx, subjects.LockKey, value, l.Rev())
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn().Err(err).Msg("ticker lock renewal failed; stepping down")
			}
			return
		}
		l.mu.Lock()
		l.rev, l.validUntil = rev, start.Add(e.margin())
		l.mu.Unlock()
	}
}

// release deletes the lock if this lease still holds it, so that another server takes
// over at once instead of after the TTL (a clean shutdown).
func (l *lease) release(ctx context.Context) {
	if err := l.e.kv.Delete(ctx, subjects.LockKey, jetstream.LastRevision(l.Rev())); err != nil {
		l.e.log.Debug().Err(err).Msg("ticker lock not released")
	}
}
