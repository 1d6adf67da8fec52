package embed_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/embed/embedtest"
)

// waitFor calls fn until it returns nil, failing the test with fn's last
// error after timeout. It returns how long it took.
func waitFor(t testing.TB, timeout time.Duration, fn func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := fn()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("still failing after %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts NATS servers")
	}
}

func jsContext(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return js
}

// createStream creates a stream, retrying while the cluster settles.
func createStream(t *testing.T, js jetstream.JetStream, cfg jetstream.StreamConfig) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, cfg)
		return err
	})
}

func publish(js jetstream.JetStream, subject string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := js.Publish(ctx, subject, []byte("x"))
	return err
}

// streamLeader is the index of the server that leads stream, or -1.
func streamLeader(c *embedtest.Cluster, stream string) int {
	for i, s := range c.Servers {
		if s.Running() && s.NATS().JetStreamIsStreamLeader("$G", stream) {
			return i
		}
	}
	return -1
}

func TestClusterForms(t *testing.T) {
	skipShort(t)
	start := time.Now()
	c := embedtest.NewCluster(t, 3)
	t.Logf("3-server cluster ready in %s", time.Since(start))

	leader := c.MetaLeader(t)
	var leaders []string
	for _, s := range c.Servers {
		if s.NATS().JetStreamIsLeader() {
			leaders = append(leaders, s.Name())
		}
	}
	if len(leaders) != 1 || leaders[0] != c.Servers[leader].Name() {
		t.Fatalf("servers leading the meta group: %v, all agree on %s", leaders, c.Servers[leader].Name())
	}
	for _, s := range c.Servers {
		if host, port := s.ClusterAddr(); host != "127.0.0.1" || port <= 0 {
			t.Errorf("%s: ClusterAddr() = %q, %d", s.Name(), host, port)
		}
		if want := s.Options().Port; !strings.HasSuffix(s.ClientURL(), fmt.Sprintf(":%d", want)) || want <= 0 {
			t.Errorf("%s: ClientURL() = %s, port %d", s.Name(), s.ClientURL(), want)
		}
	}

	js := jsContext(t, c.Connect(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	if err != nil {
		t.Fatalf("create R3 stream right after NewCluster: %v", err)
	}
	if _, err := js.Publish(ctx, "r3.a", []byte("x")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if info.Cluster == nil || len(info.Cluster.Replicas) != 2 || info.State.Msgs != 1 {
		t.Fatalf("stream info: cluster %+v, %d msgs", info.Cluster, info.State.Msgs)
	}
}

func TestClusterFormsWhenServersStartOneAtATime(t *testing.T) {
	skipShort(t)
	opts := embedtest.Options(t, 3)
	var mu sync.Mutex
	var servers []*embed.Server
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range servers {
			s.Kill()
		}
	})
	startOne := func(i int) *embed.Server {
		t.Helper()
		s, err := embed.Start(opts[i])
		if err != nil {
			t.Fatalf("start server %d: %v", i, err)
		}
		mu.Lock()
		servers = append(servers, s)
		mu.Unlock()
		return s
	}
	notReady := func(s *embed.Server, want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		err := s.WaitReady(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), want) {
			t.Fatalf("WaitReady = %v, want a deadline error saying %q", err, want)
		}
		t.Logf("as expected: %v", err)
	}

	s1 := startOne(0)
	notReady(s1, "waiting for 3 servers, 1 known (0 routed, ")
	s2 := startOne(1)
	waitFor(t, 5*time.Second, func() error {
		if n := s1.NATS().NumRemotes(); n != 1 {
			return fmt.Errorf("s1 has %d routed peers, want 1", n)
		}
		return nil
	})
	notReady(s2, "waiting for 3 servers, 2 known")
	start := time.Now()
	startOne(2)
	ctx, cancel := context.WithTimeout(context.Background(), embedtest.ReadyTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("ready %s after the third server started", time.Since(start))
	name := s1.MetaLeader()
	for _, s := range servers {
		if got := s.MetaLeader(); got != name || got == "" {
			t.Fatalf("%s sees meta leader %q, %s sees %q", s.Name(), got, s1.Name(), name)
		}
	}
}

func TestKillMetaLeaderElectsNewLeader(t *testing.T) {
	skipShort(t)
	c := embedtest.NewCluster(t, 3)
	old := c.MetaLeader(t)
	oldName := c.Servers[old].Name()
	c.Kill(old)
	if c.Servers[old].Running() {
		t.Fatal("killed server still running")
	}
	if urls := c.URLs(); strings.Contains(urls, c.Servers[old].ClientURL()) || strings.Count(urls, ",") != 1 {
		t.Fatalf("URLs() = %s after killing %s", urls, c.Servers[old].ClientURL())
	}
	took := waitFor(t, embedtest.ReadyTimeout, func() error {
		var views []string
		name := ""
		for i, s := range c.Servers {
			if i == old {
				continue
			}
			got := s.MetaLeader()
			views = append(views, s.Name()+" sees "+got)
			if got == "" || got == oldName || (name != "" && got != name) {
				return fmt.Errorf("no new agreed meta leader: %s", strings.Join(views, ", "))
			}
			name = got
		}
		return nil
	})
	t.Logf("new meta leader %s elected %s after killing %s", c.Servers[c.MetaLeader(t)].Name(), took, oldName)
	// Like a crash, not a handover (milliseconds): the Raft election timeout
	// is at least 4 s after the last heartbeat, sent every second.
	if took < 2*time.Second {
		t.Errorf("new leader after %s: the killed server handed its leadership over", took)
	}

	// The survivors are still a working cluster, and WaitReady counts the
	// dead member of the meta group.
	c.WaitReady(t)
	if err := c.Servers[old].WaitReady(context.Background()); !errors.Is(err, embed.ErrStopped) {
		t.Fatalf("WaitReady on a killed server = %v, want ErrStopped", err)
	}
}

func TestShutdownHandsStreamLeadershipOver(t *testing.T) {
	skipShort(t)
	c := embedtest.NewCluster(t, 3)
	js := jsContext(t, c.Connect(t))
	createStream(t, js, jetstream.StreamConfig{Name: "LD", Subjects: []string{"ld.>"}, Replicas: 3})
	waitFor(t, 10*time.Second, func() error { return publish(js, "ld.a") })

	var old int
	waitFor(t, 10*time.Second, func() error {
		if old = streamLeader(c, "LD"); old < 0 {
			return errors.New("stream LD has no leader")
		}
		return nil
	})
	oldSrv := c.Servers[old]

	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		oldSrv.Shutdown(ctx)
	}()
	// A new leader must exist while the old server is still running, i.e.
	// handed over, not elected after a timeout.
	var newLeader int
	var oldRunning bool
	took := waitFor(t, 5*time.Second, func() error {
		running := oldSrv.Running()
		if newLeader = streamLeader(c, "LD"); newLeader < 0 || newLeader == old {
			return fmt.Errorf("stream LD leader is %d, was %d", newLeader, old)
		}
		oldRunning = running
		return nil
	})
	<-done
	t.Logf("stream leadership moved from %s to %s in %s; lame-duck shutdown took %s",
		oldSrv.Name(), c.Servers[newLeader].Name(), took, time.Since(start))
	if !oldRunning {
		t.Fatalf("the new stream leader appeared only after %s had stopped", oldSrv.Name())
	}
	if oldSrv.Running() {
		t.Fatal("server still running after Shutdown returned")
	}

	// Still writable, with the new leader.
	waitFor(t, 5*time.Second, func() error { return publish(js, "ld.b") })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "LD")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Cluster.Leader == oldSrv.Name() || info.State.Msgs != 2 {
		t.Fatalf("after shutdown: leader %s, %d msgs", info.Cluster.Leader, info.State.Msgs)
	}

	// Shutdown again, and Kill, do nothing more.
	oldSrv.Shutdown(context.Background())
	oldSrv.Kill()
}

