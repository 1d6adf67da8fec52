package main

import (
	"bytes"
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
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/pki"
	"github.com/jetcron/jetcron/subjects"
)

// secure is a cluster of embedded servers with jetcron's ACLs and TLS on, and the
// bootstrap directory of its credentials.
type secure struct {
	c      *embedtest.Cluster
	dir    string // acl bootstrap
	tlsDir string // ca.pem, server.pem, client.pem
	region string
}

// newSecureCluster bootstraps credentials (with runners web-1 and web-2), makes a CA
// and a server certificate, and starts n servers that require both.
func newSecureCluster(t *testing.T, n int) *secure {
	t.Helper()
	return newSecureClusterWith(t, n, nil)
}

// newSecureClusterWith is newSecureCluster with the servers' tls block changed by
// edit (nil: unchanged), e.g. to require client certificates.
func newSecureClusterWith(t *testing.T, n int, edit func(*configs.TLSBlock)) *secure {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts NATS servers")
	}
	s := &secure{dir: t.TempDir(), tlsDir: t.TempDir(), region: "test"}
	if _, err := acl.Bootstrap(s.dir, []string{"web-1", "web-2"}, false); err != nil {
		t.Fatal(err)
	}
	auth := s.auth(t)
	tb := s.makeTLS(t)
	if edit != nil {
		edit(&tb)
	}
	client, cluster, err := pki.ServerTLS(tb, s.region)
	if err != nil {
		t.Fatal(err)
	}
	s.c = embedtest.NewCluster(t, n, embedtest.WithOptions(func(_ int, o *embed.Options) {
		o.Auth, o.TLS, o.ClusterTLS = auth, client, cluster
	}))
	return s
}

// auth reads the bootstrap's JWTs as the agent does.
func (s *secure) auth(t *testing.T) *embed.Auth {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	return &embed.Auth{Operator: read(acl.OperatorJWTFile), SystemAccount: read(acl.SystemAccountJWTFile), Accounts: []string{read(acl.AccountJWTFile)}}
}

// makeTLS writes a CA, a server certificate and a client certificate, and returns
// the servers' tls block.
func (s *secure) makeTLS(t *testing.T) configs.TLSBlock {
	t.Helper()
	if _, _, err := pki.CreateCA(s.tlsDir, 1, false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		kind pki.CertKind
	}{{"server", pki.ServerCert}, {"client", pki.ClientCert}} {
		if _, _, err := pki.CreateCert(s.tlsDir, c.name, pki.CertRequest{Kind: c.kind, Region: s.region, Days: 1}, false); err != nil {
			t.Fatal(err)
		}
	}
	return s.tlsBlock("server")
}

func (s *secure) tlsBlock(name string) configs.TLSBlock {
	return configs.TLSBlock{
		CAFile: filepath.Join(s.tlsDir, pki.CACertFile), CertFile: filepath.Join(s.tlsDir, name+".pem"),
		KeyFile: filepath.Join(s.tlsDir, name+"-key.pem"), VerifyServerHostname: true,
	}
}

// clientTLS is what a client presents: the CA, and the server name check.
func (s *secure) clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	tc, err := pki.ClientTLS(configs.TLSBlock{CAFile: filepath.Join(s.tlsDir, pki.CACertFile), VerifyServerHostname: true}, s.region)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// user is a connection as one role, with the permission errors the server sent it.
type roleConn struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

// login connects with a credentials file of the bootstrap (as the agent does: with
// the inbox prefix its permissions allow).
func (s *secure) login(t *testing.T, creds string) *roleConn {
	t.Helper()
	return s.loginTLS(t, creds, s.clientTLS(t))
}

// loginTLS is login with the client TLS configuration tc.
func (s *secure) loginTLS(t *testing.T, creds string, tc *tls.Config) *roleConn {
	t.Helper()
	path := filepath.Join(s.dir, creds)
	id, err := acl.ReadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &roleConn{errs: make(chan error, 64)}
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
	u.nc, err = nats.Connect(s.c.URLs(), opts...)
	if err != nil {
		t.Fatalf("login as %s: %v", creds, err)
	}
	t.Cleanup(u.nc.Close)
	if u.js, err = jetstream.New(u.nc); err != nil {
		t.Fatal(err)
	}
	return u
}

