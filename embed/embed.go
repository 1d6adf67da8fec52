// Package embed runs a NATS server with JetStream inside the jetcron agent.
//
// It knows nothing of jobs: it starts one nats-server, clustered with its
// peers by routes when there are any, waits until it can serve clients and
// until the JetStream meta group has a leader, and stops it, handing its Raft
// leaderships to its peers first.
//
// Clustering follows Nomad's retry_join: every route in Options.Routes is
// dialled again every second until the peer answers, for as long as the
// server runs (nats-server retries explicit routes forever), so servers may
// start in any order. BootstrapExpect only gates WaitReady; NATS itself sizes
// the first meta group from the number of routes (at least 2), so list every
// server, this one included, in Routes.
package embed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// Defaults applied by Start to zero-valued Options fields.
const (
	// DefaultCluster is the cluster name used when Options.Cluster is empty.
	DefaultCluster = "global"
	// DefaultLameDuckDuration is how long Shutdown spends closing client
	// connections after the Raft leaderships were handed over.
	DefaultLameDuckDuration = time.Second
	// DefaultStartTimeout bounds how long Start waits for the listeners. JetStream
	// recovers every stream before the server accepts clients; after a SIGKILL, a
	// run history of millions of keys took over a minute (BENCHMARKS.md), and an
	// agent that gave up then could never start again.
	DefaultStartTimeout = 10 * time.Minute
	// DefaultClusterPort is the route port used when Options.ClusterPort is
	// 0 and there are Routes.
	DefaultClusterPort = 6222
)

// RandomPort asks for a port chosen by the kernel (tests).
const RandomPort = -1

var (
	// ErrAddrInUse is wrapped by Start's error when a port is already taken.
	ErrAddrInUse = errors.New("address already in use")
	// ErrStopped is returned by WaitReady once the server has been shut down.
	ErrStopped = errors.New("nats server stopped")
)

// OptionError is returned by Start for an invalid Options field.
type OptionError struct {
	Field  string // the Options field, e.g. "Routes"
	Reason string // what is wrong with it
}

func (e *OptionError) Error() string {
	return "embed: option " + e.Field + ": " + e.Reason
}

// Options configures one embedded NATS server. Start documents the defaults.
type Options struct {
	// Name is the server name, the jetcron node name. Required; no spaces.
	// JetStream identifies Raft peers by it, so it must not change across
	// restarts of the same store.
	Name string
	// Cluster is the NATS cluster name, jetcron's region. Default "global".
	// Ignored for a single server.
	Cluster string
	// Host is the bind address of the client, cluster and monitoring
	// listeners. Default "0.0.0.0".
	Host string
	// Port is the client port, ClusterPort the route port, HTTPPort the
	// monitoring port (/varz, /jsz, /healthz, ...). RandomPort (-1) picks a
	// free port; Options() reports the one chosen. Port 0 means NATS's 4222,
	// ClusterPort 0 means 6222 (and is ignored without Routes), HTTPPort 0
	// means no monitoring.
	Port, ClusterPort, HTTPPort int
	// Routes are the host:port (or nats-route://host:port) cluster addresses
	// of the peers; listing this server too is harmless. Each is retried
	// every second until it answers. Empty means a single server without a
	// cluster.
	Routes []string
	// ClusterAdvertise is the host:port peers are told to route to for this
	// server (behind NAT or a proxy). Default: the route listener's address.
	ClusterAdvertise string
	// StoreDir is where JetStream keeps its data. Required.
	StoreDir string
	// SyncAlways fsyncs every JetStream write (and, for R>1, every Raft
	// append). Off by default here, as in NATS; jetcron's config turns it on.
	SyncAlways bool
	// SyncInterval is the background fsync interval when SyncAlways is off.
	// Default NATS's 2 minutes.
	SyncInterval time.Duration
	// BootstrapExpect is how many servers WaitReady waits for. Default 1.
	// More than 1 needs Routes.
	BootstrapExpect int
	// Debug serves Go's pprof under /debug/pprof/ on the monitoring port.
	// Needs HTTPPort.
	Debug bool
	// Logger receives the NATS server's logs with component=nats. Notice
	// maps to info, fatal to error with fatal=true (the process never
	// exits), the rest by name. NATS debug logs are produced only when
	// Logger is at debug level or lower. The zero Logger discards.
	Logger zerolog.Logger
	// Trace logs every NATS protocol message at trace level (very verbose),
	// when Logger is at trace level. Default off.
	Trace bool
	// LameDuckDuration is how long Shutdown spreads the closing of client
	// connections over. Default DefaultLameDuckDuration (1 s).
	LameDuckDuration time.Duration
	// StartTimeout bounds how long Start waits for the server to accept
	// clients (JetStream recovers its streams first). Default 10 minutes.
	StartTimeout time.Duration
	// Auth turns on authentication (NATS operator mode, see Auth). Default nil:
	// every client may do anything.
	Auth *Auth
	// TLS is the client port's TLS configuration: clients must then speak TLS
	// (a plaintext client is refused), and the monitoring port serves HTTPS with
	// the same certificate. With ClientAuth tls.RequireAndVerifyClientCert,
	// clients must also present a certificate the config's ClientCAs verify.
	// Default nil: plaintext. The agent's own in-process connection never uses
	// TLS.
	TLS *tls.Config
	// ClusterTLS is the routes' TLS configuration, used both to accept routes and
	// to dial them, so it should hold this server's certificate, RootCAs and
	// ClientCAs, and ClientAuth tls.RequireAndVerifyClientCert (mutual TLS: a peer
	// without a certificate from the CA cannot join). Default nil: plaintext
	// routes, which anyone who reaches the cluster port can join.
	ClusterTLS *tls.Config
	// TLSTimeout bounds each TLS handshake. Default DefaultTLSTimeout (2 s).
	TLSTimeout time.Duration
}