func TestRestartOnSamePortsAndStore(t *testing.T) {
	skipShort(t)
	c := embedtest.NewCluster(t, 3)
	nc := c.Connect(t)
	js := jsContext(t, nc)
	createStream(t, js, jetstream.StreamConfig{Name: "RS", Subjects: []string{"rs.>"}, Replicas: 3})
	waitFor(t, 10*time.Second, func() error { return publish(js, "rs.a") })

	before := c.Servers[1].Options()
	c.Kill(1)
	start := time.Now()
	s := c.Restart(t, 1)
	c.WaitReady(t)
	t.Logf("restarted server ready in %s", time.Since(start))
	after := s.Options()
	if after.Port != before.Port || after.ClusterPort != before.ClusterPort || after.StoreDir != before.StoreDir {
		t.Fatalf("restarted with %+v, was %+v", after, before)
	}
	waitFor(t, 20*time.Second, func() error {
		if !s.NATS().JetStreamIsStreamCurrent("$G", "RS") {
			return errors.New("restarted replica of RS not current")
		}
		return nil
	})
	waitFor(t, 10*time.Second, func() error { return publish(js, "rs.b") })
}

func TestSingleServer(t *testing.T) {
	skipShort(t)
	c := embedtest.NewCluster(t, 1)
	s := c.Servers[0]
	if host, port := s.ClusterAddr(); host != "" || port != 0 {
		t.Fatalf("single server ClusterAddr() = %q, %d", host, port)
	}
	if got := s.MetaLeader(); got != s.Name() {
		t.Fatalf("MetaLeader() = %q, want %q", got, s.Name())
	}
	if s.NATS().JetStreamIsClustered() {
		t.Fatal("single server runs clustered JetStream")
	}
	js := jsContext(t, c.Connect(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "single"})
	if err != nil {
		t.Fatalf("create KV: %v", err)
	}
	if _, err := kv.Create(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("kv create: %v", err)
	}
	if _, err := kv.Create(ctx, "k", []byte("v")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("second kv create = %v, want ErrKeyExists", err)
	}
}

