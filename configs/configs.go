// Package configs loads the jetcron agent's configuration.
//
// Configuration is additive, like Nomad's HCL: built-in defaults, then each
// -config file (or folder of *.yaml / *.yml files, in lexical order), then
// command-line overrides. Mappings merge key by key; a later scalar or list
// replaces an earlier one; a key with no value (null) leaves the earlier
// value in place. Each file is checked strictly on its own first, so an
// unknown key or a wrong type is reported with its file and line; the merged
// result is then validated as a whole, and every problem is reported at once.
package configs

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the agent's configuration, as merged by Load.
type Config struct {
	// LogLevel is one of TRACE, DEBUG, INFO, WARN, ERROR; any case is
	// accepted and Load returns it upper-case. Default INFO.
	LogLevel string `yaml:"log_level"`
	// DataDir holds the embedded NATS server's JetStream store and the
	// runner's working directories. It must be an absolute path, and is
	// required outside dev mode (where the agent makes a temporary one).
	DataDir string `yaml:"data_dir"`
	// BindAddr is the address every port listens on: an IP address or host
	// name. Default "0.0.0.0" (all interfaces); "127.0.0.1" in dev mode.
	BindAddr string `yaml:"bind_addr"`
	// EnableDebug serves pprof and the debug endpoints on ports.http.
	EnableDebug bool `yaml:"enable_debug"`
	// Datacenter is the node's datacenter, matched against a job's
	// datacenters. Default "dc1".
	Datacenter string `yaml:"datacenter"`
	// Region is the name of the cluster, and becomes the NATS cluster name.
	// Default "global".
	Region string `yaml:"region"`
	// Name is the node's name among servers and clients. Default: the host
	// name ("dev" in dev mode when the host name is unknown).
	Name string `yaml:"name"`
	// Ports are the ports the agent listens on.
	Ports Ports `yaml:"ports"`
	// Server configures the server role: embedded NATS and the ticker.
	Server Server `yaml:"server"`
	// Client configures the client role: the runner.
	Client Client `yaml:"client"`
	// NATS says how the agent connects to NATS: an existing cluster instead of
	// the embedded one (url), and the agent's own credentials (creds).
	NATS NATS `yaml:"nats"`
	// ACL turns on authentication and subject permissions in a server's
	// embedded NATS server.
	ACL ACL `yaml:"acl"`
	// HTTP configures jetcron's HTTP interface on ports.http.
	HTTP HTTP `yaml:"http"`
	// TLS encrypts the client port and the routes of a server, and a client's
	// connection to the servers, as Nomad's tls block.
	TLS TLSBlock `yaml:"tls"`
}

// ACL is NATS's decentralized authentication: the server trusts the accounts
// that an operator signed, and each client logs in as a user of such an
// account with a credentials file, whose user JWT lists what it may publish
// and subscribe to. `jetcron acl bootstrap` makes all of them.
type ACL struct {
	// Enabled requires every client of a server's embedded NATS to log in.
	// Default true, except in dev mode. A server agent with ACLs enabled needs
	// the three JWT files below and its own nats.creds; turning them off lets
	// anyone who reaches ports.nats define jobs, that is run programs on every
	// runner host.
	Enabled bool `yaml:"enabled"`
	// OperatorFile is the operator's JWT (operator.jwt).
	OperatorFile string `yaml:"operator_file"`
	// SystemAccountFile is the system account's JWT (system-account.jwt).
	SystemAccountFile string `yaml:"system_account_file"`
	// AccountFile is the JWT of jetcron's account (account.jwt), which the
	// users log in to.
	AccountFile string `yaml:"account_file"`
}

// TLSBlock is the agent's TLS configuration, in the spirit of Nomad's tls
// block. On a server, CertFile is the server's certificate on the client port
// (clients must speak TLS) and on the routes (mutual TLS: a peer without a
// certificate from CAFile cannot join). On a client, CAFile verifies the
// servers and CertFile, if set, is presented to them.
type TLSBlock struct {
	// CAFile is the PEM certificate of the CA that signed every certificate.
	CAFile string `yaml:"ca_file"`
	// CertFile is this agent's PEM certificate; it needs KeyFile.
	CertFile string `yaml:"cert_file"`
	// KeyFile is CertFile's private key.
	KeyFile string `yaml:"key_file"`
	// VerifyServerHostname requires a server's certificate to name
	// "server.<region>.jetcron", whatever address it was dialled at: the
	// servers check it of each other on the routes, the clients of the
	// servers. A client certificate (made with -client) then cannot join the
	// cluster as a server. Default true.
	VerifyServerHostname bool `yaml:"verify_server_hostname"`
	// RequireClientCert makes a server refuse clients that do not present a
	// certificate signed by CAFile (mutual TLS on the client port too).
	// Default false: clients are authenticated by their credentials.
	RequireClientCert bool `yaml:"require_client_cert"`
}