// Server is a running embedded NATS server. Its methods are safe for
// concurrent use.
type Server struct {
	opts      Options // effective options, ports resolved
	ns        *server.Server
	log       *natsLogger
	clustered bool
	clientURL string
	monURL    string

	ldOnce sync.Once
	ldDone chan struct{} // closed when the lame-duck shutdown has finished
}

// Start starts a NATS server with JetStream and returns once it accepts
// client connections (it does not wait for the cluster: see WaitReady).
//
// Defaults: Cluster "global", Host "0.0.0.0", Port 4222, ClusterPort 6222
// (with Routes), BootstrapExpect 1, LameDuckDuration 1 s, StartTimeout 10
// minutes, TLSTimeout 2 s, no Auth and no TLS, NATS's own defaults for the rest
// (see Options). An invalid option (such as an Auth JWT that does not decode or
// was not signed by the operator) gives an *OptionError; a port that is taken
// gives an error naming the port that wraps ErrAddrInUse.
func Start(opts Options) (*Server, error) {
	o, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	routes, err := parseRoutes(o.Routes)
	if err != nil {
		return nil, err
	}
	clustered := len(routes) > 0
	if err := checkPorts(o, clustered); err != nil {
		return nil, err
	}

	lg := newNATSLogger(o.Logger.With().Str("component", "nats").Str("server", o.Name).Logger())
	debug, trace := lg.levels(o.Trace)
	so := &server.Options{
		ServerName:             o.Name,
		Host:                   o.Host,
		Port:                   o.Port,
		HTTPHost:               o.Host,
		HTTPPort:               o.HTTPPort,
		JetStream:              true,
		StoreDir:               o.StoreDir,
		SyncAlways:             o.SyncAlways,
		NoSigs:                 true, // the agent owns the signals
		DisableJetStreamBanner: true,
		Debug:                  debug,
		Trace:                  trace,
		LameDuckDuration:       o.LameDuckDuration,
		// Zero would mean NATS's 10 s; close clients at once instead.
		LameDuckGracePeriod: time.Nanosecond,
	}
	if !o.SyncAlways {
		so.SyncInterval = o.SyncInterval
	}
	if clustered {
		so.Cluster = server.ClusterOpts{Name: o.Cluster, Host: o.Host, Port: o.ClusterPort, Advertise: o.ClusterAdvertise}
		so.Routes = routes
	}
	if err := applySecurity(o, so); err != nil {
		return nil, err
	}

	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("embed: configure nats server %q: %w", o.Name, err)
	}
	ns.SetLoggerV2(lg, debug, trace, false)
	go ns.Start()

	if err := waitListening(ns, lg, o.Name, o.StartTimeout); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}

	s := &Server{ns: ns, log: lg, clustered: clustered, opts: o, ldDone: make(chan struct{})}
	if a, ok := ns.Addr().(*net.TCPAddr); ok {
		s.opts.Port = a.Port
	}
	if clustered {
		if a := ns.ClusterAddr(); a != nil {
			s.opts.ClusterPort = a.Port
		}
	}
	if a := ns.MonitorAddr(); a != nil {
		s.opts.HTTPPort = a.Port
		scheme := "http://"
		if o.TLS != nil {
			scheme = "https://"
		}
		s.monURL = scheme + net.JoinHostPort(dialHost(o.Host), strconv.Itoa(a.Port))
	}
	s.clientURL = "nats://" + net.JoinHostPort(dialHost(o.Host), strconv.Itoa(s.opts.Port))

	if o.Debug {
		s.servePprof()
	}
	lg.starting.Store(false)
	started := lg.log.Info().Str("version", server.VERSION).Str("server_id", ns.ID()).
		Str("client_url", s.clientURL).Bool("clustered", clustered)
	if js := ns.JetStreamConfig(); js != nil {
		started = started.Str("store_dir", js.StoreDir).Int64("max_memory_bytes", js.MaxMemory).Int64("max_store_bytes", js.MaxStore)
	}
	started.Msg("nats server started")
	return s, nil
}

