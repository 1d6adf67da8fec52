// Package securetest gives a test what a secure jetcron cluster is made of, as the
// README's walk-through makes it: the credentials of `jetcron acl bootstrap`, a CA
// with a server and a client certificate of `jetcron tls`, and embedded NATS servers
// that require both. Tests of the permissions, of the TLS configurations, of the
// agent and of the commands share it, so that each tests the same cluster.
package securetest

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/acl"
	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/pki"
	"github.com/jetcron/jetcron/subjects"
)

// Files are a cluster's secrets, each in a temporary directory of the test.
type Files struct {
	// ACLDir is the bootstrap's directory; empty for NewTLS's files.
	ACLDir string
	// TLSDir holds the CA (pki.CACertFile, pki.CAKeyFile), server.pem and
	// client.pem, and their keys.
	TLSDir string
	// Region names the cluster in its certificates.
	Region string
}

// NewTLS writes a CA valid for a day, and a server and a client certificate of
// region it signed.
func NewTLS(t *testing.T, region string) *Files {
	t.Helper()
	f := &Files{TLSDir: t.TempDir(), Region: region}
	if _, _, err := pki.CreateCA(f.TLSDir, 1, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		kind pki.CertKind
	}{{"server", pki.ServerCert}, {"client", pki.ClientCert}} {
		r := pki.CertRequest{Kind: c.kind, Region: region, Days: 1}
		if _, _, err := pki.CreateCert(f.TLSDir, c.name, r, false); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// New writes NewTLS's files and bootstraps credentials with a runner per name in
// runners.
func New(t *testing.T, region string, runners ...string) *Files {
	t.Helper()
	f := NewTLS(t, region)
	f.ACLDir = t.TempDir()
	if _, err := acl.Bootstrap(f.ACLDir, runners, false); err != nil {
		t.Fatal(err)
	}
	return f
}

// TLSBlock is the tls block of an agent that presents certificate name ("server"
// or "client"), with verify_server_hostname.
func (f *Files) TLSBlock(name string) configs.TLSBlock {
	return configs.TLSBlock{
		CAFile: f.CA(), CertFile: filepath.Join(f.TLSDir, name+".pem"),
		KeyFile: filepath.Join(f.TLSDir, name+"-key.pem"), VerifyServerHostname: true,
	}
}

// CA is the CA's certificate file.
func (f *Files) CA() string { return filepath.Join(f.TLSDir, pki.CACertFile) }

// Creds is a credentials file of the bootstrap: "admin.creds".
func (f *Files) Creds(name string) string { return filepath.Join(f.ACLDir, name) }

// ClientTLS is what a client without a certificate presents: the CA, and the
// server name check.
func (f *Files) ClientTLS(t *testing.T) *tls.Config {
	t.Helper()
	tc, err := pki.ClientTLS(configs.TLSBlock{CAFile: f.CA(), VerifyServerHostname: true}, f.Region)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// Cluster is embedded servers that require the credentials and TLS of its Files.
type Cluster struct {
	*Files
	Servers *embedtest.Cluster
}

// Start starts n servers with the bootstrap's JWTs (read now, as an agent reads them
// at its start) and the server certificate; edit, when not nil, changes their tls
// block first (to require client certificates, say). It skips the test with -short.
func (f *Files) Start(t *testing.T, n int, edit func(*configs.TLSBlock)) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts NATS servers")
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(f.ACLDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	auth := &embed.Auth{Operator: read(acl.OperatorJWTFile), SystemAccount: read(acl.SystemAccountJWTFile),
		Accounts: []string{read(acl.AccountJWTFile)}}
	tb := f.TLSBlock("server")
	if edit != nil {
		edit(&tb)
	}
	client, cluster, err := pki.ServerTLS(tb, f.Region)
	if err != nil {
		t.Fatal(err)
	}
	c := embedtest.NewCluster(t, n, embedtest.WithOptions(func(_ int, o *embed.Options) {
		o.Auth, o.TLS, o.ClusterTLS = auth, client, cluster
	}))
	return &Cluster{Files: f, Servers: c}
}

// Conn is a connection as one user, with the permission errors the servers sent it.
type Conn struct {
	NC   *nats.Conn
	JS   jetstream.JetStream
	errs chan error
}

// Login connects with a credentials file of the bootstrap as the agent does: with
// the inbox prefix its permissions allow.
func (c *Cluster) Login(t *testing.T, creds string) *Conn {
	t.Helper()
	return c.LoginTLS(t, creds, c.ClientTLS(t))
}

// LoginTLS is Login with the client TLS configuration tc.
func (c *Cluster) LoginTLS(t *testing.T, creds string, tc *tls.Config) *Conn {
	t.Helper()
	path := c.Creds(creds)
	id, err := acl.ReadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &Conn{errs: make(chan error, 64)}
	opts := []nats.Option{
		nats.UserCredentials(path), nats.Secure(tc), nats.Timeout(2 * time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case u.errs <- err:
			default:
			}
		}),
	}
	if id.Inbox != subjects.DefaultInboxPrefix {
		opts = append(opts, nats.CustomInboxPrefix(id.Inbox))
	}
	u.NC, err = nats.Connect(c.Servers.URLs(), opts...)
	if err != nil {
		t.Fatalf("login as %s: %v", creds, err)
	}
	t.Cleanup(u.NC.Close)
	if u.JS, err = jetstream.New(u.NC); err != nil {
		t.Fatal(err)
	}
	return u
}

// drain forgets the permission errors seen so far.
func (u *Conn) drain() {
	for {
		select {
		case <-u.errs:
		default:
			return
		}
	}
}

// Refused runs op, which must fail, and waits for the servers' permissions
// violation naming subject.
func (u *Conn) Refused(t *testing.T, subject string, op func(ctx context.Context) error) {
	t.Helper()
	u.drain()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := op(ctx); err == nil {
		t.Fatalf("allowed, want a permissions violation on %s", subject)
	}
	deadline := time.After(3 * time.Second)
	for {
		select {
		case err := <-u.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-deadline:
			t.Fatalf("no permissions violation on %s", subject)
		}
	}
}

// Allowed runs op, which must succeed without a permissions violation; it tries
// again for a while, as R3 placement may need a moment after the servers start.
func (u *Conn) Allowed(t *testing.T, what string, op func(ctx context.Context) error) {
	t.Helper()
	u.drain()
	var err error
	for try := 0; try < 20; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = op(ctx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrKeyExists) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	select {
	case err := <-u.errs:
		t.Fatalf("%s: %v", what, err)
	default:
	}
}
