package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/acl"
	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/internal/securetest"
	"github.com/jetcron/jetcron/pki"
	"github.com/jetcron/jetcron/subjects"
)

// The job every test of this file stores: the seed's, named by its file.
const secureJob = "mysql-backup"

// secureCluster is a one-server secure cluster (ACLs and TLS) that the commands
// dial.
type secureCluster struct{ *securetest.Cluster }

// newProvisionedSecureCluster starts a secureCluster with jetcron's buckets and
// stream provisioned, as its server agents would; edit changes the server's tls block
// (nil: unchanged). The server logs in with the client certificate, for servers that
// require one.
func newProvisionedSecureCluster(t *testing.T, edit func(*configs.TLSBlock)) *secureCluster {
	t.Helper()
	s := securetest.New(t, "test", "web-1", "web-2").Start(t, 1, edit)
	tc := s.ClientTLS(t)
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.TLSDir, "client.pem"), filepath.Join(s.TLSDir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tc.Certificates = append(tc.Certificates, cert)
	server := s.LoginTLS(t, "server.creds", tc)
	server.Allowed(t, "provision the buckets and the stream", func(ctx context.Context) error {
		return subjects.Provision(ctx, server.JS, subjects.DefaultLayout(1, 2*time.Second))
	})
	return &secureCluster{s}
}

// as runs a command against the cluster with a credentials file of the bootstrap
// and the cluster's CA.
func (s *secureCluster) as(creds string, fn cmdFunc, args ...string) (stdout, stderr string, code int) {
	return runCmd(fn, append([]string{"-address", s.Servers.URLs(), "-creds", s.Creds(creds), "-tls-ca", s.CA()}, args...)...)
}

// oneErrorLine fails unless a command exited 1 with exactly one line on stderr that
// contains every want.
func oneErrorLine(t *testing.T, stderr string, code int, want ...string) {
	t.Helper()
	if code != exitError || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "Error: ") {
		t.Fatalf("code %d, stderr %q: want exit 1 and one Error line", code, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q lacks %q", stderr, w)
		}
	}
}