// drain forgets the permission errors seen so far.
func (u *roleConn) drain() {
	for {
		select {
		case <-u.errs:
		default:
			return
		}
	}
}

// refused runs op, which must fail, and waits for the server's permissions
// violation naming subject.
func (u *roleConn) refused(t *testing.T, subject string, op func(ctx context.Context) error) {
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

// allowed runs op, which must succeed without a permissions violation.
func (u *roleConn) allowed(t *testing.T, what string, op func(ctx context.Context) error) {
	t.Helper()
	u.drain()
	var err error
	for try := 0; try < 20; try++ { // R3 placement may need a moment after start
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

func kv(ctx context.Context, js jetstream.JetStream, bucket string) (jetstream.KeyValue, error) {
	return js.KeyValue(ctx, bucket)
}

// put writes key in bucket as KV's Put does: a JetStream publish to its subject.
func put(bucket, key string, js jetstream.JetStream) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := js.Publish(ctx, subjects.KVSubject(bucket, key), []byte("x"))
		return err
	}
}

func launchFilter(node string) string { return subjects.LaunchFilter(node) }

func TestRolesAreRefusedWhatTheyMustNotDo(t *testing.T) {
	s := newSecureCluster(t, 3)
	server := s.login(t, "server.creds")
	server.allowed(t, "server provisions the buckets and the stream", func(ctx context.Context) error {
		return subjects.Provision(ctx, server.js, subjects.DefaultLayout(3, 2*time.Second))
	})
	admin := s.login(t, "admin.creds")
	reader := s.login(t, "reader.creds")
	web1 := s.login(t, "runner-web-1.creds")
	spec := "periodic: {cron: \"@every 1s\"}\ntask: {config: {command: /bin/true}}\n"

	t.Run("anonymous", func(t *testing.T) {
		_, err := nats.Connect(s.c.URLs(), nats.Secure(s.clientTLS(t)), nats.Timeout(2*time.Second))
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("anonymous connect: %v, want an authorization violation", err)
		}
	})
	t.Run("a plaintext client", func(t *testing.T) {
		path := filepath.Join(s.dir, "admin.creds")
		_, err := nats.Connect(s.c.URLs(), nats.UserCredentials(path), nats.Timeout(2*time.Second))
		if err == nil {
			t.Fatal("a client without the CA connected")
		}
	})
	t.Run("admin", func(t *testing.T) {
		admin.allowed(t, "put a job", func(ctx context.Context) error {
			b, err := kv(ctx, admin.js, subjects.JobsBucket)
			if err != nil {
				return err
			}
			_, err = b.Put(ctx, "hello", []byte(spec))
			return err
		})
		admin.allowed(t, "manage streams", func(ctx context.Context) error {
			if _, err := admin.js.CreateStream(ctx, jetstream.StreamConfig{Name: "scratch", Subjects: []string{"scratch.>"}}); err != nil {
				return err
			}
			return admin.js.DeleteStream(ctx, "scratch")
		})
	})
	t.Run("reader", func(t *testing.T) {
		reader.allowed(t, "read a job", func(ctx context.Context) error {
			b, err := kv(ctx, reader.js, subjects.JobsBucket)
			if err != nil {
				return err
			}
			_, err = b.Get(ctx, "hello")
			return err
		})
		reader.allowed(t, "list the jobs (a watch)", func(ctx context.Context) error {
			b, err := kv(ctx, reader.js, subjects.JobsBucket)
			if err != nil {
				return err
			}
			_, err = operator.Keys(ctx, b, "*")
			return err
		})
		reader.allowed(t, "read the runs stream by direct get", func(ctx context.Context) error {
			st, err := reader.js.Stream(ctx, subjects.RunsStream)
			if err != nil {
				return err
			}
			_, err = st.GetLastMsgForSubject(ctx, subjects.RunsSubjects)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil
			}
			return err
		})
		reader.refused(t, "$KV.jobs.hello", put(subjects.JobsBucket, "hello", reader.js))
		reader.refused(t, "$KV.nodes.web-1", put(subjects.NodesBucket, "web-1", reader.js))
		reader.refused(t, "$JS.API.CONSUMER.CREATE.runs", func(ctx context.Context) error {
			_, err := reader.js.CreateOrUpdateConsumer(ctx, subjects.RunsStream, jetstream.ConsumerConfig{
				Durable: subjects.DurableName("web-1"), FilterSubject: launchFilter("web-1"), AckPolicy: jetstream.AckExplicitPolicy,
			})
			return err
		})
		reader.refused(t, "$JS.API.STREAM.DELETE.KV_jobs", func(ctx context.Context) error {
			return reader.js.DeleteStream(ctx, "KV_"+subjects.JobsBucket)
		})
	})
	t.Run("runner", func(t *testing.T) {
		web1.refused(t, "$KV.jobs.evil", put(subjects.JobsBucket, "evil", web1.js))
		web1.refused(t, "$KV.nodes.web-2", put(subjects.NodesBucket, "web-2", web1.js))
		web1.allowed(t, "write its own node record", put(subjects.NodesBucket, "web-1", web1.js))
		web1.allowed(t, "make its own consumer", func(ctx context.Context) error {
			_, err := web1.js.CreateOrUpdateConsumer(ctx, subjects.RunsStream, jetstream.ConsumerConfig{
				Durable: subjects.DurableName("web-1"), FilterSubject: launchFilter("web-1"), AckPolicy: jetstream.AckExplicitPolicy,
			})
			return err
		})
		web1.refused(t, "runner-web-2", func(ctx context.Context) error {
			_, err := web1.js.CreateOrUpdateConsumer(ctx, subjects.RunsStream, jetstream.ConsumerConfig{
				Durable: subjects.DurableName("web-2"), FilterSubject: launchFilter("web-2"), AckPolicy: jetstream.AckExplicitPolicy,
			})
			return err
		})
		web1.refused(t, launchFilter("web-2"), func(ctx context.Context) error {
			_, err := web1.js.CreateOrUpdateConsumer(ctx, subjects.RunsStream, jetstream.ConsumerConfig{
				Durable: subjects.DurableName("web-1"), FilterSubject: launchFilter("web-2"), AckPolicy: jetstream.AckExplicitPolicy,
			})
			return err
		})
		web1.refused(t, "$JS.API.CONSUMER.MSG.NEXT.runs.runner-web-2", func(ctx context.Context) error {
			_, err := web1.nc.RequestWithContext(ctx, "$JS.API.CONSUMER.MSG.NEXT.runs.runner-web-2", []byte(`{"batch":1}`))
			return err
		})
		web1.refused(t, subjects.LaunchSubject("web-2", "evil"), func(ctx context.Context) error {
			_, err := web1.js.Publish(ctx, subjects.LaunchSubject("web-2", "evil"), []byte("{}"))
			return err
		})
		web1.refused(t, "runs.launch.>", func(ctx context.Context) error {
			sub, err := web1.nc.SubscribeSync("runs.launch.>")
			if err != nil {
				return err
			}
			if _, err := sub.NextMsg(time.Second); err != nil {
				return err
			}
			return nil
		})
	})
	t.Run("server", func(t *testing.T) {
		server.refused(t, "$KV.jobs.evil", put(subjects.JobsBucket, "evil", server.js))
		server.refused(t, "$KV.nodes.web-1", put(subjects.NodesBucket, "web-1", server.js))
		server.refused(t, "$JS.API.STREAM.DELETE.KV_jobs", func(ctx context.Context) error {
			return server.js.DeleteStream(ctx, "KV_"+subjects.JobsBucket)
		})
		server.allowed(t, "publish a launch", func(ctx context.Context) error {
			_, err := server.js.Publish(ctx, subjects.LaunchSubject("web-2", "hello"), []byte("{}"))
			return err
		})
		server.allowed(t, "follow the run events (metrics)", func(ctx context.Context) error {
			_, err := server.js.OrderedConsumer(ctx, subjects.RunsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subjects.EventFilter}})
			return err
		})
		server.refused(t, launchFilter("web-2"), func(ctx context.Context) error {
			_, err := server.js.CreateOrUpdateConsumer(ctx, subjects.RunsStream, jetstream.ConsumerConfig{
				Durable: "thief", FilterSubject: launchFilter("web-2"), AckPolicy: jetstream.AckExplicitPolicy,
			})
			return err
		})
	})
}

