package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/api"
	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/metrics"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// httpListen binds ports.http on bind_addr; nil when the port is 0 (off). Binding
// before the agent starts its work makes a port in use an error at start.
func (a *agent) httpListen() (net.Listener, error) {
	if a.cfg.Ports.HTTP == 0 {
		return nil, nil
	}
	addr := net.JoinHostPort(a.cfg.BindAddr, strconv.Itoa(a.cfg.Ports.HTTP))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ports.http: %w", err)
	}
	return ln, nil
}

// httpHandler makes the HTTP interface of this agent: the views on op, /metrics when
// m is set (servers), and the health checks of its roles.
func (a *agent) httpHandler(op *operator.Client, js jetstream.JetStream, srv *embed.Server, m *metrics.Metrics) *api.Options {
	o := &api.Options{
		Client: op, Closed: a.cfg.ACL.Enabled && !a.cfg.HTTP.OpenRead, Debug: a.cfg.EnableDebug, Logger: a.log,
		Health: func(ctx context.Context) api.Health { return a.health(ctx, op, js, srv) },
	}
	if m != nil {
		o.Metrics = m.Handler()
	}
	return o
}

// checkTimeout bounds the reads of one health check, so that a probe (1-5 s timeouts
// are usual) gets a 503 with the reason rather than no answer when the cluster does
// not answer.
const checkTimeout = 2 * time.Second

// health checks what this agent needs to do its part. A server: JetStream current
// with a meta leader, and its ticker leading or standing by (the lock bucket
// answers; not asked when JetStream is down, which would only wait). A client: its
// node registered and alive, and its runner's durable consumer present.
func (a *agent) health(ctx context.Context, op *operator.Client, js jetstream.JetStream, srv *embed.Server) api.Health {
	var checks []api.Check
	role := "client"
	if a.cfg.Server.Enabled {
		role = "server"
		jsCheck := within(ctx, func(ctx context.Context) api.Check { return a.jetStreamCheck(ctx, js, srv) })
		ticker := api.Check{Name: "ticker", Detail: "not checked: JetStream is unavailable"}
		if jsCheck.OK {
			ticker = within(ctx, func(ctx context.Context) api.Check { return a.tickerCheck(ctx, op) })
		}
		checks = append(checks, jsCheck, ticker)
	}
	if a.cfg.Client.Enabled {
		if a.cfg.Server.Enabled {
			role = "server+client"
		}
		checks = append(checks,
			within(ctx, func(ctx context.Context) api.Check { return a.registeredCheck(ctx, op) }),
			within(ctx, func(ctx context.Context) api.Check { return a.consumerCheck(ctx, js) }))
	}
	return api.NewHealth(role, checks...)
}

// within runs check with its reads bounded by checkTimeout.
func within(ctx context.Context, check func(context.Context) api.Check) api.Check {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	return check(ctx)
}

// jetStreamCheck passes when the embedded server's JetStream is current and a meta
// leader exists (or, on an existing NATS, when JetStream answers).
func (a *agent) jetStreamCheck(ctx context.Context, js jetstream.JetStream, srv *embed.Server) api.Check {
	c := api.Check{Name: "jetstream"}
	if srv != nil {
		leader := srv.MetaLeader()
		switch {
		case leader == "":
			c.Detail = "no JetStream meta leader"
		case !srv.NATS().JetStreamIsCurrent():
			c.Detail = "JetStream is not current with meta leader " + leader
		default:
			c.OK, c.Detail = true, "meta leader "+leader
		}
		return c
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		c.Detail = "JetStream does not answer: " + err.Error()
		return c
	}
	c.OK = true
	return c
}

// tickerCheck passes when the lock bucket answers: the ticker then leads (it holds
// the lock) or stands by (another does, or none yet and it may take it).
func (a *agent) tickerCheck(ctx context.Context, op *operator.Client) api.Check {
	c := api.Check{Name: "ticker"}
	lock, err := op.Lock(ctx)
	switch {
	case err != nil:
		c.Detail = "the ticker lock cannot be read: " + err.Error()
	case lock != nil && lock.Holder == a.cfg.Name:
		c.OK, c.Detail = true, "leading"
	case lock != nil:
		c.OK, c.Detail = true, "standing by; "+lock.Holder+" leads"
	default:
		c.OK, c.Detail = true, "standing by; no ticker holds the lock yet"
	}
	return c
}

// registeredCheck passes when this node's record is in the nodes bucket and alive.
// It reads its own key only: a runner's credentials allow no more (no watch of the
// bucket).
func (a *agent) registeredCheck(ctx context.Context, op *operator.Client) api.Check {
	c := api.Check{Name: "registered"}
	kv, err := op.Bucket(ctx, subjects.NodesBucket)
	if err != nil {
		c.Detail = "the nodes bucket cannot be read: " + err.Error()
		return c
	}
	e, err := kv.Get(ctx, subjects.Token(a.cfg.Name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		c.Detail = "node " + a.cfg.Name + " is not registered"
		return c
	}
	if err != nil {
		c.Detail = "the node record cannot be read: " + err.Error()
		return c
	}
	var m subjects.Member
	if err := json.Unmarshal(e.Value(), &m); err != nil {
		c.Detail = "the node record does not decode: " + err.Error()
		return c
	}
	if status := m.NodeStatus(e.Created(), time.Now()); status != subjects.StatusReady {
		c.Detail = "node record is " + status + ": its heartbeat lapsed"
		return c
	}
	c.OK, c.Detail = true, "node "+subjects.ShortID(m.ID)+" ready"
	return c
}

// consumerCheck passes when this node's durable runner consumer exists on the runs
// stream.
func (a *agent) consumerCheck(ctx context.Context, js jetstream.JetStream) api.Check {
	c := api.Check{Name: "consumer"}
	name := subjects.DurableName(a.cfg.Name)
	_, err := js.Consumer(ctx, subjects.RunsStream, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		c.Detail = "consumer " + name + " not found on stream " + subjects.RunsStream
	case err != nil:
		c.Detail = "consumer " + name + " cannot be read: " + err.Error()
	default:
		c.OK, c.Detail = true, name
	}
	return c
}
