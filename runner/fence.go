package runner

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/subjects"
)

// fenceLoop checks the runs executing here after every heartbeat, until ctx is done.
func (s *session) fenceLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.fenceNow:
		}
		s.fence(ctx)
	}
}

// fence reads the record of each run executing here and kills the process group of
// every run whose current allocation is no longer this node's running one: the
// ticker declared it lost (this process was paused past its TTL) or placed it again.
// Only revisions after the write that started the execution (the claim, or a
// restart's start) count: an older one is a stale read from a replica
// that lags behind, which would show the allocation still queued. A record that
// cannot be read is left for the next heartbeat; a record that is gone
// (deleted by hand) cannot be rescheduled, so its run goes on.
func (s *session) fence(ctx context.Context) {
	for _, e := range s.executing() {
		if ctx.Err() != nil {
			return
		}
		if e.isFinished() {
			continue
		}
		entry, err := getEntry(ctx, s.runs, e.key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			e.log.Debug().Msg("fence: run record gone")
			continue
		}
		if err != nil {
			e.log.Debug().Err(err).Msg("fence: read run record")
			continue
		}
		if entry.Revision() <= e.rev {
			// The start itself, or a stale read (gets are served by any replica):
			// nothing after the start to act on.
			continue
		}
		var run subjects.Run
		if err := json.Unmarshal(entry.Value(), &run); err != nil {
			e.log.Debug().Err(err).Msg("fence: run record unreadable")
			continue
		}
		cur := run.Current()
		if s.ours(cur, e.allocID) && cur.State == subjects.StateRunning {
			continue
		}
		if !e.kill() {
			continue
		}
		l := e.log.Warn()
		if cur != nil {
			l = l.Str("record_alloc", cur.ID).Str("record_state", string(cur.State)).Str("record_node", cur.Node)
		}
		l.Msg("run declared lost elsewhere; killed its process group")
	}
}
