// Package embedtest gives a test an N-server NATS JetStream cluster, embedded
// in the test process, in one line:
//
//	c := embedtest.NewCluster(t, 3)
//	nc := c.Connect(t)
//
// Servers listen on 127.0.0.1 on free ports, keep their data in t.TempDir(),
// fsync every write (SyncAlways), and are all stopped by t.Cleanup, also when
// the test fails.
package embedtest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/embed"
)

// ReadyTimeout bounds NewCluster's and WaitReady's wait for a meta leader.
// An election after a lost leader takes 4-9 s, a restart on existing stores
// 5-7 s.
const ReadyTimeout = 30 * time.Second

// startAttempts is how often NewCluster tries again with new ports when a
// port it picked was taken in the meantime.
const startAttempts = 5

// Option changes how NewCluster builds its servers.
type Option func(*config)

type config struct {
	logger zerolog.Logger
	modify func(i int, o *embed.Options)
	wait   bool
}

// WithLogger sends the servers' NATS logs to l. Default: discarded.
func WithLogger(l zerolog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithOptions lets fn change server i's options before it first starts
// (for instance SyncAlways, HTTPPort or Debug). Ports, routes and store
// directories are already set.
func WithOptions(fn func(i int, o *embed.Options)) Option {
	return func(c *config) { c.modify = fn }
}

// NoWait makes NewCluster return as soon as every server accepts clients,
// without waiting for a meta leader.
func NoWait() Option {
	return func(c *config) { c.wait = false }
}

// Cluster is a set of embedded servers routed to each other.
type Cluster struct {
	// Servers holds server i at index i; a killed server stays in place
	// (Running reports false) until Restart replaces it.
	Servers []*embed.Server

	mu   sync.Mutex
	opts []embed.Options // what Restart starts again, ports resolved
	net  *network        // route links; nil for a single server
}

// NewCluster starts n servers on 127.0.0.1 with free ports, a temporary store
// directory each, routes to each other, SyncAlways on and BootstrapExpect n,
// and waits until they are ready (see embed.Server.WaitReady). t.Cleanup
// stops every server. n == 1 gives a single server without a cluster.
func NewCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("embedtest: NewCluster(%d): need at least one server", n)
	}
	cfg := config{logger: zerolog.Nop(), wait: true}
	for _, o := range opts {
		o(&cfg)
	}
	root := t.TempDir()
	c := &Cluster{}
	// Registered after t.TempDir, so it runs before the directory goes.
	t.Cleanup(c.killAll)
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		dirs := make([]string, n)
		for i := range dirs {
			dirs[i] = filepath.Join(root, fmt.Sprintf("try%d-s%d", attempt, i+1))
		}
		lastErr = c.start(n, dirs, cfg)
		if lastErr == nil || !errors.Is(lastErr, embed.ErrAddrInUse) {
			break
		}
		c.killAll() // a port was taken in the meantime: new ports
	}
	if lastErr != nil {
		t.Fatalf("embedtest: start %d servers: %v", n, lastErr)
	}
	if cfg.wait {
		c.WaitReady(t)
	}
	return c
}

// Options builds the options of n servers on 127.0.0.1, each with its own
// directory under t.TempDir(), without starting them: for tests that start
// servers themselves. Unlike NewCluster's, the servers route to each other
// directly. A port may have been taken by the time the server starts
// (embed.ErrAddrInUse); call it again then.
func Options(t testing.TB, n int, opts ...Option) []embed.Options {
	t.Helper()
	cfg := config{logger: zerolog.Nop(), wait: true}
	for _, o := range opts {
		o(&cfg)
	}
	var ports []int
	if n > 1 {
		var err error
		if ports, err = FreePorts(n); err != nil {
			t.Fatalf("embedtest: %v", err)
		}
	}
	routes := make([]string, len(ports))
	for i, p := range ports {
		routes[i] = addr(p)
	}
	sopts := make([]embed.Options, n)
	for i := range sopts {
		sopts[i] = baseOptions(i, n, t.TempDir(), cfg)
		if n > 1 {
			sopts[i].ClusterPort = ports[i]
			sopts[i].Routes = append([]string(nil), routes...)
		}
		if cfg.modify != nil {
			cfg.modify(i, &sopts[i])
		}
	}
	return sopts
}