// Enabled reports whether any TLS file is set.
func (t TLSBlock) Enabled() bool {
	return t.CAFile != "" || t.CertFile != "" || t.KeyFile != ""
}

// ServerTLSName is the name every server certificate carries, and that
// verify_server_hostname checks: "server.<region>.jetcron".
func ServerTLSName(region string) string { return "server." + region + ".jetcron" }

// ClientTLSName is the name of client certificates: "client.<region>.jetcron".
func ClientTLSName(region string) string { return "client." + region + ".jetcron" }

// Ports are the TCP ports the agent listens on, all on Config.BindAddr.
type Ports struct {
	// NATS is the client port of the embedded NATS server, and the default
	// port of client.servers. Default 4222.
	NATS int `yaml:"nats"`
	// Cluster is the port servers route to each other on, and the default
	// port of server.retry_join. Default 6222.
	Cluster int `yaml:"cluster"`
	// HTTP is jetcron's HTTP interface: the /v1 views, /v1/health, /metrics
	// (and pprof with enable_debug); 0 turns it off. Default 4646, as Nomad.
	HTTP int `yaml:"http"`
	// Monitor is the embedded NATS server's monitoring port (/varz, /jsz,
	// ...); 0, the default, turns it off, so that several agents on one host
	// never collide on it.
	Monitor int `yaml:"monitor"`
}

// Server configures the server role.
type Server struct {
	// Enabled runs an embedded NATS server (unless nats.url is set) and a
	// ticker in this agent.
	Enabled bool `yaml:"enabled"`
	// BootstrapExpect is the number of servers in the cluster: with 3 or
	// more, every bucket and stream has 3 replicas. At least 1; default 1.
	BootstrapExpect int `yaml:"bootstrap_expect"`
	// RetryJoin lists the servers to route to, as "host" or
	// "host:cluster-port" (default port: ports.cluster). Listing this
	// server itself is harmless.
	RetryJoin []string `yaml:"retry_join"`
	// SyncInterval is how often JetStream fsyncs: "always" (the default,
	// every write) or a Go duration such as "2m".
	SyncInterval string `yaml:"sync_interval"`
	// LockTTL is how long the ticker lock outlives its holder's last
	// renewal: between 500ms and 60s, default 800ms. It bounds the failover
	// after a holder dies without releasing the lock (SIGKILL, power loss).
	LockTTL Duration `yaml:"lock_ttl"`
	// RunHistory is how long run records, their output and the runs stream's
	// launches and events are kept: between 1h and 365d, default 7d. A changed
	// value applies to an existing cluster when a server starts.
	RunHistory Duration `yaml:"run_history"`
	// RunsPerJob caps the run records kept of each job, oldest dropped first,
	// so that a job every second does not fill the history alone: 0 (no cap,
	// only run_history) or at least 100, default 10000.
	RunsPerJob int `yaml:"runs_per_job"`
}

// Client configures the client role.
type Client struct {
	// Enabled runs a runner in this agent.
	Enabled bool `yaml:"enabled"`
	// Servers lists the servers to connect to, as "host" or
	// "host:nats-port" (default port: ports.nats). It may be empty when
	// nats.url is set, or when this agent is also a server.
	Servers []string `yaml:"servers"`
	// NodeClass is matched by ${node.class} constraints.
	NodeClass string `yaml:"node_class"`
	// Meta holds free-form attributes, matched by ${meta.<key>} constraints.
	Meta map[string]string `yaml:"meta"`
	// Options configure the runner, such as "driver.raw_exec.enable".
	Options map[string]string `yaml:"options"`
	// MaxParallel caps the runs executing at once on this node: between 1
	// and 10000, default 64.
	MaxParallel int `yaml:"max_parallel"`
	// HeartbeatInterval is how often the node renews its registration:
	// at least 100ms, default 1s.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// HeartbeatTTL is how long a registration outlives its last heartbeat
	// before the node counts as down: more than twice the interval,
	// default 5s.
	HeartbeatTTL Duration `yaml:"heartbeat_ttl"`
	// ShutdownGrace is how long a stopping agent lets the runs still
	// running on this node end on their own, taking no new launches
	// meanwhile, before it kills them (SIGTERM, then SIGKILL after the
	// task's kill_timeout) and records them failed. 0 kills them at once.
	// Default DefaultShutdownGrace. The systemd unit's TimeoutStopSec must
	// exceed it plus the tasks' kill_timeout, or systemd kills the agent
	// before it recorded the runs it stopped.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
}

