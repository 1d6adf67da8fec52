package runner

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

// attempt is one execution of a run on this node, as its record says: the one the
// claim started, or a restart. The record and its revision are those of this
// runner's last write: its next write is revision-checked from there.
type attempt struct {
	run     subjects.Run
	rev     uint64
	allocID string
	// index is the allocation's place in the record (1-based), restart which restart
	// of the placement it is (0: the allocation the ticker placed).
	index, restart int
	started        time.Time
}

// claim moves the launch's allocation from queued to running with a revision-checked
// update from the revision the launch was placed at, written from the record the
// launch carries (no read first). It returns the first attempt (nil when the launch
// must be discarded: claimed elsewhere, re-placed, or not ours) and whether the claim
// was decided at all (false when NATS kept failing).
func (s *session) claim(ctx context.Context, key string, l *subjects.Launch, log zerolog.Logger) (*attempt, bool) {
	var run subjects.Run
	if err := json.Unmarshal(l.Run, &run); err != nil {
		log.Error().Err(err).Msg("launch discarded: its run record is unreadable")
		return nil, true
	}
	if why := s.unclaimable(&run, l); why != "" {
		log.Debug().Msg("launch discarded: " + why)
		return nil, true
	}
	now := s.opts.Clock.Now().UTC()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimTimeout)
	defer cancel()
	written, rev, err := s.updateRecord(cctx, recordUpdate{key: key, base: run, rev: l.Revision, change: func(r *subjects.Run) {
		cur := r.Current()
		cur.State, cur.Started = subjects.StateRunning, &now
		cur.NodeID, cur.Session = s.nodeID, s.member.Session
		r.State = subjects.StateRunning
	}})
	switch {
	case errors.Is(err, errRecordMoved):
		log.Debug().Msg("launch discarded: claimed elsewhere or re-placed")
		return nil, true
	case err != nil:
		log.Debug().Err(err).Msg("claim undecided")
		return nil, false
	}
	return &attempt{run: written, rev: rev, allocID: l.AllocID, index: len(written.Allocations), started: now}, true
}

// unclaimable says why the launch's record cannot be claimed here ("" if it can).
func (s *session) unclaimable(run *subjects.Run, l *subjects.Launch) string {
	cur := run.Current()
	switch {
	case run.ID != l.RunID:
		return "its record is another run's (" + run.ID + ")"
	case cur == nil || cur.ID != l.AllocID:
		return "its allocation is not the run's current one"
	case cur.Node != s.opts.Name:
		return "its allocation is node " + cur.Node + "'s"
	case cur.State != subjects.StateQueued:
		return "its allocation is " + string(cur.State) + ", not queued"
	}
	return ""
}