// StartDirect starts n servers built by Options, all at once, without waiting
// for a meta leader. When a port was taken in the meantime it stops what it
// started and tries again with new ports. t.Cleanup stops every server.
func StartDirect(t testing.TB, n int, opts ...Option) []*embed.Server {
	t.Helper()
	var lastErr error
	for range startAttempts {
		var servers []*embed.Server
		lastErr = nil
		for _, o := range Options(t, n, opts...) {
			s, err := embed.Start(o)
			if err != nil {
				lastErr = err
				break
			}
			t.Cleanup(s.Kill)
			servers = append(servers, s)
		}
		if lastErr == nil {
			return servers
		}
		for _, s := range servers {
			s.Kill()
		}
		if !errors.Is(lastErr, embed.ErrAddrInUse) {
			break
		}
	}
	t.Fatalf("embedtest: start %d servers: %v", n, lastErr)
	return nil
}

func baseOptions(i, n int, dir string, cfg config) embed.Options {
	return embed.Options{
		Name:            fmt.Sprintf("s%d", i+1),
		Cluster:         "test",
		Host:            "127.0.0.1",
		Port:            embed.RandomPort,
		StoreDir:        dir,
		SyncAlways:      true,
		BootstrapExpect: n,
		Logger:          cfg.logger,
	}
}

// start sets up the route links and starts every server; on error the
// caller stops what was started. Client ports come from FreePorts too, since
// Restart listens on the same one again; monitoring ports are left random.
func (c *Cluster) start(n int, dirs []string, cfg config) error {
	clientPorts, err := FreePorts(n)
	if err != nil {
		return err
	}
	var clusterPorts []int
	if n > 1 {
		nw, ports, err := newNetwork(n)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.net = nw
		c.mu.Unlock()
		clusterPorts = ports
	}
	for i := range n {
		o := baseOptions(i, n, dirs[i], cfg)
		o.Port = clientPorts[i]
		if n > 1 {
			o.ClusterPort = clusterPorts[i]
			o.Routes = c.net.routes(i, clusterPorts)
			o.ClusterAdvertise = refusedAddr
		}
		if cfg.modify != nil {
			cfg.modify(i, &o)
		}
		s, err := embed.Start(o)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.Servers = append(c.Servers, s)
		c.opts = append(c.opts, s.Options())
		c.mu.Unlock()
	}
	return nil
}

// killAll stops every server at once, in parallel.
func (c *Cluster) killAll() {
	c.mu.Lock()
	servers, nw := c.Servers, c.net
	c.Servers, c.opts, c.net = nil, nil, nil
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(s.Kill)
	}
	wg.Wait()
	if nw != nil {
		nw.close()
	}
}

func (c *Cluster) server(t testing.TB, i int) *embed.Server {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.Servers) {
		t.Fatalf("embedtest: no server %d in a cluster of %d", i, len(c.Servers))
	}
	return c.Servers[i]
}

// live returns the running servers.
func (c *Cluster) live() []*embed.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*embed.Server
	for _, s := range c.Servers {
		if s.Running() {
			out = append(out, s)
		}
	}
	return out
}

// URLs is the comma-separated client URLs of the running servers.
func (c *Cluster) URLs() string {
	var urls []string
	for _, s := range c.live() {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// AllURLs is the comma-separated client URLs of every server, running or
// not: a client given them reconnects to a server after its Restart.
func (c *Cluster) AllURLs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.ClientURL()
	}
	return strings.Join(urls, ",")
}