func TestCheckIdentity(t *testing.T) {
	cfg := &configs.Config{Name: "web-1", Client: configs.Client{Enabled: true}}
	for _, c := range []struct {
		id  acl.Identity
		err string
	}{
		{acl.Identity{Role: acl.RoleRunner, Node: "web-1"}, ""},
		{acl.Identity{Role: acl.RoleRunner, Node: acl.AnyNode}, ""},
		{acl.Identity{Role: acl.RoleRunner, Node: "web-2"}, `node "web-2"'s credentials`},
		{acl.Identity{Role: acl.RoleReader}, "reader credentials"},
		{acl.Identity{Role: acl.RoleServer}, "server credentials may not run launches"},
		{acl.Identity{Role: acl.RoleServer, Node: "web-1"}, ""},
		{acl.Identity{}, ""}, // credentials jetcron did not make: the servers decide
	} {
		err := checkIdentity(cfg, &c.id)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%+v: %v, want %q", c.id, err, c.err)
		}
	}
}

func TestRevokedCredsAreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a NATS server")
	}
	s := &secure{dir: t.TempDir(), tlsDir: t.TempDir(), region: "test"}
	if _, err := acl.Bootstrap(s.dir, []string{"web-1", "web-2"}, false); err != nil {
		t.Fatal(err)
	}
	lost := filepath.Join(s.dir, acl.CredsFile(acl.RoleRunner, "web-2"))
	id, err := acl.ReadIdentity(lost)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"acl", "creds", "revoke", "-dir", s.dir, lost}, &out, &errOut); code != exitOK || !strings.Contains(out.String(), id.Public) {
		t.Fatalf("revoke: %d %s %s", code, out.String(), errOut.String())
	}
	client, cluster, err := pki.ServerTLS(s.makeTLS(t), s.region)
	if err != nil {
		t.Fatal(err)
	}
	auth := s.auth(t)
	s.c = embedtest.NewCluster(t, 1, embedtest.WithOptions(func(_ int, o *embed.Options) {
		o.Auth, o.TLS, o.ClusterTLS = auth, client, cluster
	}))
	if _, err := nats.Connect(s.c.URLs(), nats.UserCredentials(lost), nats.Secure(s.clientTLS(t))); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("revoked credentials: %v, want an authorization violation", err)
	}
	s.login(t, acl.CredsFile(acl.RoleRunner, "web-1")) // the others still work
}

