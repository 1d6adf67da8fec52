package configs

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// logLevels are the accepted values of log_level, upper-cased.
var logLevels = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}

// Limits of the validated values.
const (
	minLockTTL    = 500 * time.Millisecond
	maxLockTTL    = 60 * time.Second
	minRunHistory = time.Hour
	maxRunHistory = 365 * 24 * time.Hour
	// minRunsPerJob keeps a job's open runs among the records a cap keeps.
	minRunsPerJob        = 100
	minHeartbeatInterval = 100 * time.Millisecond
	maxMaxParallel       = 10000
)

// validator collects the problems of a merged configuration, locating each
// through the origins the checker recorded.
type validator struct {
	origins map[string]origin
	errs    []error
}

// validate returns every problem with the merged configuration c.
func validate(c *Config, dev bool, origins map[string]origin) []error {
	v := &validator{origins: origins}
	if !slices.Contains(logLevels, strings.ToUpper(c.LogLevel)) {
		v.fail("log_level", "must be one of %s, got %q", strings.Join(logLevels, ", "), c.LogLevel)
	}
	switch {
	case c.DataDir == "" && !dev:
		v.fail("data_dir", "must be set outside dev mode")
	case c.DataDir != "" && !filepath.IsAbs(c.DataDir):
		v.fail("data_dir", "must be an absolute path, got %q", c.DataDir)
	}
	if err := checkHost(c.BindAddr); err != nil {
		v.fail("bind_addr", "%q: %v", c.BindAddr, err)
	}
	v.token("datacenter", c.Datacenter)
	v.token("region", c.Region)
	v.token("name", c.Name)
	v.ports(c.Ports)
	if c.EnableDebug && c.Ports.HTTP == 0 {
		v.fail("enable_debug", "needs the http port, but ports.http is 0 (off)")
	}
	v.server(c.Server, c.Ports.Cluster)
	v.client(c)
	v.nats(c.NATS)
	v.security(c)
	if !dev && !c.Server.Enabled && !c.Client.Enabled {
		v.fail("", "neither server.enabled nor client.enabled is true: enable one or both (or run in dev mode)")
	}
	return v.errs
}

// ports checks each port's range, and that no two ports are the same.
func (v *validator) ports(p Ports) {
	named := []struct {
		name   string
		port   int
		lowest int
	}{{"nats", p.NATS, 1}, {"cluster", p.Cluster, 1}, {"http", p.HTTP, 0}, {"monitor", p.Monitor, 0}}
	for i, a := range named {
		if err := checkPort(a.port, a.lowest); err != nil {
			v.fail("ports."+a.name, "%v", err)
		}
		for _, b := range named[i+1:] {
			if a.port != 0 && a.port == b.port {
				v.fail("ports", "%s and %s are both %d", a.name, b.name, a.port)
			}
		}
	}
}

// server checks the server section; cluster is the default retry_join port.
func (v *validator) server(s Server, cluster int) {
	if s.BootstrapExpect < 1 {
		v.fail("server.bootstrap_expect", "must be at least 1, got %d", s.BootstrapExpect)
	}
	v.addrs("server.retry_join", s.RetryJoin, cluster)
	if !strings.EqualFold(s.SyncInterval, syncAlways) {
		if d, err := time.ParseDuration(s.SyncInterval); err != nil || d <= 0 {
			v.fail("server.sync_interval", `must be %q or a positive duration like "2m", got %q`, syncAlways, s.SyncInterval)
		}
	}
	if d := s.LockTTL.Duration; d < minLockTTL || d > maxLockTTL {
		v.fail("server.lock_ttl", "must be between %v and %v, got %v", minLockTTL, maxLockTTL, d)
	}
	if d := s.RunHistory.Duration; d < minRunHistory || d > maxRunHistory {
		v.fail("server.run_history", "must be between 1h and 365d, got %v", d)
	}
	if n := s.RunsPerJob; n != 0 && n < minRunsPerJob {
		v.fail("server.runs_per_job", "must be 0 (no cap) or at least %d, got %d", minRunsPerJob, n)
	}
}

