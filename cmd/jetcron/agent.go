package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/acl"
	"github.com/jetcron/jetcron/api"
	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/metrics"
	"github.com/jetcron/jetcron/notify"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/runner"
	"github.com/jetcron/jetcron/subjects"
	"github.com/jetcron/jetcron/ticker"
)

// serverHeartbeat is how often a server agent rewrites its record in the servers
// bucket; serverTTL how long after that it still counts as alive.
const (
	serverHeartbeat = time.Second
	serverTTL       = 4 * time.Second
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// agentFlags are the agent's command line.
type agentFlags struct {
	configs   stringList
	jobsDir   string
	overrides configs.Overrides
	servers   string
	retryJoin string
}

func parseAgentFlags(args []string, stderr io.Writer) (*agentFlags, error) {
	var f agentFlags
	fs := flag.NewFlagSet("jetcron agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&f.configs, "config", "a config file or a folder of *.yaml files; repeat to add more (later ones win)")
	fs.BoolVar(&f.overrides.Dev, "dev", false, "one process, server and runner, for trying jetcron out (temporary data dir unless -data-dir)")
	fs.StringVar(&f.jobsDir, "jobs", "", "with -dev: store the job files (*.yaml) of this folder in the jobs bucket at start")
	fs.StringVar(&f.overrides.DataDir, "data-dir", "", "replaces data_dir")
	fs.StringVar(&f.overrides.BindAddr, "bind", "", "replaces bind_addr")
	fs.StringVar(&f.overrides.Name, "node", "", "replaces name (the node name; default the host name)")
	fs.StringVar(&f.overrides.LogLevel, "log-level", "", "replaces log_level")
	fs.StringVar(&f.overrides.Datacenter, "dc", "", "replaces datacenter")
	fs.StringVar(&f.overrides.Region, "region", "", "replaces region")
	fs.StringVar(&f.servers, "servers", "", "replaces client.servers (comma-separated host[:port])")
	fs.StringVar(&f.retryJoin, "retry-join", "", "replaces server.retry_join (comma-separated host[:port])")
	fs.StringVar(&f.overrides.NATSURL, "nats-url", "", "replaces nats.url: use this NATS instead of the embedded server")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: jetcron agent [-dev] [-config FILE|DIR ...] [options]")
		fmt.Fprintln(stderr, "\nRuns a server (server.enabled), a runner host (client.enabled), or both (-dev).")
		fmt.Fprintln(stderr, "\nOptions:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.jobsDir != "" && !f.overrides.Dev {
		return nil, errors.New("-jobs works with -dev only; define jobs with `nats kv put jobs` or `jetcron job run`")
	}
	f.overrides.Servers = splitList(f.servers)
	f.overrides.RetryJoin = splitList(f.retryJoin)
	return &f, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// runAgent runs `jetcron agent` until SIGINT or SIGTERM.
func runAgent(args []string) int {
	f, err := parseAgentFlags(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %v\n", err)
		return exitUsage
	}
	cfg, err := configs.Load(f.configs, f.overrides)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: invalid configuration:\n%v\n", err)
		return exitError
	}
	log := newLogger(cfg)
	warnInsecure(cfg, f.overrides.Dev, os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a := &agent{cfg: cfg, flags: f, log: log, alog: log.With().Str("component", "agent").Str("node", cfg.Name).Logger()}
	if cfg.Server.Enabled {
		a.alog.Info().Int64("memory_limit_mib", limitServerMemory()>>20).Msg("soft memory limit (GOMEMLIMIT sets another)")
	}
	if err := a.run(ctx); err != nil {
		a.alog.Error().Err(err).Msg("agent stopped")
		return exitError
	}
	return exitOK
}

// newLogger logs at the configured level, human-readable on a terminal and JSON
// otherwise. Each component adds itself and the node to its lines.
func newLogger(cfg *configs.Config) zerolog.Logger {
	level, err := zerolog.ParseLevel(strings.ToLower(cfg.LogLevel))
	if err != nil {
		level = zerolog.InfoLevel
	}
	var w io.Writer = os.Stderr
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// agent is one running `jetcron agent`.
type agent struct {
	cfg   *configs.Config
	flags *agentFlags
	log   zerolog.Logger // for components, which add their name and the node
	alog  zerolog.Logger // the agent's own lines
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
		t, err := ticker.New(ticker.Options{Conn: nc, JS: js, Name: cfg.Name, Logger: &a.log, StepDown: a.replicas() > 1})
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
			HeartbeatTTL: cfg.Client.HeartbeatTTL.Duration, Version: version, Logger: a.log,
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
	if a.flags.overrides.Dev {
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

// heartbeatServer keeps this server's record in the servers bucket current, and marks
// it left on a clean shutdown.
func (a *agent) heartbeatServer(ctx context.Context, js jetstream.JetStream, srv *embed.Server) error {
	var kv jetstream.KeyValue
	for attempt := 1; kv == nil; attempt++ {
		// The stream may be electing a leader (a restart): try again.
		tryCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
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
		Port: cfg.Ports.Cluster, Build: version, Protocol: 1, TTL: subjects.MillisOf(serverTTL),
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
			return put(leaveCtx)
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

// devStart stores the -jobs folder's job files and tells a newcomer what to do next.
func (a *agent) devStart(ctx context.Context, js jetstream.JetStream, srv *embed.Server) error {
	kv, err := js.KeyValue(ctx, subjects.JobsBucket)
	if err != nil {
		return fmt.Errorf("jobs bucket: %w", err)
	}
	var stored []string
	if a.flags.jobsDir != "" {
		files, err := filepath.Glob(filepath.Join(a.flags.jobsDir, "*.yaml"))
		if err != nil || len(files) == 0 {
			return fmt.Errorf("-jobs %s: no *.yaml job files there", a.flags.jobsDir)
		}
		sort.Strings(files)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("-jobs: %w", err)
			}
			name := strings.TrimSuffix(filepath.Base(file), ".yaml")
			if _, err := job.Parse(name, data); err != nil {
				return fmt.Errorf("-jobs: %s: %w", file, err)
			}
			if _, err := kv.Put(ctx, name, data); err != nil {
				return fmt.Errorf("-jobs: store %s: %w", name, err)
			}
			stored = append(stored, name)
		}
	}
	url := strings.Join(a.cfg.ClientServerURLs(), ",")
	if srv != nil {
		url = srv.ClientURL()
	}
	fmt.Fprintf(os.Stdout, "\njetcron dev agent %q is up: NATS at %s, data in %s (%s, jetcron %s).\n",
		a.cfg.Name, url, a.cfg.DataDir, runtime.GOOS, version)
	if len(stored) > 0 {
		fmt.Fprintf(os.Stdout, "Stored job(s) %s from %s. Watch them run:\n", strings.Join(stored, ", "), a.flags.jobsDir)
		fmt.Fprintf(os.Stdout, "  jetcron job status %s\n  nats stream view runs\n\n", stored[0])
		return nil
	}
	fmt.Fprintln(os.Stdout, "Define a first job, then watch it run:")
	fmt.Fprintln(os.Stdout, "  jetcron job run configs/jobs/hello.yaml      # or: nats kv put jobs hello \"$(cat configs/jobs/hello.yaml)\"")
	fmt.Fprintln(os.Stdout, "  jetcron job status hello")
	fmt.Fprintln(os.Stdout, "  nats stream view runs")
	fmt.Fprintln(os.Stdout)
	return nil
}