func TestPortInUse(t *testing.T) {
	skipShort(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	free, err := embedtest.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		what string
		opts embed.Options
	}{
		{"client", embed.Options{Port: taken}},
		{"cluster", embed.Options{Port: -1, ClusterPort: taken, Routes: []string{fmt.Sprintf("127.0.0.1:%d", free[0])}}},
		{"monitoring", embed.Options{Port: -1, HTTPPort: taken}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			o := tc.opts
			o.Name, o.Host, o.StoreDir = "busy", "127.0.0.1", t.TempDir()
			s, err := embed.Start(o)
			if err == nil {
				s.Kill()
				t.Fatal("Start succeeded on a taken port")
			}
			want := fmt.Sprintf("embed: %s port 127.0.0.1:%d: ", tc.what, taken)
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "address already in use") {
				t.Errorf("error %q, want it to start with %q and name the cause", err, want)
			}
			if !errors.Is(err, embed.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("error %v does not wrap ErrAddrInUse and EADDRINUSE", err)
			}
		})
	}
}

func TestSyncOptionsAndMonitoring(t *testing.T) {
	skipShort(t)
	c := embedtest.NewCluster(t, 1, embedtest.WithOptions(func(_ int, o *embed.Options) {
		o.HTTPPort = embed.RandomPort
		o.Debug = true
	}))
	s := c.Servers[0]
	v, err := s.NATS().Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.JetStream.Config == nil || !v.JetStream.Config.SyncAlways {
		t.Fatalf("varz jetstream config %+v, want SyncAlways", v.JetStream.Config)
	}

	// The same, as an operator sees it on the monitoring port.
	get := func(path string) []byte {
		t.Helper()
		resp, err := http.Get(s.MonitorURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return body
	}
	var varz struct {
		ServerName string `json:"server_name"`
		JetStream  struct {
			Config struct {
				SyncAlways bool `json:"sync_always"`
			} `json:"config"`
		} `json:"jetstream"`
	}
	if err := json.Unmarshal(get("/varz"), &varz); err != nil {
		t.Fatal(err)
	}
	if varz.ServerName != s.Name() || !varz.JetStream.Config.SyncAlways {
		t.Fatalf("/varz: %+v", varz)
	}
	if h := get("/healthz"); !strings.Contains(string(h), `"ok"`) {
		t.Fatalf("/healthz: %s", h)
	}
	if p := get("/debug/pprof/"); !strings.Contains(string(p), "goroutine") {
		t.Fatalf("/debug/pprof/ does not list profiles")
	}

	// Without SyncAlways, SyncInterval is passed through.
	o := embedtest.Options(t, 1)[0]
	o.SyncAlways, o.SyncInterval = false, 7*time.Second
	s2, err := embed.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s2.Kill)
	cfg := s2.NATS().JetStreamConfig()
	if cfg == nil || cfg.SyncAlways || cfg.SyncInterval != 7*time.Second {
		t.Fatalf("jetstream config %+v, want SyncInterval 7s without SyncAlways", cfg)
	}
}

func TestStartLogsTheNATSBannerAsOneInfoLine(t *testing.T) {
	skipShort(t)
	var out embedtest.LogBuffer
	c := embedtest.NewCluster(t, 1, embedtest.WithLogger(zerolog.New(&out).Level(zerolog.InfoLevel)))
	_ = c.Servers[0]
	var nats []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["component"] == "nats" {
			nats = append(nats, rec)
		}
	}
	if len(nats) != 1 {
		t.Fatalf("nats logged %d info lines at start, want 1: %v", len(nats), nats)
	}
	if nats[0]["message"] != "nats server started" || nats[0]["version"] == nil || nats[0]["store_dir"] == nil {
		t.Fatalf("start line = %v, want the banner's version and store_dir folded into it", nats[0])
	}
}
