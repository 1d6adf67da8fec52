// Package cluster runs a jetcron cluster as real processes of the built binary, for
// end-to-end tests and benchmarks: N server agents and M runner hosts, each runner
// host in its own UTS namespace (`unshare --uts`) with its own host name, each process
// with its own config files, data dir and log file under one directory.
//
//	c, err := cluster.Start(ctx, cluster.Options{Jetcron: bin, NATSCLI: natsBin, Hosts: []string{"a", "b"}})
//	if err != nil { ... }
//	defer c.Close()
//	out, err := c.NATS(ctx, "kv", "put", "jobs", "hello", yaml)   // the real nats CLI
//	out, err = c.JetcronAs(ctx, cluster.Admin, "job", "status", "hello", "-json")  // operator commands
//	leader, _ := c.Leader(ctx)
//	leader.Kill()                                                   // SIGKILL
//	leader.Start()                                                  // same config and data
//
// With Options.Netns, every server runs in its own network namespace, joined to the
// others by veth pairs on a bridge, and Partition cuts one off with nftables rules
// (root only; see Netns).
//
// With Options.Secure, the cluster is deployed as the README's secure walk-through
// does: the built binary makes the credentials (`jetcron acl bootstrap`, one runner
// credentials file per host) and the certificates (`jetcron tls ca create`, `jetcron
// tls cert create -server` per server) in Dir; every server runs with the bootstrap's
// server-acl.yaml (the JWTs and server.creds) and a tls block (TLS on the client port,
// mutual TLS on the routes), every runner host with its own runner credentials and the
// CA; NATS runs the nats CLI with the admin's credentials and the CA, Jetcron the
// operator commands with -creds and the CA, Members and Nodes with the reader's.
// Without it the cluster runs without authentication nor TLS: when the binary knows
// the acl block, every config sets acl.enabled false.
//
// Close kills every process the cluster started, with their descendants (the runs),
// and removes the namespaces; every child also gets SIGKILL from the kernel if the
// process that started it dies (PR_SET_PDEATHSIG), so nothing outlives a crashed
// harness but the runs of its runner hosts.
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/subjects"
)

// Options describe the cluster to start. Zero values take the defaults shown.
type Options struct {
	// Jetcron is the path of the built jetcron binary (required).
	Jetcron string
	// NATSCLI is the path of the built nats CLI (required for NATS).
	NATSCLI string
	// Dir holds every process's config, data and log; default a new temp dir, kept
	// after Close so that logs can be read (remove it yourself).
	Dir string
	// Servers is how many server agents to start; default 3.
	Servers int
	// Hosts are the host names of the runner hosts, one agent each; default none.
	Hosts []string
	// Netns puts every server in its own network namespace on a bridge, so that
	// Partition works. Needs root and the ip command; see NetnsSupported.
	Netns bool
	// LockTTL is server.lock_ttl; default the product's (configs.DefaultLockTTL).
	LockTTL time.Duration
	// HeartbeatInterval and HeartbeatTTL are the client's; default 500ms and 2s.
	HeartbeatInterval, HeartbeatTTL time.Duration
	// LogLevel of every agent; default DEBUG.
	LogLevel string
	// ServerYAML and ClientYAML are appended as one more -config file to every
	// server's or runner host's command line (later keys win), e.g. "client: {max_parallel: 2}".
	ServerYAML, ClientYAML string
	// ReadyTimeout bounds the wait for every server to be alive with a ticker
	// leader and every host to be ready; default 60s.
	ReadyTimeout time.Duration
	// Progress, if set, gets one line per action (start, kill, partition, ...).
	Progress io.Writer
	// Secure turns authentication (NATS operator mode, credentials per role) and TLS
	// on, as a real deployment runs; default off (the benchmarks measure without).
	Secure bool
}

// Cluster is a running cluster. Its methods are safe for concurrent use.
type Cluster struct {
	opts    Options
	id      string
	servers []*Proc
	hosts   []*Proc
	net     *netns    // nil unless Options.Netns
	sec     *security // nil unless Options.Secure
	common  string    // YAML every agent's config starts with

	mu     sync.Mutex
	closed bool
}

