package runner

import (
	"context"
	"time"
)

// heartbeatLoop writes the node record now and every HeartbeatInterval until ctx
// is done, and asks the fence loop to check the runs after each heartbeat.
func (s *session) heartbeatLoop(ctx context.Context) {
	t := s.opts.Clock.NewTimer(0)
	defer t.Stop()
	registered := false
	failing := false
	// A heartbeat later than half the TTL is as good as none: the node is about to
	// count as down. When they fail that long, the server this runner is connected to
	// is likely cut off from its peers (it still answers, so the client never notices):
	// move to another one. When heartbeats fail through the next one too, the whole
	// cluster is likely slow (a burst on saturated hosts), where each move only loses
	// the answers in flight: each further move waits twice as long, until one succeeds.
	patience := s.opts.HeartbeatTTL / 2
	lastOK := s.opts.Clock.Now()
	moves := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, patience)
		err := s.heartbeat(hctx, false)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				s.log.Warn().Err(err).Msg("heartbeat failed")
			} else {
				s.log.Debug().Err(err).Msg("heartbeat failed")
			}
			failing = true
			if now := s.opts.Clock.Now(); now.Sub(lastOK) >= moveAfter(patience, moves) {
				s.reconnectElsewhere(now.Sub(lastOK))
				lastOK = now // give the new server as long, or longer
				moves++
			}
		case !registered:
			s.log.Info().Str("node_id", s.nodeID).Bool("drain", s.drain).Msg("node registered")
			registered, failing, moves = true, false, 0
			lastOK = s.opts.Clock.Now()
		default:
			if failing {
				s.log.Info().Msg("heartbeat recovered")
			}
			failing, moves = false, 0
			lastOK = s.opts.Clock.Now()
		}
		select {
		case s.fenceNow <- struct{}{}:
		default:
		}
		t.Reset(s.opts.HeartbeatInterval)
	}
}

// moveAfter is how long heartbeats must have failed through the connected server
// before the runner moves to another one, after moves moves with no heartbeat since:
// patience, then twice as long for each further move, up to 8 times patience.
func moveAfter(patience time.Duration, moves int) time.Duration {
	return patience << min(moves, 3)
}

// reconnectElsewhere drops the connection's server for the next one of its list,
// when it knows another.
func (s *session) reconnectElsewhere(failingFor time.Duration) {
	nc := s.opts.Conn
	if len(nc.Servers()) < 2 {
		return
	}
	s.log.Warn().Str("server", nc.ConnectedUrlRedacted()).Dur("failing_for_ms", failingFor).
		Msg("heartbeats fail through this server; reconnecting to another")
	if err := nc.ForceReconnect(); err != nil {
		s.log.Debug().Err(err).Msg("reconnect")
	}
}

// deregister marks the node as left.
func (s *session) deregister() {
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		err := s.heartbeat(ctx, true)
		cancel()
		if err == nil {
			s.log.Info().Msg("node deregistered")
			return
		}
		s.log.Warn().Err(err).Msg("deregister node")
	}
}