// Connect returns a client connected to the cluster, which retries its
// connection and reconnects forever with short waits, and is closed by
// t.Cleanup.
func (c *Cluster) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	all := append([]nats.Option{
		nats.Name(t.Name()),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50 * time.Millisecond),
		nats.Timeout(300 * time.Millisecond),
	}, opts...)
	nc, err := nats.Connect(c.AllURLs(), all...)
	if err != nil {
		t.Fatalf("embedtest: connect to %s: %v", c.AllURLs(), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ConnectTo returns a client connected to server i alone, closed by t.Cleanup.
func (c *Cluster) ConnectTo(t testing.TB, i int, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(c.Servers[i].ClientURL(), append([]nats.Option{nats.Name(fmt.Sprintf("%s-s%d", t.Name(), i))}, opts...)...)
	if err != nil {
		t.Fatalf("embedtest: connect to server %d: %v", i, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Kill stops server i as a crash would: its route links are cut first, so
// its peers see the routes drop and its Raft leaderships are lost (not
// handed over), and new leaders are elected after the election timeout
// (4-9 s). Then the server is shut down.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	var s *embed.Server
	if i >= 0 && i < len(c.Servers) {
		s = c.Servers[i]
	}
	nw := c.net
	c.mu.Unlock()
	if s == nil {
		return
	}
	if nw != nil {
		nw.isolate(i)
	}
	s.Kill()
}

// Isolate cuts server i off from its peers (its route links), while it keeps
// running and its clients keep their connections: a partition in which it is the
// minority. Rejoin heals it.
func (c *Cluster) Isolate(i int) {
	c.mu.Lock()
	nw := c.net
	c.mu.Unlock()
	if nw != nil {
		nw.isolate(i)
	}
}

// Rejoin restores the route links of server i that Isolate cut.
func (c *Cluster) Rejoin(t testing.TB, i int) {
	t.Helper()
	c.mu.Lock()
	nw := c.net
	c.mu.Unlock()
	if nw == nil {
		return
	}
	if err := nw.join(i); err != nil {
		t.Fatalf("rejoin server %d: %v", i, err)
	}
}

// Shutdown stops server i gracefully, in lame-duck mode, handing its Raft
// leaderships over first.
func (c *Cluster) Shutdown(t testing.TB, i int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	c.server(t, i).Shutdown(ctx)
}

// Restart starts server i again, after Kill or Shutdown, on the same ports
// and store directory. It returns once the server accepts clients; call
// WaitReady to wait for a meta leader.
func (c *Cluster) Restart(t testing.TB, i int) *embed.Server {
	t.Helper()
	old := c.server(t, i)
	if old.Running() {
		t.Fatalf("embedtest: Restart(%d): server %s is still running", i, old.Name())
	}
	c.mu.Lock()
	o, nw := c.opts[i], c.net
	c.mu.Unlock()
	if nw != nil {
		if err := nw.join(i); err != nil {
			t.Fatalf("embedtest: restart server %d: %v", i, err)
		}
	}

	var s *embed.Server
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The port was released a moment ago; retry briefly if it is in use.
		s, err = embed.Start(o)
		if err == nil || !errors.Is(err, embed.ErrAddrInUse) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("embedtest: restart server %d: %v", i, err)
	}
	c.mu.Lock()
	c.Servers[i] = s
	c.mu.Unlock()
	return s
}

// WaitReady waits until every running server is ready, at most ReadyTimeout.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	for _, s := range c.live() {
		if err := s.WaitReady(ctx); err != nil {
			t.Fatalf("embedtest: %v", err)
		}
	}
}

// MetaLeader waits until the running servers agree on a meta leader and
// returns its index, failing the test after ReadyTimeout.
func (c *Cluster) MetaLeader(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(ReadyTimeout)
	for {
		if i := c.agreedLeader(); i >= 0 {
			return i
		}
		if time.Now().After(deadline) {
			t.Fatalf("embedtest: no agreed meta leader after %s: %s", ReadyTimeout, c.leaderViews())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agreedLeader is the index of the meta leader every running server
// reports, or -1.
func (c *Cluster) agreedLeader() int {
	live := c.live()
	if len(live) == 0 {
		return -1
	}
	name := live[0].MetaLeader()
	if name == "" {
		return -1
	}
	for _, s := range live[1:] {
		if s.MetaLeader() != name {
			return -1
		}
	}
	return c.Index(name)
}

func (c *Cluster) leaderViews() string {
	var views []string
	for _, s := range c.live() {
		views = append(views, fmt.Sprintf("%s sees %q", s.Name(), s.MetaLeader()))
	}
	return strings.Join(views, ", ")
}

// Index is the index of the server named name, or -1.
func (c *Cluster) Index(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.Servers {
		if s.Name() == name {
			return i
		}
	}
	return -1
}
