package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// This file is the runner's one rule for writing a run record. Every write the
// runner makes (the claim, the end of an execution, a restart and its start) is a
// revision-checked update from the revision of the record this runner last wrote or
// read after a write of its own: a record another writer moved on (the ticker
// declared the allocation lost while this process was paused, or placed it again;
// another runner of the node claimed it) is never overwritten, and what it now says
// decides what follows.

// errRecordMoved is returned when the run record moved past the revision a write
// expected: another writer changed it.
var errRecordMoved = errors.New("run record changed by another writer")

// errUnchanged is returned by readAfter when the record kept reading at the revision
// the caller knows for unchangedFor. A replica that lags catches up within that; a
// record that stays there did not move: a write refused as conflicting, after an
// earlier try of it timed out, had been accepted by a stream leader that lost its
// leadership (two peers killed) before the write was stored, and is gone.
var errUnchanged = errors.New("run record unchanged")

// unchangedFor is how long reads at the known revision are taken for a lagging
// replica before readAfter says errUnchanged.
const unchangedFor = 2 * time.Second

// recordUpdate is one write of a run record: change applied to the record at rev.
type recordUpdate struct {
	key  string
	base subjects.Run
	rev  uint64
	// change makes the record to write from a copy of the record it is given (its
	// allocations are a copy too).
	change func(*subjects.Run)
	// rebase, if set, says whether the write may be applied again to the record as
	// another writer left it: the fresh record still shows what this runner wrote
	// last (its allocation, running on this node). Without it a conflict is final.
	rebase func(*subjects.Run) bool
}

// recordCtx is the context of a write that must land while this runner lives: the
// end of an execution, a restart and its start. A run whose record is left running
// on a live node is ended by nothing else (the ticker declares lost only the runs of
// nodes that stop heartbeating), and it would hold a prohibit_overlap job for good;
// so such a write is retried through any outage of the cluster, however long. It
// ends outcomeTimeout after the runner's stop began: the process is going away, and
// its next start (a new session) makes the ticker declare the run lost.
func (s *session) recordCtx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-s.stopBegun:
		}
		t := time.NewTimer(outcomeTimeout)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
			cancel()
		}
	}()
	return ctx, cancel
}

// updateRecord writes u. It returns the record as written and its revision; or
// errRecordMoved with the record as it then was (zero when it could not be read:
// the caller must act as if another writer had taken it); or another error when the
// write could not be decided before ctx ended (it may or may not have landed).
func (s *session) updateRecord(ctx context.Context, u recordUpdate) (subjects.Run, uint64, error) {
	base, rev := u.base, u.rev
	for {
		next := base
		next.Allocations = slices.Clone(base.Allocations)
		u.change(&next)
		data, err := json.Marshal(&next)
		if err != nil {
			return subjects.Run{}, 0, fmt.Errorf("encode run record %s: %w", u.key, err)
		}
		newRev, err := s.writeRun(ctx, u.key, data, rev)
		if err == nil {
			return next, newRev, nil
		}
		if !errors.Is(err, errRecordMoved) {
			return subjects.Run{}, 0, err
		}
		entry, rerr := s.readAfter(ctx, u.key, rev, 0)
		if rerr != nil {
			return subjects.Run{}, 0, errRecordMoved
		}
		var fresh subjects.Run
		if jerr := json.Unmarshal(entry.Value(), &fresh); jerr != nil {
			return subjects.Run{}, 0, errRecordMoved
		}
		if u.rebase == nil || !u.rebase(&fresh) {
			return fresh, entry.Revision(), errRecordMoved
		}
		base, rev = fresh, entry.Revision()
	}
}

