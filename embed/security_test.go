package embed_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/jetcron/jetcron/embed"
	"github.com/jetcron/jetcron/embed/embedtest"
)

// operatorSet is an operator, its system account and one account with JetStream,
// and a user of that account.
type operatorSet struct {
	auth      *embed.Auth
	userJWT   string
	userSeed  []byte
	otherAuth *embed.Auth // an account signed by another operator
}

func newOperatorSet(t *testing.T) *operatorSet {
	t.Helper()
	must := func(kp nkeys.KeyPair, err error) nkeys.KeyPair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	op, sys, acc, usr := must(nkeys.CreateOperator()), must(nkeys.CreateAccount()), must(nkeys.CreateAccount()), must(nkeys.CreateUser())
	pub := func(kp nkeys.KeyPair) string { p, _ := kp.PublicKey(); return p }
	enc := func(c interface {
		Encode(nkeys.KeyPair) (string, error)
	}, kp nkeys.KeyPair) string {
		t.Helper()
		s, err := c.Encode(kp)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	oc := jwt.NewOperatorClaims(pub(op))
	oc.SystemAccount = pub(sys)
	ac := jwt.NewAccountClaims(pub(acc))
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	uc := jwt.NewUserClaims(pub(usr))
	seed, _ := usr.Seed()
	s := &operatorSet{
		auth:     &embed.Auth{Operator: enc(oc, op), SystemAccount: enc(jwt.NewAccountClaims(pub(sys)), op), Accounts: []string{enc(ac, op)}},
		userJWT:  enc(uc, acc),
		userSeed: seed,
	}
	// The same account signed by an operator the server does not trust.
	other := must(nkeys.CreateOperator())
	s.otherAuth = &embed.Auth{Operator: s.auth.Operator, SystemAccount: s.auth.SystemAccount, Accounts: []string{enc(ac, other)}}
	return s
}

func (s *operatorSet) login() nats.Option {
	return nats.UserJWTAndSeed(s.userJWT, string(s.userSeed))
}

// testPKI is a CA and a certificate for 127.0.0.1 signed by it.
type testPKI struct {
	pool *x509.CertPool
	cert tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{pool: x509.NewCertPool(), cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
	p.pool.AddCert(caCert)
	return p
}

// serverConfigs are the client port's and the routes' (mutual) TLS configurations.
func (p *testPKI) serverConfigs() (client, cluster *tls.Config) {
	client = &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS12}
	cluster = &tls.Config{
		Certificates: []tls.Certificate{p.cert}, RootCAs: p.pool, ClientCAs: p.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
	return client, cluster
}

func TestStartRejectsBadAuth(t *testing.T) {
	s := newOperatorSet(t)
	for name, a := range map[string]*embed.Auth{
		"an operator JWT that does not decode":  {Operator: "nope", SystemAccount: s.auth.SystemAccount, Accounts: s.auth.Accounts},
		"no system account":                     {Operator: s.auth.Operator, Accounts: s.auth.Accounts},
		"no account":                            {Operator: s.auth.Operator, SystemAccount: s.auth.SystemAccount},
		"an account signed by another operator": s.otherAuth,
		"an operator JWT where an account goes": {Operator: s.auth.Operator, SystemAccount: s.auth.Operator, Accounts: s.auth.Accounts},
	} {
		o := embed.Options{Name: "n", StoreDir: t.TempDir(), Port: embed.RandomPort, Auth: a}
		srv, err := embed.Start(o)
		var oe *embed.OptionError
		if !errors.As(err, &oe) || oe.Field != "Auth" {
			if srv != nil {
				srv.Kill()
			}
			t.Errorf("%s: %v, want an OptionError for Auth", name, err)
		}
	}
}

// A cluster with authentication and TLS forms over mutual TLS, serves JetStream to a
// user with credentials over TLS, and refuses anonymous and plaintext clients.
func TestAuthAndTLSCluster(t *testing.T) {
	skipShort(t)
	ops := newOperatorSet(t)
	pki := newTestPKI(t)
	client, cluster := pki.serverConfigs()
	c := embedtest.NewCluster(t, 3, embedtest.WithOptions(func(_ int, o *embed.Options) {
		o.Auth, o.TLS, o.ClusterTLS = ops.auth, client, cluster
		o.HTTPPort = embed.RandomPort
	}))
	secure := nats.Secure(&tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12})

	nc := c.Connect(t, ops.login(), secure)
	js := jsContext(t, nc)
	createStream(t, js, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 3})
	if err := publish(js, "s.x"); err != nil {
		t.Fatalf("publish to an R3 stream over TLS: %v", err)
	}
	// The routes are mutual TLS.
	for _, s := range c.Servers {
		v, err := s.NATS().Varz(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !v.Cluster.TLSRequired || !v.Cluster.TLSVerify || !v.TLSRequired {
			t.Errorf("%s: cluster TLS required %v, verify %v; client TLS %v", s.Name(), v.Cluster.TLSRequired, v.Cluster.TLSVerify, v.TLSRequired)
		}
	}

	if _, err := nats.Connect(c.URLs(), secure, nats.Timeout(2*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous client: %v, want an authorization violation", err)
	}
	// A plaintext client is refused: it cannot even log in.
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(c.Servers[0].ClientURL(), "nats://"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf) // INFO
	if !strings.Contains(string(buf[:n]), `"tls_required":true`) {
		t.Errorf("INFO %q does not require TLS", buf[:n])
	}
	_, _ = conn.Write([]byte("CONNECT {}\r\nPING\r\n"))
	var reply strings.Builder
	for {
		n, err := conn.Read(buf)
		reply.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if strings.Contains(reply.String(), "PONG") {
		t.Errorf("a plaintext client was served: %q", reply.String())
	}

	// Monitoring is HTTPS with the same certificate.
	mon := c.Servers[0].MonitorURL()
	if !strings.HasPrefix(mon, "https://") {
		t.Fatalf("monitor URL %s, want https", mon)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}, Timeout: 5 * time.Second}
	resp, err := hc.Get(mon + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz over HTTPS: %v", err)
	}
	resp.Body.Close()
}