// Role is what an agent runs as.
type Role string

// Roles of the processes.
const (
	RoleServer Role = "server"
	RoleHost   Role = "host"
)

// Start writes the configs and starts every server and runner host, then waits until
// `jetcron server members` shows every server alive with one ticker leader and
// `jetcron node status` every host ready. On error, whatever started is killed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Jetcron == "" {
		return nil, errors.New("cluster: Options.Jetcron is required")
	}
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	if opts.LockTTL == 0 {
		opts.LockTTL = configs.DefaultLockTTL
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = 500 * time.Millisecond
	}
	if opts.HeartbeatTTL == 0 {
		opts.HeartbeatTTL = 2 * time.Second
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "DEBUG"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "jetcron-cluster-")
		if err != nil {
			return nil, err
		}
		opts.Dir = d
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	// The agents run in their own folders: every path in their configs is absolute.
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = abs
	noACL, err := knowsACL(ctx, opts.Jetcron, opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.Secure && !noACL {
		return nil, errors.New("cluster: Options.Secure, but this jetcron binary has no acl block (no authentication to turn on)")
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	c := &Cluster{opts: opts, id: hex.EncodeToString(idb[:])}
	if noACL && !opts.Secure {
		c.common = "acl: {enabled: false}\n"
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if err := c.layout(ctx); err != nil {
		return nil, err
	}
	for _, p := range c.All() {
		if err := p.Start(); err != nil {
			return nil, err
		}
	}
	if err := c.WaitReady(ctx, opts.ReadyTimeout); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// layout picks addresses and ports, sets up namespaces and writes the configs.
func (c *Cluster) layout(ctx context.Context) error {
	n := c.opts.Servers
	addrs := make([]string, n)
	natsPorts, clusterPorts, httpPorts := make([]int, n), make([]int, n), make([]int, n)
	// Runner hosts serve HTTP (/v1/health) on free ports of 127.0.0.1, after the
	// servers' three each when the servers are there too.
	free := len(c.opts.Hosts)
	if !c.opts.Netns {
		free += 3 * n
	}
	ports, err := embedtest.FreePorts(free)
	if err != nil {
		return fmt.Errorf("cluster: pick ports: %w", err)
	}
	hostPorts := ports[free-len(c.opts.Hosts):]
	if c.opts.Netns {
		nn, err := newNetns(ctx, c.id, n, c.progress)
		if err != nil {
			return err
		}
		c.net = nn
		for i := range n {
			addrs[i] = nn.serverIP(i)
			natsPorts[i], clusterPorts[i], httpPorts[i] = 4222, 6222, 4646
		}
	} else {
		for i := range n {
			addrs[i] = "127.0.0.1"
			natsPorts[i], clusterPorts[i], httpPorts[i] = ports[3*i], ports[3*i+1], ports[3*i+2]
		}
	}
	if c.opts.Secure {
		if err := c.setupSecurity(ctx, addrs); err != nil {
			return err
		}
	}
	scheme := "nats"
	if c.sec != nil {
		scheme = "tls"
	}
	var join, servers []string
	for i := range n {
		join = append(join, fmt.Sprintf("%s:%d", addrs[i], clusterPorts[i]))
		servers = append(servers, fmt.Sprintf("%s:%d", addrs[i], natsPorts[i]))
	}
	for i := range n {
		name := serverName(i)
		dir := filepath.Join(c.opts.Dir, name)
		cfg := fmt.Sprintf(`log_level: %s
data_dir: %s
bind_addr: %s
name: %s
datacenter: dc1
region: global
ports: {nats: %d, cluster: %d, http: %d}
server:
  enabled: true
  bootstrap_expect: %d
  retry_join: %s
  sync_interval: always
  lock_ttl: %s
`, c.opts.LogLevel, filepath.Join(dir, "data"), addrs[i], name, natsPorts[i], clusterPorts[i], httpPorts[i],
			n, yamlList(join), c.opts.LockTTL)
		var snippets []string
		if c.sec != nil {
			cfg += c.sec.serverTLS(i)
			snippets = append(snippets, filepath.Join(c.sec.aclDir, serverACLSnippet))
		}
		p, err := c.newProc(name, RoleServer, dir, cfg, snippets, c.opts.ServerYAML)
		if err != nil {
			return err
		}
		p.Addr, p.URL = addrs[i], fmt.Sprintf("%s://%s:%d", scheme, addrs[i], natsPorts[i])
		p.HTTP = fmt.Sprintf("http://%s:%d", addrs[i], httpPorts[i])
		if c.net != nil {
			p.netns = c.net.nsName(i)
		}
		c.servers = append(c.servers, p)
	}
	for j, host := range c.opts.Hosts {
		dir := filepath.Join(c.opts.Dir, "host-"+host)
		cfg := fmt.Sprintf(`log_level: %s
data_dir: %s
bind_addr: 127.0.0.1
name: %s
datacenter: dc1
ports: {http: %d}
client:
  enabled: true
  servers: %s
  heartbeat_interval: %s
  heartbeat_ttl: %s
  options: {driver.raw_exec.enable: "1", driver.raw_exec.allow_root: "1"}
`, c.opts.LogLevel, filepath.Join(dir, "data"), host, hostPorts[j], yamlList(servers), c.opts.HeartbeatInterval, c.opts.HeartbeatTTL)
		if c.sec != nil {
			sec, err := c.sec.hostSecurity(host, dir)
			if err != nil {
				return err
			}
			cfg += sec
		}
		p, err := c.newProc(host, RoleHost, dir, cfg, nil, c.opts.ClientYAML)
		if err != nil {
			return err
		}
		p.HTTP = fmt.Sprintf("http://127.0.0.1:%d", hostPorts[j])
		c.hosts = append(c.hosts, p)
	}
	return nil
}

// newProc writes a process's agent.yaml (cfg) and extra.yaml (extra, if any), and
// returns it, with the config files agent.yaml, snippets, extra.yaml in that order.
func (c *Cluster) newProc(name string, role Role, dir, cfg string, snippets []string, extra string) (*Proc, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, err
	}
	files := []string{filepath.Join(dir, "agent.yaml")}
	if err := os.WriteFile(files[0], []byte(c.common+cfg), 0o644); err != nil {
		return nil, err
	}
	files = append(files, snippets...)
	if extra != "" {
		f := filepath.Join(dir, "extra.yaml")
		if err := os.WriteFile(f, []byte(extra), 0o644); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return &Proc{Name: name, Role: role, Dir: dir, Log: filepath.Join(dir, "agent.log"), c: c, configs: files}, nil
}

// knowsACL reports whether the binary's config has the acl block (authentication on
// by default outside dev mode), by loading a config that sets it: the cluster then
// runs with acl.enabled false, as a test cluster without credentials.
func knowsACL(ctx context.Context, jetcron, dir string) (bool, error) {
	probe := filepath.Join(dir, "acl-probe.yaml")
	if err := os.WriteFile(probe, []byte("acl: {enabled: false}\n"), 0o644); err != nil {
		return false, err
	}
	defer os.Remove(probe)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The probe config is incomplete on purpose: the agent exits after validating.
	out, _ := exec.CommandContext(ctx, jetcron, "agent", "-config", probe).CombinedOutput()
	return !strings.Contains(string(out), `unknown field "acl"`), nil
}

func yamlList(xs []string) string {
	b, _ := json.Marshal(xs)
	return string(b)
}

// Servers are the server agents, in order (server-1, server-2, ...).
func (c *Cluster) Servers() []*Proc { return c.servers }

// Hosts are the runner hosts, in the order of Options.Hosts.
func (c *Cluster) Hosts() []*Proc { return c.hosts }

// All is every process: servers, then hosts.
func (c *Cluster) All() []*Proc { return append(append([]*Proc(nil), c.servers...), c.hosts...) }

// Proc returns the process named name (a server name or a host name), or nil.
func (c *Cluster) Proc(name string) *Proc {
	for _, p := range c.All() {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// URL is every server's client URL, comma-separated, as -s and -address take it
// (tls:// on a secure cluster).
func (c *Cluster) URL() string {
	var us []string
	for _, s := range c.servers {
		us = append(us, s.URL)
	}
	return strings.Join(us, ",")
}

func (c *Cluster) progress(format string, args ...any) {
	if c.opts.Progress != nil {
		fmt.Fprintf(c.opts.Progress, "%s  %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

// NATS runs the nats CLI with -s set to every server (as the admin, with the CA, on a
// secure cluster) and returns its standard output; on a non-zero exit the error holds
// its standard error.
func (c *Cluster) NATS(ctx context.Context, args ...string) ([]byte, error) {
	return c.NATSAs(ctx, Admin, nil, args...)
}

// NATSInput is NATS with stdin as the command's standard input.
func (c *Cluster) NATSInput(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	return c.NATSAs(ctx, Admin, stdin, args...)
}

// NATSAs is NATSInput as user u (Anonymous: without credentials, still with the CA).
func (c *Cluster) NATSAs(ctx context.Context, u User, stdin []byte, args ...string) ([]byte, error) {
	if c.opts.NATSCLI == "" {
		return nil, errors.New("cluster: Options.NATSCLI is not set")
	}
	cmd := exec.CommandContext(ctx, c.opts.NATSCLI, append(c.NATSArgs(u), args...)...)
	cmd.Env = c.NATSEnv()
	return output(cmd, stdin)
}

// JetcronAs runs a jetcron operator command (e.g. "job", "status", "-json") as user
// u with -address set to every server (and on a secure cluster u's -creds and the
// CA), and returns its standard output; on a non-zero exit the error holds its
// standard error.
func (c *Cluster) JetcronAs(ctx context.Context, u User, args ...string) ([]byte, error) {
	if creds := c.Creds(u); creds != "" {
		// Flags may follow the arguments, but not a "--".
		i := len(args)
		for j, a := range args {
			if a == "--" {
				i = j
				break
			}
		}
		args = append(append(append([]string(nil), args[:i]...), "-creds", creds), args[i:]...)
	}
	cmd := exec.CommandContext(ctx, c.opts.Jetcron, args...)
	cmd.Env = c.jetcronEnv()
	return output(cmd, nil)
}

func run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	return output(exec.CommandContext(ctx, name, args...), stdin)
}

func output(cmd *exec.Cmd, stdin []byte) ([]byte, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return out.Bytes(), fmt.Errorf("%s %s: %w: %s", filepath.Base(cmd.Path), strings.Join(shortArgs(cmd.Args[1:]), " "), err, msg)
	}
	return out.Bytes(), nil
}

func shortArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 60 {
			a = a[:57] + "..."
		}
		out[i] = a
	}
	return out
}

// Member is a row of `jetcron server members -json` or `jetcron node status -json`.
type Member struct {
	subjects.Member
	Status string `json:"status"`
	Leader *bool  `json:"leader,omitempty"`
}

// Members returns `jetcron server members -json` (as the reader on a secure cluster).
func (c *Cluster) Members(ctx context.Context) ([]Member, error) {
	return c.members(ctx, "server", "members", "-json")
}

// Nodes returns `jetcron node status -json` (as the reader on a secure cluster).
func (c *Cluster) Nodes(ctx context.Context) ([]Member, error) {
	return c.members(ctx, "node", "status", "-json")
}

// membersTimeout bounds one members poll: a poll that reaches a Raft group whose
// leader was just killed hangs until the survivors elect another (4-9 s), and a
// fresh poll then answers at once, so polls are short and repeated.
const membersTimeout = 3 * time.Second

func (c *Cluster) members(ctx context.Context, args ...string) ([]Member, error) {
	ctx, cancel := context.WithTimeout(ctx, membersTimeout)
	defer cancel()
	out, err := c.JetcronAs(ctx, Reader, args...)
	if err != nil {
		return nil, err
	}
	var ms []Member
	if err := json.Unmarshal(out, &ms); err != nil {
		return nil, fmt.Errorf("jetcron %s: %w: %q", strings.Join(args, " "), err, out)
	}
	return ms, nil
}

// Leader returns the server whose ticker holds the lock, as `jetcron server members`
// shows it; an error when none does.
func (c *Cluster) Leader(ctx context.Context) (*Proc, error) {
	ms, err := c.Members(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Leader != nil && *m.Leader {
			if p := c.Proc(m.Name); p != nil && p.Running() {
				return p, nil
			}
		}
	}
	return nil, errors.New("no server holds the ticker lock")
}

// WaitLeader polls Leader until it answers or timeout passes.
func (c *Cluster) WaitLeader(ctx context.Context, timeout time.Duration) (*Proc, error) {
	var last error
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p, err := c.Leader(ctx)
		if err == nil {
			return p, nil
		}
		last = err
		if err := Sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no ticker leader after %s: %w", timeout, last)
}

// WaitReady waits until every running server is alive with one ticker leader and every
// running host is ready.
func (c *Cluster) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var why string
	for {
		why = c.notReady(ctx)
		if why == "" {
			c.progress("cluster ready")
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready after %s: %s (logs in %s)", timeout, why, c.opts.Dir)
		}
		for _, p := range c.All() {
			if p.wantUp() && !p.Running() {
				return fmt.Errorf("%s exited while starting: %s (log %s)", p.Name, p.ExitStatus(), p.Log)
			}
		}
		if err := Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

func (c *Cluster) notReady(ctx context.Context) string {
	ms, err := c.Members(ctx)
	if err != nil {
		return err.Error()
	}
	status := map[string]Member{}
	leaders := 0
	for _, m := range ms {
		status[m.Name] = m
		if m.Leader != nil && *m.Leader {
			leaders++
		}
	}
	for _, s := range c.servers {
		if s.wantUp() && status[s.Name].Status != subjects.StatusAlive {
			return fmt.Sprintf("server %s is %q", s.Name, status[s.Name].Status)
		}
	}
	if leaders != 1 {
		return fmt.Sprintf("%d ticker leaders", leaders)
	}
	if len(c.hosts) == 0 {
		return ""
	}
	ns, err := c.Nodes(ctx)
	if err != nil {
		return err.Error()
	}
	nodes := map[string]string{}
	for _, n := range ns {
		nodes[n.Name] = n.Status
	}
	for _, h := range c.hosts {
		if h.wantUp() && nodes[h.Name] != subjects.StatusReady {
			return fmt.Sprintf("host %s is %q", h.Name, nodes[h.Name])
		}
	}
	return ""
}

// Partition cuts server p off from the other servers (with all=true, from every
// address, runner hosts and harness included) until Heal. Needs Options.Netns.
func (c *Cluster) Partition(ctx context.Context, p *Proc, all bool) error {
	if c.net == nil {
		return errors.New("cluster: Partition needs Options.Netns")
	}
	var peers []string
	for _, s := range c.servers {
		if s != p {
			peers = append(peers, s.Addr)
		}
	}
	c.progress("partition: %s cut off from %s", p.Name, map[bool]string{true: "everything", false: strings.Join(peers, ", ")}[all])
	return c.net.isolate(ctx, p.netns, peers, all)
}

// Heal removes every partition.
func (c *Cluster) Heal(ctx context.Context) error {
	if c.net == nil {
		return nil
	}
	c.progress("heal partitions")
	var errs []error
	for _, s := range c.servers {
		errs = append(errs, c.net.heal(ctx, s.netns))
	}
	return errors.Join(errs...)
}

// PartitionTool names what Partition uses: "nft", "iptables", or "" without Netns.
func (c *Cluster) PartitionTool() string {
	if c.net == nil {
		return ""
	}
	return c.net.tool
}

// Close kills every process with its descendants (SIGKILL) and removes the network
// namespaces. It keeps Dir. Calling it again does nothing.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	for _, p := range c.All() {
		p.close()
	}
	if c.net != nil {
		return c.net.close()
	}
	return nil
}

// Sleep waits d; if ctx ends first, it returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