// writeRun stores data over the run record key at revision rev, with a
// revision-checked update. A conflict means another writer moved the record on:
// errRecordMoved. A write whose outcome is unknown (a timeout, a stream electing a
// leader) is tried again until ctx ends; when the retry conflicts, the record is
// read back: if it holds exactly data, the write that timed out had landed and its
// revision is returned; anything else is another writer's (errRecordMoved). It
// gives up with another error when ctx ends or the connection is closed: the write
// may or may not have landed.
func (s *session) writeRun(ctx context.Context, key string, data []byte, rev uint64) (uint64, error) {
	unknown, since, warned := false, time.Now(), time.Duration(0)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		newRev, err := s.runs.Update(octx, key, data, rev)
		cancel()
		switch {
		case err == nil:
			return newRev, nil
		case isRevisionConflict(err) && !unknown:
			return 0, errRecordMoved
		case isRevisionConflict(err):
			newRev, lerr := s.landed(ctx, key, data, rev)
			if !errors.Is(lerr, errUnchanged) {
				return newRev, lerr
			}
			// Neither landed nor moved on: write it again.
			s.log.Warn().Str("key", key).Uint64("revision", rev).Msg("run record write refused as conflicting, yet the record did not move; writing again")
		case errors.Is(err, nats.ErrConnectionClosed):
			return 0, fmt.Errorf("update run record %s: %w", key, err)
		}
		if failing := time.Since(since); failing-warned >= outcomeTimeout {
			warned = failing
			s.log.Warn().Err(err).Str("key", key).Int64("failing_for_ms", failing.Milliseconds()).Msg("run record not written yet; trying again until it is")
		} else {
			s.log.Debug().Err(err).Str("key", key).Msg("update run record; trying again")
		}
		unknown = true
		if !sleepCtx(ctx, wait) {
			return 0, fmt.Errorf("update run record %s: %w (last error: %w)", key, ctx.Err(), err)
		}
	}
}

// landed tells, after a write of data from rev timed out and its retry conflicted,
// whether the write that timed out had landed: the record then holds exactly data
// (data carries the runner's own timestamps, so no other writer writes the same).
// errUnchanged: the record is still at rev.
func (s *session) landed(ctx context.Context, key string, data []byte, rev uint64) (uint64, error) {
	entry, err := s.readAfter(ctx, key, rev, unchangedFor)
	if err != nil {
		return 0, err
	}
	if bytes.Equal(entry.Value(), data) {
		return entry.Revision(), nil
	}
	return 0, errRecordMoved
}

// readAfter reads the run record key at a revision after rev, the newest this
// runner knows to exist. Gets are served by any replica (direct gets), and one that
// lags behind answers with an older revision, or with none: such a read is made
// again. It gives up when ctx ends or the connection is closed, and with errUnchanged
// when, given within > 0, the record read at rev or older for that long.
func (s *session) readAfter(ctx context.Context, key string, rev uint64, within time.Duration) (jetstream.KeyValueEntry, error) {
	var staleSince time.Time
	for wait := 50 * time.Millisecond; ; {
		entry, err := getEntry(ctx, s.runs, key)
		pause := staleReadWait
		switch {
		case err == nil && entry.Revision() > rev:
			return entry, nil
		case err == nil, errors.Is(err, jetstream.ErrKeyNotFound):
			// A stale read: the record exists at rev, and records are never deleted
			// while a run is under way.
			if staleSince.IsZero() {
				staleSince = time.Now()
			} else if within > 0 && time.Since(staleSince) >= within {
				return nil, fmt.Errorf("read run record %s: %w at revision %d for %v", key, errUnchanged, rev, within)
			}
		case errors.Is(err, nats.ErrConnectionClosed):
			return nil, fmt.Errorf("read run record %s: %w", key, err)
		default:
			s.log.Debug().Err(err).Str("key", key).Msg("read run record; trying again")
			pause, wait = wait, min(2*wait, time.Second)
		}
		if !sleepCtx(ctx, pause) {
			return nil, fmt.Errorf("read run record %s after revision %d: %w", key, rev, ctx.Err())
		}
	}
}

// ours reports whether a is the allocation allocID placed on this node and claimed
// by this runner's node ID.
func (s *session) ours(a *subjects.Allocation, allocID string) bool {
	return a != nil && a.ID == allocID && a.Node == s.opts.Name && a.NodeID == s.nodeID
}