// client checks the client section, which needs somewhere to connect when
// the client role is on.
func (v *validator) client(c *Config) {
	cl := c.Client
	if cl.Enabled && len(cl.Servers) == 0 && c.NATS.URL == "" && !c.Server.Enabled {
		v.fail("client.servers", "a client needs at least one server (or nats.url)")
	}
	v.addrs("client.servers", cl.Servers, c.Ports.NATS)
	if cl.MaxParallel < 1 || cl.MaxParallel > maxMaxParallel {
		v.fail("client.max_parallel", "must be between 1 and %d, got %d", maxMaxParallel, cl.MaxParallel)
	}
	interval, ttl := cl.HeartbeatInterval.Duration, cl.HeartbeatTTL.Duration
	if interval < minHeartbeatInterval {
		v.fail("client.heartbeat_interval", "must be at least %v, got %v", minHeartbeatInterval, interval)
	}
	if ttl <= 2*interval {
		v.fail("client.heartbeat_ttl", "must be more than twice client.heartbeat_interval (%v), got %v", interval, ttl)
	}
	if g := cl.ShutdownGrace.Duration; g < 0 {
		v.fail("client.shutdown_grace", "must not be negative (0 kills the runs at once), got %v", g)
	}
}

// nats checks the connection to an existing NATS cluster.
func (v *validator) nats(n NATS) {
	if n.URL != "" {
		urls := splitURLs(n.URL)
		if len(urls) == 0 {
			v.fail("nats.url", "no URL in %q", n.URL)
		}
		for _, u := range urls {
			if err := checkURL(u); err != nil {
				v.fail("nats.url", "%q: %v", u, err)
			}
		}
	}
	switch {
	case n.TLS.Cert != "" && n.TLS.Key == "":
		v.fail("nats.tls.cert", "needs nats.tls.key too")
	case n.TLS.Key != "" && n.TLS.Cert == "":
		v.fail("nats.tls.key", "needs nats.tls.cert too")
	}
}

// BootstrapHint is what to run to make the credentials a server needs.
const BootstrapHint = "jetcron acl bootstrap -dir /etc/jetcron/acl"

// TLSHint is what to run to make a test cluster's certificates.
const TLSHint = "jetcron tls ca create -dir /etc/jetcron/tls; jetcron tls cert create -dir /etc/jetcron/tls -server NAME"