func withDefaults(o Options) (Options, error) {
	if o.Name == "" {
		return o, &OptionError{"Name", "required"}
	}
	if strings.ContainsAny(o.Name, " \t\r\n") {
		return o, &OptionError{"Name", fmt.Sprintf("%q contains white space", o.Name)}
	}
	if o.StoreDir == "" {
		return o, &OptionError{"StoreDir", "required"}
	}
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if strings.ContainsAny(o.Cluster, " \t\r\n") {
		return o, &OptionError{"Cluster", fmt.Sprintf("%q contains white space", o.Cluster)}
	}
	if o.Host == "" {
		o.Host = "0.0.0.0"
	}
	for _, p := range []struct {
		field string
		port  int
	}{{"Port", o.Port}, {"ClusterPort", o.ClusterPort}, {"HTTPPort", o.HTTPPort}} {
		if p.port < RandomPort || p.port > 65535 {
			return o, &OptionError{p.field, fmt.Sprintf("%d is not a port", p.port)}
		}
	}
	if o.ClusterPort == 0 && len(o.Routes) > 0 {
		o.ClusterPort = DefaultClusterPort
	}
	if o.BootstrapExpect < 0 {
		return o, &OptionError{"BootstrapExpect", "negative"}
	}
	if o.BootstrapExpect == 0 {
		o.BootstrapExpect = 1
	}
	if o.BootstrapExpect > 1 && len(o.Routes) == 0 {
		return o, &OptionError{"BootstrapExpect", fmt.Sprintf("%d servers expected but no Routes given", o.BootstrapExpect)}
	}
	if o.Debug && o.HTTPPort == 0 {
		return o, &OptionError{"Debug", "needs the monitoring port (HTTPPort)"}
	}
	if o.ClusterAdvertise != "" {
		if _, _, err := net.SplitHostPort(o.ClusterAdvertise); err != nil {
			return o, &OptionError{"ClusterAdvertise", fmt.Sprintf("%q is not host:port", o.ClusterAdvertise)}
		}
	}
	if o.SyncInterval < 0 {
		return o, &OptionError{"SyncInterval", "negative"}
	}
	if o.LameDuckDuration < 0 {
		return o, &OptionError{"LameDuckDuration", "negative"}
	}
	if o.LameDuckDuration == 0 {
		o.LameDuckDuration = DefaultLameDuckDuration
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.TLSTimeout < 0 {
		return o, &OptionError{"TLSTimeout", "negative"}
	}
	if o.TLSTimeout == 0 {
		o.TLSTimeout = DefaultTLSTimeout
	}
	o.Routes = append([]string(nil), o.Routes...)
	return o, nil
}

// parseRoutes accepts host:port or a nats-route:// (or nats://) URL.
func parseRoutes(routes []string) ([]*url.URL, error) {
	var urls []*url.URL
	for _, r := range routes {
		r = strings.TrimSpace(r)
		raw := r
		if !strings.Contains(raw, "://") {
			raw = "nats-route://" + raw
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, &OptionError{"Routes", fmt.Sprintf("%q: %v", r, err)}
		}
		host, port, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" {
			return nil, &OptionError{"Routes", fmt.Sprintf("%q is not host:port", r)}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, &OptionError{"Routes", fmt.Sprintf("%q has no valid port", r)}
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// checkPorts tries each fixed port first, so that a taken port is reported
// by name with the operating system's error (errors.Is(err,
// syscall.EADDRINUSE) holds) rather than only as a NATS log line.
func checkPorts(o Options, clustered bool) error {
	type port struct {
		what string
		port int
	}
	ports := []port{{"client", o.Port}, {"monitoring", o.HTTPPort}}
	if clustered {
		ports = append(ports, port{"cluster", o.ClusterPort})
	}
	for _, p := range ports {
		if p.port <= 0 {
			continue
		}
		addr := net.JoinHostPort(o.Host, strconv.Itoa(p.port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return newStartError(fmt.Sprintf("embed: %s port %s: %v", p.what, addr, err), err)
		}
		l.Close()
	}
	return nil
}

// startError is an error with its own message that wraps the cause and, when
// the cause is a port in use, ErrAddrInUse.
type startError struct {
	msg  string
	errs []error
}

func newStartError(msg string, cause error) *startError {
	e := &startError{msg: msg}
	if cause != nil {
		e.errs = append(e.errs, cause)
	}
	if errors.Is(cause, syscall.EADDRINUSE) || strings.Contains(msg, "address already in use") {
		e.errs = append(e.errs, ErrAddrInUse)
	}
	return e
}

func (e *startError) Error() string   { return e.msg }
func (e *startError) Unwrap() []error { return e.errs }

// startProgressEvery is how often a start that waits for JetStream's recovery says so.
const startProgressEvery = 15 * time.Second

// waitListening waits until the server accepts clients, or fails fast when
// the server logged a fatal error (a port taken in the meantime, a store it
// cannot open, ...).
func waitListening(ns *server.Server, lg *natsLogger, name string, timeout time.Duration) error {
	start := time.Now()
	deadline, nextNote := start.Add(timeout), start.Add(startProgressEvery)
	for {
		if ns.ReadyForConnections(20 * time.Millisecond) {
			return nil
		}
		if msg := lg.fatalMsg(); msg != "" {
			return newStartError(fmt.Sprintf("embed: start nats server %q: %s", name, msg), nil)
		}
		now := time.Now()
		if now.After(deadline) {
			return fmt.Errorf("embed: start nats server %q: not accepting client connections after %s", name, timeout)
		}
		if now.After(nextNote) {
			nextNote = now.Add(startProgressEvery)
			lg.log.Info().Int64("waited_ms", now.Sub(start).Milliseconds()).Int64("gives_up_in_ms", deadline.Sub(now).Milliseconds()).
				Msg("embedded NATS server not accepting clients yet: JetStream is recovering its streams")
		}
	}
}

// dialHost turns a wildcard bind address into one a local client can dial.
func dialHost(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			return "127.0.0.1"
		}
		return "::1"
	}
	return host
}

// servePprof adds Go's pprof handlers to the NATS monitoring mux.
func (s *Server) servePprof() {
	mux, ok := s.ns.HTTPHandler().(*http.ServeMux)
	if !ok {
		s.log.log.Warn().Msg("pprof unavailable: unexpected nats monitoring handler")
		return
	}
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// ClientURL is the URL clients connect to, nats://host:port. A wildcard
// Host is given as the loopback address.
func (s *Server) ClientURL() string { return s.clientURL }

// MonitorURL is the monitoring base URL, http://host:port (https:// with
// Options.TLS), or "" when HTTPPort was 0.
func (s *Server) MonitorURL() string { return s.monURL }

// Name is the server name.
func (s *Server) Name() string { return s.opts.Name }

// NATS is the underlying server, for nats.InProcessServer and monitoring.
func (s *Server) NATS() *server.Server { return s.ns }

// Options are the options the server runs with: defaults applied and
// random ports replaced by the ports chosen, so that Start(s.Options())
// restarts it on the same ports and store.
func (s *Server) Options() Options {
	o := s.opts
	o.Routes = append([]string(nil), o.Routes...)
	return o
}

// ClusterAddr is the route listener's address, as peers list it in Routes
// (a wildcard Host is given as the loopback address). It is ("", 0) for a
// single server without routes.
func (s *Server) ClusterAddr() (host string, port int) {
	if !s.clustered {
		return "", 0
	}
	return dialHost(s.opts.Host), s.opts.ClusterPort
}

// Running reports whether the server is running (not shut down).
func (s *Server) Running() bool { return s.ns.Running() }

// Shutdown stops the server in lame-duck mode: it stops accepting clients,
// hands each Raft leadership it holds (meta, streams, consumers) to a peer
// and waits a second for the handover, stops JetStream, closes client
// connections over LameDuckDuration, then shuts down and returns once the
// server is fully stopped. When ctx ends first, it shuts down at once.
// Concurrent and repeated calls wait for the same shutdown; after Kill it
// returns at once.
func (s *Server) Shutdown(ctx context.Context) {
	s.ldOnce.Do(func() {
		go func() {
			defer close(s.ldDone)
			s.ns.LameDuckShutdown() // returns at once if already stopped
			s.ns.Shutdown()
		}()
	})
	select {
	case <-s.ldDone:
	case <-ctx.Done():
		s.log.log.Warn().Err(ctx.Err()).Msg("lame duck shutdown cut short")
		s.ns.Shutdown()
	}
	s.ns.WaitForShutdown()
}

// Kill shuts the server down at once, without lame-duck mode: no pause
// for handovers, clients dropped together. Note that nats-server still asks
// each Raft leader on it to step down as it stops, so while its routes are up
// its peers take over in milliseconds; only a crash (or a cut network, see
// embedtest.Cluster.Kill) costs them a 4-9 s election.
func (s *Server) Kill() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
