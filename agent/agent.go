// Package agent runs `jetcron agent`: a server (the embedded NATS server, the ticker,
// metrics and notifications), a runner host, or both, from its configuration, with
// the HTTP interface and its health checks. The command parses the flags and the
// signals; everything the agent does is here.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/acl"
	"github.com/jetcron/jetcron/api"
	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/metrics"
	"github.com/jetcron/jetcron/notify"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/runner"
	"github.com/jetcron/jetcron/subjects"
	"github.com/jetcron/jetcron/ticker"
)

// Options are what an agent runs with besides its configuration.
type Options struct {
	// Logger receives the lines of the agent and its components; each adds its name
	// and the node.
	Logger zerolog.Logger
	// Version is jetcron's build, which the agent's server and node records carry.
	Version string
	// Dev is `jetcron agent -dev`: once started, the agent stores the job files of
	// JobsDir in the jobs bucket, and tells Out where its NATS is and what to do next.
	Dev bool
	// JobsDir is a folder of job files (*.yaml, each stored under its base name),
	// with Dev only; "" for none.
	JobsDir string
	// Out is where Dev's greeting goes (the command's stdout); required with Dev.
	Out io.Writer
}

// Run runs the agent cfg describes until ctx ends: the embedded NATS server and the
// ticker of a server (server.enabled), the runner of a runner host (client.enabled),
// and the HTTP interface (ports.http). It returns when every part has stopped; an
// error when one could not start. With no data_dir it works in a temporary one,
// which it sets in cfg and removes at the end.
func Run(ctx context.Context, cfg *configs.Config, o Options) error {
	a := &agent{cfg: cfg, opts: o, log: o.Logger,
		alog: o.Logger.With().Str("component", "agent").Str("node", cfg.Name).Logger()}
	return a.run(ctx)
}

// agent is one running agent.
type agent struct {
	cfg  *configs.Config
	opts Options
	log  zerolog.Logger // for components, which add their name and the node
	alog zerolog.Logger // the agent's own lines
}