func TestACLCommands(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := run([]string{"acl", "bootstrap", "-dir", dir, "-runner", "web-1"}, &out, &errOut); code != exitOK {
		t.Fatalf("acl bootstrap: %d %s", code, errOut.String())
	}
	for _, want := range []string{"admin.creds", "runner-web-1.creds", "nats --creds " + filepath.Join(dir, "admin.creds"),
		"nats context save jetcron-admin", "jetcron acl creds create"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("acl bootstrap output lacks %q:\n%s", want, out.String())
		}
	}
	errOut.Reset()
	if code := run([]string{"acl", "bootstrap"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "-dir is required") {
		t.Errorf("acl bootstrap without -dir: %d %s", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"acl", "creds", "create", "-dir", dir, "-role", "runner", "-node", "web-2"}, &out, &errOut); code != exitOK {
		t.Fatalf("acl creds create: %d %s", code, errOut.String())
	}
	if id, err := acl.ReadIdentity(filepath.Join(dir, "runner-web-2.creds")); err != nil || id.Node != "web-2" {
		t.Errorf("runner-web-2.creds: %+v %v", id, err)
	}
	errOut.Reset()
	if code := run([]string{"acl", "creds", "create", "-dir", dir, "-role", "runner"}, &out, &errOut); code != exitError || !strings.Contains(errOut.String(), "-node NAME") {
		t.Errorf("a runner without -node: %d %s", code, errOut.String())
	}
}
