package agent

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/subjects"
)

// serverHeartbeat is how often a server agent rewrites its record in the servers
// bucket; serverTTL how long after that it still counts as alive.
const (
	serverHeartbeat = time.Second
	serverTTL       = 4 * time.Second
)

// heartbeatServer keeps this server's record in the servers bucket current, and marks
// it left on a clean shutdown.
func (a *agent) heartbeatServer(ctx context.Context, js jetstream.JetStream, srv *embed.Server) error {
	var kv jetstream.KeyValue
	for attempt := 1; kv == nil; attempt++ {
		// The stream may be electing a leader (a restart): try again, first soon (an
		// election takes a few seconds; a lookup sent before it ended waits in vain),
		// then with longer tries for a slow cluster.
		tryCtx, cancel := context.WithTimeout(ctx, min(time.Duration(attempt)*time.Second, 5*time.Second))
		b, err := js.KeyValue(tryCtx, subjects.ServersBucket)
		cancel()
		switch {
		case err == nil:
			kv = b
		case ctx.Err() != nil:
			return nil
		case attempt%5 == 0:
			a.alog.Warn().Err(err).Msg("servers bucket not ready yet; retrying")
		}
		if kv == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	cfg := a.cfg
	m := subjects.Member{
		Name: cfg.Name, Datacenter: cfg.Datacenter, Region: cfg.Region, Address: advertised(cfg.BindAddr),
		Port: cfg.Ports.Cluster, Build: a.opts.Version, Protocol: 1, TTL: subjects.MillisOf(serverTTL),
	}
	if srv != nil {
		m.ID = srv.NATS().ID()
	}
	put := func(ctx context.Context) error {
		m.Heartbeat = time.Now().UTC()
		if srv != nil {
			m.MetaLeader = srv.MetaLeader()
		}
		data, err := json.Marshal(m)
		if err != nil {
			return err
		}
		_, err = kv.Put(ctx, subjects.Token(m.Name), data)
		return err
	}
	tick := time.NewTicker(serverHeartbeat)
	defer tick.Stop()
	for {
		putCtx, cancel := context.WithTimeout(ctx, serverHeartbeat)
		if err := put(putCtx); err != nil && ctx.Err() == nil {
			a.alog.Debug().Err(err).Msg("server heartbeat not written")
		}
		cancel()
		select {
		case <-ctx.Done():
			m.Left = true
			leaveCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := put(leaveCtx); err != nil {
				// Not an error of the agent: the record expires after its TTL instead.
				a.alog.Warn().Err(err).Int64("ttl_ms", serverTTL.Milliseconds()).Msg("server not marked left")
			}
			return nil
		case <-tick.C:
		}
	}
}

// advertised is the address others reach a server bound to bind at.
func advertised(bind string) string {
	if bind == "" || bind == "0.0.0.0" || bind == "::" {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	return bind
}
