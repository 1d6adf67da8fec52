package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// User is whose credentials a command runs with.
type User string

// Users of a secure cluster, as `jetcron acl bootstrap` makes them.
const (
	// Anonymous is no credentials at all (a secure cluster refuses it).
	Anonymous User = ""
	// Admin defines jobs and manages streams.
	Admin User = "admin"
	// Reader reads everything and writes nothing.
	Reader User = "reader"
	// Server is the server agents' identity.
	Server User = "server"
)

// Folders and files of a secure cluster's credentials and certificates, under Dir.
const (
	aclFolder = "acl"
	tlsFolder = "tls"
	caFile    = "ca.pem"
	// serverACLSnippet is the config `jetcron acl bootstrap` writes for every server.
	serverACLSnippet = "server-acl.yaml"
	// tlsCAEnv is the operator commands' variable for the CA (their -tls-ca).
	tlsCAEnv = "JETCRON_TLS_CA"
)

// security is what a secure cluster's processes and commands are given.
type security struct {
	aclDir, tlsDir string
	ca             string // the CA's certificate
}

// setupSecurity makes the cluster's credentials and certificates with the built
// binary, as the README's secure walk-through does: `jetcron acl bootstrap` (one
// runner credentials file per host), `jetcron tls ca create`, and a server
// certificate per server (`jetcron tls cert create -server`) that also names the
// server's address when it is not 127.0.0.1.
func (c *Cluster) setupSecurity(ctx context.Context, addrs []string) error {
	s := &security{
		aclDir: filepath.Join(c.opts.Dir, aclFolder),
		tlsDir: filepath.Join(c.opts.Dir, tlsFolder),
	}
	s.ca = filepath.Join(s.tlsDir, caFile)
	if err := os.MkdirAll(s.tlsDir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(c.opts.Dir, "setup.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	bootstrap := []string{"acl", "bootstrap", "-dir", s.aclDir}
	for _, h := range c.opts.Hosts {
		bootstrap = append(bootstrap, "-runner", h)
	}
	cmds := [][]string{bootstrap, {"tls", "ca", "create", "-dir", s.tlsDir}}
	for i, addr := range addrs {
		cert := []string{"tls", "cert", "create", "-dir", s.tlsDir, "-server"}
		if addr != "127.0.0.1" {
			cert = append(cert, "-additional-ipaddress", addr)
		}
		cmds = append(cmds, append(cert, serverName(i)))
	}
	for _, argv := range cmds {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		cmd := exec.CommandContext(cctx, c.opts.Jetcron, argv...)
		out, err := cmd.CombinedOutput()
		cancel()
		fmt.Fprintf(logf, "$ jetcron %s\n%s\n", strings.Join(argv, " "), out)
		if err != nil {
			return fmt.Errorf("jetcron %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
	}
	c.sec = s
	c.progress("security: credentials in %s, certificates in %s", s.aclDir, s.tlsDir)
	return nil
}

func serverName(i int) string { return fmt.Sprintf("server-%d", i+1) }

// serverTLS is the tls block of server i's config (its acl block and nats.creds are
// in the snippet `jetcron acl bootstrap` wrote, which every server loads after it).
func (s *security) serverTLS(i int) string {
	name := serverName(i)
	return fmt.Sprintf("tls:\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n",
		s.ca, filepath.Join(s.tlsDir, name+".pem"), filepath.Join(s.tlsDir, name+"-key.pem"))
}

// hostSecurity copies the host's runner credentials into its folder (as an operator
// copies them to the host) and returns its nats and tls blocks.
func (s *security) hostSecurity(host, dir string) (string, error) {
	src := filepath.Join(s.aclDir, "runner-"+subjects.Token(host)+".creds")
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("runner credentials of %s: %w", host, err)
	}
	dst := filepath.Join(dir, "runner.creds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf("nats: {creds: %s}\ntls: {ca_file: %s}\n", dst, s.ca), nil
}

// Secure reports whether the cluster runs with credentials and TLS (Options.Secure).
func (c *Cluster) Secure() bool { return c.sec != nil }

// CA is the path of the CA certificate that signed the servers' certificates; empty
// when the cluster is not secure.
func (c *Cluster) CA() string {
	if c.sec == nil {
		return ""
	}
	return c.sec.ca
}

// Creds is the path of u's credentials file; empty when the cluster is not secure
// or for Anonymous.
func (c *Cluster) Creds(u User) string {
	if c.sec == nil || u == Anonymous {
		return ""
	}
	return filepath.Join(c.sec.aclDir, string(u)+".creds")
}

// NATSArgs are the arguments the nats CLI is run with as u: every server (-s), a
// timeout, and on a secure cluster u's credentials and the CA.
func (c *Cluster) NATSArgs(u User) []string {
	args := []string{"-s", c.URL(), "--timeout", "3s"}
	if c.sec != nil {
		if u != Anonymous {
			args = append(args, "--creds", c.Creds(u))
		}
		args = append(args, "--tlsca", c.sec.ca)
	}
	return args
}

// NATSEnv is the environment the nats CLI runs in: the harness's, without the
// NATS_* variables (its flags' defaults), and with a configuration folder of the
// cluster's own, so that no saved context of the user who runs it supplies a server,
// credentials or a CA.
func (c *Cluster) NATSEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "NATS_") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "XDG_CONFIG_HOME="+filepath.Join(c.opts.Dir, "nats-cli"))
}

// jetcronEnv is the environment of the operator commands: every server's address,
// and on a secure cluster the CA.
func (c *Cluster) jetcronEnv() []string {
	env := append(os.Environ(), "JETCRON_ADDR="+c.URL())
	if c.sec != nil {
		env = append(env, tlsCAEnv+"="+c.sec.ca)
	}
	return env
}
