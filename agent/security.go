package agent

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/acl"
	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/pki"
	"github.com/jetcron/jetcron/runner"
)

// WarnInsecure tells the person starting an agent with cfg, on w, what an open
// configuration exposes: with dev mode or without acl.enabled anyone who can connect
// runs programs on the runner hosts; without TLS the jobs and their output cross the
// network in plaintext. Only an embedded server warns: on an existing NATS, its
// operator decides.
func WarnInsecure(cfg *configs.Config, dev bool, w io.Writer) {
	embedded := cfg.Server.Enabled && cfg.NATS.URL == ""
	if !embedded {
		return
	}
	addr := net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.Ports.NATS))
	switch {
	case !cfg.ACL.Enabled && dev:
		fmt.Fprintf(w, "WARNING: dev mode: no authentication and no TLS. Anyone who can connect to %s can define jobs,\n"+
			"that is run programs as %s on this machine. Do not use -dev on a shared or exposed machine.\n", addr, whoami())
	case !cfg.ACL.Enabled:
		fmt.Fprintf(w, "WARNING: acl.enabled is false: anyone who can connect to %s can define jobs, that is run\n"+
			"programs on every runner host. Run `%s` and remove acl.enabled: false.\n", addr, configs.BootstrapHint)
	case !cfg.TLS.Enabled():
		fmt.Fprintf(w, "WARNING: no tls block: job files, launches and run output cross the network in plaintext\n"+
			"(credentials do not: NATS authenticates with signed nonces). Set tls.ca_file, tls.cert_file and tls.key_file.\n")
	}
}

// whoami names the agent's user.
func whoami() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Geteuid())
}

// serverSecurity sets the embedded server's authentication (the acl block's JWT
// files) and TLS (the tls block).
func serverSecurity(cfg *configs.Config, opts *embed.Options) error {
	if cfg.ACL.Enabled {
		read := func(field, path string) (string, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("%s: %w (`%s` writes it)", field, err, configs.BootstrapHint)
			}
			return strings.TrimSpace(string(data)), nil
		}
		var auth embed.Auth
		var account string
		var err error
		if auth.Operator, err = read("acl.operator_file", cfg.ACL.OperatorFile); err != nil {
			return err
		}
		if auth.SystemAccount, err = read("acl.system_account_file", cfg.ACL.SystemAccountFile); err != nil {
			return err
		}
		if account, err = read("acl.account_file", cfg.ACL.AccountFile); err != nil {
			return err
		}
		auth.Accounts = []string{account}
		opts.Auth = &auth
	}
	if cfg.TLS.Enabled() {
		client, cluster, err := pki.ServerTLS(cfg.TLS, cfg.Region)
		if err != nil {
			return err
		}
		opts.TLS, opts.ClusterTLS = client, cluster
	}
	return nil
}

// checkIdentity refuses credentials that cannot do this agent's work, with a message
// that says which ones can: a runner's of another node, a reader's, a server's on a
// runner host.
func checkIdentity(cfg *configs.Config, id *acl.Identity) error {
	switch id.Role {
	case acl.RoleReader:
		return fmt.Errorf("nats.creds %s: reader credentials cannot run an agent", cfg.NATS.Creds)
	case acl.RoleRunner:
		if cfg.Server.Enabled {
			return fmt.Errorf("nats.creds %s: runner credentials cannot run a server: use server.creds", cfg.NATS.Creds)
		}
		if id.Node != acl.AnyNode && id.Node != cfg.Name {
			return fmt.Errorf("nats.creds %s: these are node %q's credentials, but this agent is %q (name): "+
				"make its own with `jetcron acl creds create -role runner -node %s`", cfg.NATS.Creds, id.Node, cfg.Name, cfg.Name)
		}
	case acl.RoleServer:
		if cfg.Client.Enabled && id.Node != cfg.Name {
			return fmt.Errorf("nats.creds %s: server credentials may not run launches; an agent that is server and client "+
				"needs `jetcron acl creds create -role server -node %s`", cfg.NATS.Creds, cfg.Name)
		}
	}
	return nil
}

// connectionTLS is the TLS of a connection to remote servers: nats.tls when set (an
// existing NATS), else the tls block.
func connectionTLS(cfg *configs.Config) ([]nats.Option, error) {
	var opts []nats.Option
	if t := cfg.NATS.TLS; t.CA != "" || t.Cert != "" {
		if t.CA != "" {
			opts = append(opts, nats.RootCAs(t.CA))
		}
		if t.Cert != "" {
			opts = append(opts, nats.ClientCert(t.Cert, t.Key))
		}
		return opts, nil
	}
	tc, err := pki.ClientTLS(cfg.TLS, cfg.Region)
	if err != nil || tc == nil {
		return nil, err
	}
	return append(opts, nats.Secure(tc)), nil
}

// runnerOptions are the client options the runner gets: the config's, with raw_exec
// refused as root unless driver.raw_exec.allow_root says otherwise.
func runnerOptions(o map[string]string) map[string]string {
	out := make(map[string]string, len(o)+1)
	for k, v := range o {
		out[k] = v
	}
	if _, ok := out[runner.AllowRootOption]; !ok {
		out[runner.AllowRootOption] = "0"
	}
	return out
}