// NATS connects the agent to an existing NATS cluster.
type NATS struct {
	// URL lists the cluster's URLs, separated by commas, such as
	// "nats://10.0.0.1:4222,nats://10.0.0.2:4222". Empty (the default)
	// means the embedded server, or client.servers for a client.
	URL string `yaml:"url"`
	// Creds is the path of this agent's NATS credentials file: its identity
	// with the embedded servers' ACLs (server.creds on a server,
	// runner-<name>.creds on a runner host), or on an existing NATS.
	Creds string `yaml:"creds"`
	// TLS holds the client certificates for the connection.
	TLS TLS `yaml:"tls"`
}

// TLS names PEM files for a TLS connection to an existing NATS (nats.url).
type TLS struct {
	// CA is the certificate authority that signed the servers' certificates.
	CA string `yaml:"ca"`
	// Cert is the client certificate; it needs Key.
	Cert string `yaml:"cert"`
	// Key is the client certificate's private key; it needs Cert.
	Key string `yaml:"key"`
}

// Duration is a time.Duration written in YAML as a Go duration string, such
// as "500ms", "2s" or "1m30s".
type Duration struct {
	time.Duration
}

// UnmarshalYAML reads a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: cannot use %s as a duration", n.Line, show(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d.Duration = v
	return nil
}

// parseDuration reads a Go duration, or a whole number of days such as "7d".
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 && n <= 100*365 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}

// HTTP configures jetcron's HTTP interface.
type HTTP struct {
	// OpenRead serves the read-only views (/v1/jobs, ..., /metrics) while ACLs
	// are on; without it they answer 403. /v1/health is always served, and
	// nothing served over HTTP changes state. Default false.
	OpenRead bool `yaml:"open_read"`
}

// DefaultHTTPPort is ports.http when no file sets it, as Nomad's.
const DefaultHTTPPort = 4646

// DefaultShutdownGrace is client.shutdown_grace when no file sets it: long
// enough for the short runs most cron jobs are to end on their own across a
// restart, short enough that a stop (an upgrade, host by host) is not held up
// by a long one, and with the default kill_timeout (5s) well within the
// systemd unit's TimeoutStopSec. Runs longer than that, such as backups, need
// `jetcron node drain` and a wait before the stop.
const DefaultShutdownGrace = 30 * time.Second

// DefaultLockTTL is server.lock_ttl when no file sets it. A holder killed
// without releasing the lock is replaced about this long after its last
// renewal. Shorter is not less safe (a takeover is revision-checked, and a
// holder trusts its lease only until the TTL after its last renewal began), but
// a holder that cannot renew within it (a renewal every TTL/4, a lease that
// runs out at 0.9 TTL) loses the lock for nothing and launching pauses while it
// changes hands. With the holder's CPUs kept 100% busy by other processes
// (1 to 16 busy threads per CPU, for minutes), renewals came at most 0.33 s
// late and the lock never changed hands (BENCHMARKS.md, false failovers);
// 800ms keeps a margin over that and the median failover under a second.
// It applies to a cluster's lock bucket when the bucket is made: a cluster
// made with another TTL keeps that one.
const DefaultLockTTL = 800 * time.Millisecond

// DefaultRunHistory is server.run_history when no file sets it.
const DefaultRunHistory = 7 * 24 * time.Hour

// DefaultRunsPerJob is server.runs_per_job when no file sets it: a job every
// minute keeps its whole week, one every second its last 2.8 hours.
const DefaultRunsPerJob = 10000