func (a *agent) run(ctx context.Context) error {
	cfg := a.cfg
	if cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "jetcron-dev-")
		if err != nil {
			return fmt.Errorf("make a temporary data dir: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.DataDir = dir
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	ln, err := a.httpListen()
	if err != nil {
		return err
	}
	if ln != nil {
		defer ln.Close()
	}
	var srv *embed.Server
	if cfg.Server.Enabled && cfg.NATS.URL == "" {
		var err error
		if srv, err = a.startServer(ctx); err != nil {
			return err
		}
		defer func() {
			shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(shutCtx)
			a.alog.Info().Msg("server shut down")
		}()
	}
	nc, err := a.connect(srv)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if cfg.Server.Enabled {
		if err := a.provision(ctx, js); err != nil {
			return err
		}
	}
	done := make(chan struct{})
	var tasks int
	start := func(name string, fn func(context.Context) error) {
		tasks++
		go func() {
			defer func() { done <- struct{}{} }()
			if err := fn(ctx); err != nil {
				a.alog.Error().Str("task", name).Err(err).Msg("stopped with an error")
			}
		}()
	}
	if cfg.Server.Enabled {
		t, err := ticker.New(ticker.Options{
			Conn: nc, JS: js, Name: cfg.Name, Logger: &a.log, StepDown: a.replicas() > 1, RunsPerJob: cfg.Server.RunsPerJob,
		})
		if err != nil {
			return err
		}
		start("ticker", t.Run)
		start("agent", func(ctx context.Context) error { return a.heartbeatServer(ctx, js, srv) })
	}
	if cfg.Client.Enabled {
		r, err := runner.New(runner.Options{
			JS: js, Conn: nc, Name: cfg.Name, Datacenter: cfg.Datacenter, Class: cfg.Client.NodeClass,
			Meta: cfg.Client.Meta, ClientOptions: runnerOptions(cfg.Client.Options), DataDir: cfg.DataDir,
			MaxParallel: cfg.Client.MaxParallel, HeartbeatInterval: cfg.Client.HeartbeatInterval.Duration,
			HeartbeatTTL: cfg.Client.HeartbeatTTL.Duration, Version: a.opts.Version, Logger: a.log,
			ShutdownGrace: cfg.Client.ShutdownGrace.Duration,
		})
		if err != nil {
			return err
		}
		start("runner", r.Run)
	}
	op := operator.New(nc, js, nc.ConnectedUrlRedacted())
	var m *metrics.Metrics
	if cfg.Server.Enabled {
		if m, err = metrics.New(metrics.Options{JS: js, Client: op, Name: cfg.Name, Logger: a.log}); err != nil {
			return err
		}
		start("metrics", m.Run)
		var baseURL string
		if cfg.Ports.HTTP != 0 {
			baseURL = fmt.Sprintf("http://%s:%d", advertised(cfg.BindAddr), cfg.Ports.HTTP)
		}
		n, err := notify.New(notify.Options{JS: js, Client: op, Name: cfg.Name, BaseURL: baseURL, Counter: m, Logger: a.log})
		if err != nil {
			return err
		}
		start("notify", n.Run)
	}
	if ln != nil {
		h := api.Handler(*a.httpHandler(op, js, srv, m))
		start("http", func(ctx context.Context) error { return api.Serve(ctx, ln, h) })
		a.alog.Info().Str("addr", ln.Addr().String()).Msg("HTTP API listening")
	}
	if a.opts.Dev {
		if err := a.devStart(ctx, js, srv); err != nil {
			return err
		}
	}
	a.alog.Info().Bool("server", cfg.Server.Enabled).Bool("client", cfg.Client.Enabled).
		Str("data_dir", cfg.DataDir).Msg("agent started")
	<-ctx.Done()
	a.alog.Info().Msg("shutting down")
	for range tasks {
		<-done
	}
	return nil
}

// replicas is how many copies of each bucket and stream the cluster keeps.
func (a *agent) replicas() int {
	if a.cfg.Server.BootstrapExpect >= 3 {
		return 3
	}
	return 1
}

// startServer starts the embedded NATS server and waits until bootstrap_expect
// servers are routed and a JetStream meta leader exists, saying what it waits for.
func (a *agent) startServer(ctx context.Context) (*embed.Server, error) {
	cfg := a.cfg
	always, interval := cfg.SyncAlways()
	opts := embed.Options{
		Name: cfg.Name, Cluster: cfg.Region, Host: cfg.BindAddr,
		Port: cfg.Ports.NATS, ClusterPort: cfg.Ports.Cluster, HTTPPort: cfg.Ports.Monitor,
		StoreDir: filepath.Join(cfg.DataDir, "nats"), SyncAlways: always, SyncInterval: interval,
		BootstrapExpect: cfg.Server.BootstrapExpect, Debug: cfg.EnableDebug && cfg.Ports.Monitor != 0,
		Logger: a.log.With().Str("node", cfg.Name).Logger(),
	}
	if cfg.Server.BootstrapExpect > 1 || len(cfg.Server.RetryJoin) > 0 {
		opts.Routes = cfg.ServerJoinAddrs()
	}
	if err := serverSecurity(cfg, &opts); err != nil {
		return nil, err
	}
	srv, err := embed.Start(opts)
	if err != nil {
		return nil, fmt.Errorf("start the embedded NATS server: %w", err)
	}
	log := a.alog
	log.Info().Str("url", srv.ClientURL()).Int("bootstrap_expect", cfg.Server.BootstrapExpect).Msg("NATS server started; waiting for the cluster")
	for {
		waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := srv.WaitReady(waitCtx)
		cancel()
		if err == nil {
			log.Info().Str("meta_leader", srv.MetaLeader()).Msg("cluster ready")
			return srv, nil
		}
		if ctx.Err() != nil {
			srv.Kill()
			return nil, fmt.Errorf("stopped while waiting for the cluster: %w", err)
		}
		log.Warn().Err(err).Msg("still waiting for the cluster")
	}
}

// connect makes the agent's connection: in process to the embedded server, else to
// nats.url or client.servers, retrying until a server answers. It logs in with
// nats.creds, and speaks TLS to remote servers with nats.tls (an existing NATS) or
// the tls block.
func (a *agent) connect(srv *embed.Server) (*nats.Conn, error) {
	cfg := a.cfg
	log := a.alog
	opts := []nats.Option{
		nats.Name("jetcron " + cfg.Name), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond), nats.Timeout(2 * time.Second),
		// A server that hangs (SIGSTOP, a full disk) keeps its TCP connections open:
		// without short pings a client would wait minutes before moving to another.
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(3),
		// Permission violations and slow consumers: say what was refused.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			e := log.Warn().Err(err)
			if sub != nil {
				e = e.Str("subject", sub.Subject)
			}
			e.Msg("nats error")
		}),
	}
	url := strings.Join(cfg.ClientServerURLs(), ",")
	if srv != nil {
		opts = append(opts, nats.InProcessServer(srv.NATS()))
		url = srv.ClientURL()
	}
	if cfg.NATS.Creds != "" {
		id, err := acl.ReadIdentity(cfg.NATS.Creds)
		if err != nil {
			return nil, fmt.Errorf("nats.creds: %w", err)
		}
		if err := checkIdentity(cfg, id); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(cfg.NATS.Creds))
		if id.Inbox != subjects.DefaultInboxPrefix {
			opts = append(opts, nats.CustomInboxPrefix(id.Inbox))
		}
		log.Info().Str("user", acl.UserName(id.Role, id.Node)).Str("creds", cfg.NATS.Creds).Msg("logging in to NATS")
	}
	if srv == nil {
		tlsOpts, err := connectionTLS(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, tlsOpts...)
	}
	if url == "" {
		return nil, errors.New("no NATS to connect to: set client.servers or nats.url")
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
			return nil, fmt.Errorf("connect to NATS at %s: %w (the servers require credentials: set nats.creds to this agent's .creds file from `%s`)",
				url, err, configs.BootstrapHint)
		}
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// provision creates the buckets and the stream, retrying while JetStream settles (all
// servers start at once and race; an election may be under way).
func (a *agent) provision(ctx context.Context, js jetstream.JetStream) error {
	layout := subjects.DefaultLayout(a.replicas(), a.cfg.Server.LockTTL.Duration)
	layout.History = a.cfg.Server.RunHistory.Duration
	for attempt := 1; ; attempt++ {
		tryCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := subjects.Provision(tryCtx, js, layout)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("provision buckets and streams: %w", err)
		}
		if attempt%5 == 0 {
			a.alog.Warn().Err(err).Msg("buckets and streams not ready yet; retrying")
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}