// security checks the acl and tls blocks. A server agent that runs an
// embedded NATS server with ACLs on (the default outside dev mode) needs its
// JWT files and its own credentials, and a cluster of them needs TLS: routes
// in plaintext are unauthenticated, so anyone who reaches the cluster port
// could join and rewrite the jobs.
func (v *validator) security(c *Config) {
	embedded := c.Server.Enabled && c.NATS.URL == ""
	a := c.ACL
	if embedded && a.Enabled {
		files := []struct{ field, value string }{
			{"acl.operator_file", a.OperatorFile},
			{"acl.system_account_file", a.SystemAccountFile},
			{"acl.account_file", a.AccountFile},
			{"nats.creds", c.NATS.Creds},
		}
		var missing []string
		for _, f := range files {
			if f.value == "" {
				missing = append(missing, f.field)
			}
		}
		switch {
		case len(missing) == len(files):
			v.fail("acl", "a server needs credentials: authentication is on outside dev mode. "+
				"Run `%s`, and add the acl block and nats.creds of the server-acl.yaml it writes to this server's config "+
				"(or set acl.enabled: false to run without authentication, which lets anyone who reaches ports.nats "+
				"run programs on every runner host)", BootstrapHint)
		case len(missing) > 0:
			for _, f := range missing {
				v.fail(f, "required when acl.enabled is true on a server (`%s` writes it)", BootstrapHint)
			}
		}
		for _, f := range files {
			if f.value != "" && !filepath.IsAbs(f.value) {
				v.fail(f.field, "must be an absolute path, got %q", f.value)
			}
		}
		clustered := c.Server.BootstrapExpect > 1 || len(c.Server.RetryJoin) > 0
		if clustered && !c.TLS.Enabled() {
			v.fail("tls", "servers that route to each other with acl.enabled need TLS: plaintext routes are "+
				"unauthenticated, so anyone who reaches ports.cluster could join the cluster. "+
				"Set tls.ca_file, tls.cert_file and tls.key_file (for a test cluster: %s)", TLSHint)
		}
	}
	t := c.TLS
	if !t.Enabled() {
		if t.RequireClientCert {
			v.fail("tls.require_client_cert", "needs tls.ca_file, tls.cert_file and tls.key_file")
		}
		return
	}
	if embedded {
		for _, f := range []struct{ field, value string }{
			{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile},
		} {
			if f.value == "" {
				v.fail(f.field, "required on a server with TLS: the server presents its certificate to clients and to its peers, and verifies its peers with the CA")
			}
		}
	} else {
		switch {
		case t.CertFile != "" && t.KeyFile == "":
			v.fail("tls.cert_file", "needs tls.key_file too")
		case t.KeyFile != "" && t.CertFile == "":
			v.fail("tls.key_file", "needs tls.cert_file too")
		}
	}
	for _, f := range []struct{ field, value string }{
		{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile},
	} {
		if f.value != "" && !filepath.IsAbs(f.value) {
			v.fail(f.field, "must be an absolute path, got %q", f.value)
		}
	}
}

// addrs checks a list of "host" or "host:port" entries.
func (v *validator) addrs(field string, entries []string, defPort int) {
	for i, e := range entries {
		if _, _, err := splitAddr(e, defPort); err != nil {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "%q: %v", e, err)
		}
	}
}

// token checks a name that must be non-empty and free of spaces, as NATS
// needs for server and cluster names.
func (v *validator) token(field, s string) {
	switch {
	case s == "":
		v.fail(field, "must not be empty")
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		v.fail(field, "%q: must not contain spaces", s)
	}
}

// fail records a problem with field, located where its value came from.
func (v *validator) fail(field, format string, args ...any) {
	o := v.origins[field]
	v.errs = append(v.errs, &FieldError{File: o.file, Line: o.line, Field: field, Err: fmt.Errorf(format, args...)})
}

// splitAddr parses "host" or "host:port" ("::1" or "[::1]:port" for IPv6),
// using defPort when there is no port.
func splitAddr(s string, defPort int) (host string, port int, err error) {
	if strings.Contains(s, "://") {
		return "", 0, errors.New("want host or host:port, not a URL")
	}
	host, port = s, defPort
	if net.ParseIP(s) == nil && strings.Contains(s, ":") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			var ae *net.AddrError
			if errors.As(err, &ae) {
				return "", 0, errors.New(ae.Err)
			}
			return "", 0, err
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return "", 0, fmt.Errorf("port %q is not a number", p)
		}
		host, port = h, n
	}
	if err := checkHost(host); err != nil {
		return "", 0, err
	}
	if err := checkPort(port, 1); err != nil {
		return "", 0, fmt.Errorf("port %w", err)
	}
	return host, port, nil
}

// checkHost accepts an IP address or a host name of letters, digits, "-",
// "_" and ".".
func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return errors.New("not a host name or IP address")
		}
	}
	return nil
}

// checkPort accepts a TCP port from lowest to 65535.
func checkPort(p, lowest int) error {
	if p < lowest || p > 65535 {
		return fmt.Errorf("must be between %d and 65535, got %d", lowest, p)
	}
	return nil
}

// checkURL accepts a NATS URL: nats, tls, ws or wss, with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("want a URL like nats://host:4222: %w", err)
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return fmt.Errorf("scheme %q: want nats, tls, ws or wss", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	return nil
}