// syncAlways is the value of Server.SyncInterval that fsyncs every write.
const syncAlways = "always"

// defaults returns the configuration before any file or flag is applied.
// Dev mode enables both roles on 127.0.0.1 with raw_exec allowed (also as
// root), and turns ACLs off.
func defaults(dev bool) *Config {
	c := &Config{
		LogLevel:   "INFO",
		BindAddr:   "0.0.0.0",
		Datacenter: "dc1",
		Region:     "global",
		Ports:      Ports{NATS: 4222, Cluster: 6222, HTTP: DefaultHTTPPort},
		Server: Server{
			BootstrapExpect: 1,
			SyncInterval:    syncAlways,
			LockTTL:         Duration{DefaultLockTTL},
			RunHistory:      Duration{DefaultRunHistory},
			RunsPerJob:      DefaultRunsPerJob,
		},
		Client: Client{
			MaxParallel:       64,
			HeartbeatInterval: Duration{time.Second},
			HeartbeatTTL:      Duration{5 * time.Second},
			ShutdownGrace:     Duration{DefaultShutdownGrace},
		},
		ACL: ACL{Enabled: !dev},
		TLS: TLSBlock{VerifyServerHostname: true},
	}
	// A host name that cannot be read leaves Name empty, which validation
	// reports unless a file or flag sets it.
	if host, err := os.Hostname(); err == nil {
		c.Name = host
	} else if dev {
		c.Name = "dev"
	}
	if dev {
		c.BindAddr = "127.0.0.1"
		c.Server.Enabled = true
		c.Client.Enabled = true
		c.Client.Options = map[string]string{"driver.raw_exec.enable": "1", "driver.raw_exec.allow_root": "1"}
	}
	return c
}

// ServerJoinAddrs returns server.retry_join as "host:port" addresses, with
// ports.cluster where an entry has no port. An entry that does not parse
// (Load rejects those) is returned as it is.
func (c *Config) ServerJoinAddrs() []string {
	return hostPorts(c.Server.RetryJoin, c.Ports.Cluster)
}

// ClientServerURLs returns the NATS URLs a client connects to: nats.url
// split on commas when it is set; else client.servers as
// "nats://host:port", with ports.nats where an entry has no port; else, for
// an agent that is also a server, its own embedded server (on 127.0.0.1
// when bind_addr is a wildcard address).
func (c *Config) ClientServerURLs() []string {
	if c.NATS.URL != "" {
		return splitURLs(c.NATS.URL)
	}
	addrs := hostPorts(c.Client.Servers, c.Ports.NATS)
	if len(addrs) == 0 && c.Server.Enabled {
		addrs = []string{net.JoinHostPort(localHost(c.BindAddr), fmt.Sprint(c.Ports.NATS))}
	}
	if len(addrs) == 0 {
		return nil
	}
	urls := make([]string, len(addrs))
	for i, a := range addrs {
		urls[i] = "nats://" + a
	}
	return urls
}

// SyncAlways reports how JetStream should fsync: always is true when
// server.sync_interval is "always" (the default); otherwise interval is the
// parsed duration.
func (c *Config) SyncAlways() (always bool, interval time.Duration) {
	if strings.EqualFold(c.Server.SyncInterval, syncAlways) || c.Server.SyncInterval == "" {
		return true, 0
	}
	d, err := time.ParseDuration(c.Server.SyncInterval)
	if err != nil {
		// Load rejects such a value; fsyncing every write is the safe reading.
		return true, 0
	}
	return false, d
}

// hostPorts normalises "host" or "host:port" entries to "host:port".
func hostPorts(entries []string, defPort int) []string {
	if len(entries) == 0 {
		return nil
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		host, port, err := splitAddr(e, defPort)
		if err != nil {
			out[i] = e
			continue
		}
		out[i] = net.JoinHostPort(host, fmt.Sprint(port))
	}
	return out
}

// splitURLs splits a comma-separated URL list, dropping blanks.
func splitURLs(s string) []string {
	var urls []string
	for u := range strings.SplitSeq(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// localHost is the host a process on this machine dials to reach a server
// bound to bindAddr.
func localHost(bindAddr string) string {
	if ip := net.ParseIP(bindAddr); bindAddr == "" || ip != nil && ip.IsUnspecified() {
		return "127.0.0.1"
	}
	return bindAddr
}