// The server drops what the credentials' role may not send and reports it
// asynchronously; the command then waited for an answer until its timeout. Now it
// fails at once with the refusal: every path (a put, a delete, a request, binding a
// bucket, watching one) says permission denied and names the subject, never a
// timeout.
func TestRefusedOperationsFailWithPermissionDeniedNotTimeout(t *testing.T) {
	s := newProvisionedSecureCluster(t, nil)
	jobFile := writeFile(t, secureJob+".yaml", seedJob)
	if stdout, stderr, code := s.as("admin.creds", cmdJobRun, "-count", "0", jobFile); code != exitOK {
		t.Fatalf("the admin stores the job: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	for _, tc := range []struct {
		name  string
		creds string
		fn    cmdFunc
		args  []string
		want  string
	}{
		{"reader stores a job (put)", "reader.creds", cmdJobRun, []string{jobFile},
			`may not publish to "$KV.jobs.` + secureJob + `" (these are reader credentials: is this the admin creds file?)`},
		{"reader stops a job (delete)", "reader.creds", cmdJobStop, []string{secureJob},
			`may not publish to "$KV.jobs.` + secureJob + `"`},
		{"reader forces a run (request)", "reader.creds", cmdJobPeriodicForce, []string{secureJob},
			fmt.Sprintf("may not publish to %q", subjects.ForceSubject(secureJob))},
		{"runner lists the jobs (bucket)", "runner-web-1.creds", cmdJobStatus, nil,
			`may not publish to "$JS.API.STREAM.INFO.KV_jobs" (these are runner credentials`},
		{"runner lists the nodes (watch)", "runner-web-1.creds", cmdNodeStatus, nil,
			`may not publish to "$JS.API.CONSUMER.CREATE.KV_nodes.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := s.as(tc.creds, tc.fn, tc.args...)
			oneErrorLine(t, stderr, code, "Error: permission denied: these credentials "+tc.want)
			if strings.Contains(stderr, "deadline") || strings.Contains(stderr, "timeout") || strings.Contains(stderr, "no answer") {
				t.Errorf("stderr %q: a timeout, want the refusal", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	// Nothing was changed: the job is still there.
	if stdout, stderr, code := s.as("reader.creds", cmdJobStatus, secureJob); code != exitOK || !strings.Contains(stdout, "Status               = running") {
		t.Errorf("job status after the refusals: code %d stdout %q stderr %q", code, stdout, stderr)
	}
}

// The refusal watch must not turn a role's allowed work into errors: the reader
// runs every read-only command cleanly.
func TestReaderCredentialsRunReadCommandsWithoutPermissionErrors(t *testing.T) {
	s := newProvisionedSecureCluster(t, nil)
	if _, stderr, code := s.as("admin.creds", cmdJobRun, "-count", "0", writeFile(t, secureJob+".yaml", seedJob)); code != exitOK {
		t.Fatalf("the admin stores the job: %s", stderr)
	}
	for _, tc := range []struct {
		name string
		fn   cmdFunc
		args []string
	}{
		{"job status", cmdJobStatus, nil},
		{"job status JOB", cmdJobStatus, []string{secureJob}},
		{"node status", cmdNodeStatus, nil},
		{"server members", cmdServerMembers, nil},
		{"job status -json", cmdJobStatus, []string{"-json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if stdout, stderr, code := s.as("reader.creds", tc.fn, tc.args...); code != exitOK || stderr != "" {
				t.Errorf("code %d stdout %q stderr %q", code, stdout, stderr)
			}
		})
	}
	// A run that does not exist is an ordinary error, not a refusal.
	_, stderr, code := s.as("reader.creds", cmdRunLogs, secureJob+"/periodic-1476824400")
	oneErrorLine(t, stderr, code, `run "`+secureJob+`/periodic-1476824400" not found`)
}

func TestTLSCAFlagConnectsWithNATSAndTLSURLs(t *testing.T) {
	s := newProvisionedSecureCluster(t, nil)
	natsURL := s.Servers.URLs()
	if !strings.HasPrefix(natsURL, "nats://") {
		t.Fatalf("cluster URL %q, want nats://", natsURL)
	}
	for _, url := range []string{natsURL, strings.Replace(natsURL, "nats://", "tls://", 1)} {
		t.Run(url[:strings.Index(url, ":")], func(t *testing.T) {
			stdout, stderr, code := runCmd(cmdNodeStatus, "-address", url, "-creds", s.Creds("reader.creds"), "-tls-ca", s.CA())
			if code != exitOK || !strings.HasPrefix(stdout, "ID") || stderr != "" {
				t.Errorf("code %d stdout %q stderr %q", code, stdout, stderr)
			}
		})
	}
}

func TestUntrustedServerCertificateIsOneTLSLineSuggestingTLSCA(t *testing.T) {
	s := newProvisionedSecureCluster(t, nil)
	for _, url := range []string{s.Servers.URLs(), strings.Replace(s.Servers.URLs(), "nats://", "tls://", 1)} {
		_, stderr, code := runCmd(cmdNodeStatus, "-address", url, "-creds", s.Creds("reader.creds"))
		oneErrorLine(t, stderr, code, "Error: TLS: server certificate not trusted (x509: ", "pass the cluster's CA with -tls-ca")
	}
	// Another CA than the cluster's: the flag and its file are named.
	otherCA, _, err := pki.CreateCA(t.TempDir(), 1, false)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCmd(cmdNodeStatus, "-address", s.Servers.URLs(), "-creds", s.Creds("reader.creds"), "-tls-ca", otherCA)
	oneErrorLine(t, stderr, code, "Error: TLS: server certificate not trusted by -tls-ca "+otherCA+" (x509: ")
}

func TestMissingTLSFilesNameTheFlagAndTheFile(t *testing.T) {
	t.Setenv(tlsCAEnv, "")
	t.Setenv(tlsCertEnv, "")
	t.Setenv(tlsKeyEnv, "")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	notPEM := writeFile(t, "ca.pem", "not a certificate\n")
	addr := deadAddress(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing CA", []string{"-tls-ca", missing}, "Error: -tls-ca " + missing + ": no such file or directory\n"},
		{"CA without PEM", []string{"-tls-ca", notPEM}, "Error: -tls-ca " + notPEM + ": no PEM certificate in it\n"},
		{"missing certificate", []string{"-tls-cert", missing, "-tls-key", notPEM}, "Error: -tls-cert " + missing + ": no such file or directory\n"},
		{"missing key", []string{"-tls-cert", notPEM, "-tls-key", missing}, "Error: -tls-key " + missing + ": no such file or directory\n"},
		{"certificate without key", []string{"-tls-cert", notPEM}, "Error: -tls-cert " + notPEM + " needs -tls-key, the certificate's private key\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCmd(cmdJobStatus, append([]string{"-address", addr}, tc.args...)...)
			if code != exitError || stdout != "" || stderr != tc.want {
				t.Errorf("code %d stdout %q stderr %q, want %q", code, stdout, stderr, tc.want)
			}
		})
	}
	t.Run("missing CA from the environment", func(t *testing.T) {
		t.Setenv(tlsCAEnv, missing)
		_, stderr, code := runCmd(cmdJobStatus, "-address", addr)
		if want := "Error: -tls-ca ($" + tlsCAEnv + ") " + missing + ": no such file or directory\n"; code != exitError || stderr != want {
			t.Errorf("code %d stderr %q, want %q", code, stderr, want)
		}
	})
}

func TestTLSEnvironmentVariablesAreTheFlagsDefaults(t *testing.T) {
	t.Setenv(tlsCAEnv, "ca.pem")
	t.Setenv(tlsCertEnv, "client.pem")
	t.Setenv(tlsKeyEnv, "client-key.pem")
	c := newCommand(usage{name: "x"})
	if c.tls != (tlsFlags{ca: "ca.pem", cert: "client.pem", key: "client-key.pem"}) {
		t.Errorf("flags from the environment: %+v", c.tls)
	}
	if _, _, ok := c.parse([]string{"-tls-ca", "other.pem"}, 0, 0, &strings.Builder{}, &strings.Builder{}); !ok || c.tls.ca != "other.pem" {
		t.Errorf("-tls-ca does not override $%s: %+v", tlsCAEnv, c.tls)
	}

	s := newProvisionedSecureCluster(t, nil)
	t.Setenv(addressEnv, strings.Replace(s.Servers.URLs(), "nats://", "tls://", 1))
	t.Setenv(tlsCAEnv, s.CA())
	t.Setenv(tlsCertEnv, "")
	t.Setenv(tlsKeyEnv, "")
	if stdout, stderr, code := runCmd(cmdNodeStatus, "-creds", s.Creds("reader.creds")); code != exitOK || stderr != "" {
		t.Errorf("with $%s and $%s: code %d stdout %q stderr %q", addressEnv, tlsCAEnv, code, stdout, stderr)
	}
}

// With tls.require_client_cert the servers refuse a client without a certificate
// from the CA: the command says which flags give one, and works with them (or their
// environment variables).
func TestClientCertificateFlagsForServersThatRequireOne(t *testing.T) {
	s := newProvisionedSecureCluster(t, func(tb *configs.TLSBlock) { tb.RequireClientCert = true })
	cert, key := filepath.Join(s.TLSDir, "client.pem"), filepath.Join(s.TLSDir, "client-key.pem")
	t.Setenv(tlsCertEnv, "")
	t.Setenv(tlsKeyEnv, "")

	_, stderr, code := s.as("reader.creds", cmdNodeStatus)
	// Whether the server's alert is read before it closes the connection is a race.
	oneErrorLine(t, stderr, code, "Error: TLS: the server at "+s.Servers.URLs()+" ", "requires a client certificate", "pass -tls-cert and -tls-key")

	if stdout, stderr, code := s.as("reader.creds", cmdNodeStatus, "-tls-cert", cert, "-tls-key", key); code != exitOK || stderr != "" {
		t.Errorf("with -tls-cert and -tls-key: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	t.Setenv(tlsCertEnv, cert)
	t.Setenv(tlsKeyEnv, key)
	if stdout, stderr, code := s.as("reader.creds", cmdNodeStatus); code != exitOK || stderr != "" {
		t.Errorf("with $%s and $%s: code %d stdout %q stderr %q", tlsCertEnv, tlsKeyEnv, code, stdout, stderr)
	}
}

func TestConnectingWithoutCredentialsIsRefusedInOneLine(t *testing.T) {
	s := newProvisionedSecureCluster(t, nil)
	_, stderr, code := runCmd(cmdNodeStatus, "-address", s.Servers.URLs(), "-tls-ca", s.CA())
	oneErrorLine(t, stderr, code, "Error: authentication refused at "+s.Servers.URLs()+" (authorization violation): pass credentials with -creds")
}

func TestHelpShowsTheTLSFlagsAndTheirEnvironmentVariables(t *testing.T) {
	for _, fn := range []cmdFunc{cmdServerMembers, cmdNodeStatus, cmdNodeDrain, cmdJobRun, cmdJobValidate,
		cmdJobStatus, cmdJobPeriodicForce, cmdJobStop, cmdRunLogs} {
		stdout, _, code := runCmd(fn, "-h")
		for _, want := range []string{"-tls-ca", "-tls-cert", "-tls-key", "$" + tlsCAEnv, "$" + tlsCertEnv, "$" + tlsKeyEnv} {
			if code != exitOK || !strings.Contains(stdout, want) {
				t.Errorf("%s: -h lacks %s", strings.SplitN(stdout, "\n", 2)[0], want)
			}
		}
	}
}

func TestPermissionViolationNamesTheOperationAndTheSubject(t *testing.T) {
	violation := func(text string) error { return fmt.Errorf("%w: %s", nats.ErrPermissionViolation, text) }
	for _, tc := range []struct {
		text, role, want string
	}{
		{`Permissions Violation for Publish to "$KV.jobs.x"`, acl.RoleReader,
			`permission denied: these credentials may not publish to "$KV.jobs.x" (these are reader credentials: is this the admin creds file?)`},
		{`Permissions Violation for Subscription to "_INBOX.>"`, "",
			`permission denied: these credentials may not subscribe to "_INBOX.>" (is this the admin creds file?)`},
		{`Permissions Violation for Subscription to "q.>" using queue "workers"`, acl.RoleAdmin,
			`permission denied: these credentials may not subscribe to "q.>"`},
		{`Permissions Violation for Publish with Reply of "_INBOX.x"`, acl.RoleAdmin,
			`permission denied: these credentials may not publish with the reply subject "_INBOX.x"`},
		{`Permissions Violation for something new`, acl.RoleAdmin, `permission denied: Permissions Violation for something new`},
	} {
		err := newPermissionError(violation(tc.text), tc.role)
		if err.Error() != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.text, err, tc.want)
		}
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("%s: not a nats.ErrPermissionViolation", tc.text)
		}
	}
}

// A refusal reported before the command has its context still cancels it, and
// every later error of the command is explained by it.
func TestPermissionWatchCancelsTheCommandAndExplainsItsError(t *testing.T) {
	var w permissionWatch
	w.role = acl.RoleReader
	w.report(errors.New("nats: slow consumer, messages dropped")) // not a refusal
	if w.refusal(nil) != nil {
		t.Fatal("a slow consumer was taken for a refusal")
	}
	w.report(fmt.Errorf("%w: %s", nats.ErrPermissionViolation, `Permissions Violation for Publish to "$KV.jobs.a"`))
	w.report(fmt.Errorf("%w: %s", nats.ErrPermissionViolation, `Permissions Violation for Publish to "$KV.jobs.b"`))
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	w.onRefusal(cancel)
	var perr *permissionError
	if ctx.Err() == nil || !errors.As(context.Cause(ctx), &perr) || perr.subject != "$KV.jobs.a" {
		t.Fatalf("context %v, cause %v: want canceled by the first refusal", ctx.Err(), context.Cause(ctx))
	}
	cl := &client{}
	cl.perm.report(fmt.Errorf("%w: %s", nats.ErrPermissionViolation, `Permissions Violation for Publish to "$KV.jobs.a"`))
	if err := cl.explain(fmt.Errorf("store job: %w", context.Canceled)); !errors.As(err, &perr) {
		t.Errorf("explained as %v", err)
	}
	if err := (*client)(nil).explain(os.ErrNotExist); err != os.ErrNotExist {
		t.Errorf("no connection: %v", err)
	}
}
