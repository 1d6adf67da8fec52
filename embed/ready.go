package embed

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyPoll is how often WaitReady looks at the server's state.
const readyPoll = 50 * time.Millisecond

// WaitReady waits until the server can serve JetStream: for a single server,
// until JetStream is enabled; for a cluster, until a meta leader that this
// server can reach exists and the meta group has at least BootstrapExpect
// members. Members that are down still count, so a restarted server of a
// cluster that has lost a member is ready once a leader is elected, as
// Nomad's bootstrap_expect only matters for the first bootstrap.
//
// When ctx ends first it returns an error that wraps ctx.Err() and says what
// was missing, e.g. "waiting for 3 servers, 1 known (0 routed, 1 in the meta
// group); no meta leader yet". It returns an error wrapping ErrStopped once
// the server is shut down.
func (s *Server) WaitReady(ctx context.Context) error {
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for {
		st := s.readiness()
		if st.ready() {
			return nil
		}
		if !st.running {
			return fmt.Errorf("embed: server %q: %w", s.opts.Name, ErrStopped)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embed: server %q not ready: %s: %w", s.opts.Name, st, ctx.Err())
		case <-t.C:
		}
	}
}

// MetaLeader is the name of the current JetStream meta leader, "" if there
// is none or if it is a server this one has no route to (a leader that just
// died is still reported by its followers until they notice). A single
// server is its own leader once JetStream is enabled.
func (s *Server) MetaLeader() string {
	return s.readiness().leader
}

// readyState is what WaitReady looks at.
type readyState struct {
	running   bool
	clustered bool
	js        bool   // JetStream enabled
	expect    int    // BootstrapExpect
	routed    int    // distinct peers with a route to this server
	meta      int    // members of the meta group, this server included
	leader    string // meta leader, if reachable
	stale     string // meta leader reported but unreachable
}

func (st readyState) ready() bool {
	if !st.running || !st.js {
		return false
	}
	if !st.clustered {
		return true
	}
	return st.leader != "" && st.meta >= st.expect
}

func (st readyState) String() string {
	if !st.running {
		return "server stopped"
	}
	if !st.js {
		return "JetStream not enabled yet"
	}
	known := max(st.routed+1, st.meta)
	msg := fmt.Sprintf("waiting for %d servers, %d known (%d routed, %d in the meta group)",
		st.expect, known, st.routed, st.meta)
	switch {
	case st.leader != "":
		msg += "; meta leader " + st.leader
	case st.stale != "":
		msg += "; no reachable meta leader (" + st.stale + " unreachable)"
	default:
		msg += "; no meta leader yet"
	}
	return msg
}

func (s *Server) readiness() readyState {
	st := readyState{
		running:   s.ns.Running(),
		clustered: s.clustered,
		expect:    s.opts.BootstrapExpect,
	}
	if !st.running {
		return st
	}
	st.js = s.ns.JetStreamEnabled()
	if !st.js {
		return st
	}
	if !s.clustered {
		st.leader, st.meta = s.opts.Name, 1
		return st
	}

	peers := map[string]bool{}
	if rz, err := s.ns.Routez(&server.RoutezOptions{}); err == nil {
		for _, r := range rz.Routes {
			if r.RemoteName != "" && r.RemoteName != s.opts.Name {
				peers[r.RemoteName] = true
			}
		}
	}
	st.routed = len(peers)

	jsz, err := s.ns.Jsz(nil)
	if err != nil || jsz.Meta == nil {
		return st
	}
	leader := jsz.Meta.Leader
	st.meta = len(jsz.Meta.Replicas)
	if leader != "" {
		st.meta++ // the replicas leave out this server once there is a leader
	}
	switch {
	case leader == "":
	case leader == s.opts.Name || peers[leader]:
		st.leader = leader
	default:
		st.stale = leader
	}
	return st
}
