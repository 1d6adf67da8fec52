package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jetcron/jetcron/configs"
)

// Files of `jetcron tls ca create`.
const (
	caCertFile = "ca.pem"
	caKeyFile  = "ca-key.pem"
)

// Validity of what the tls commands make, as Nomad's defaults.
const (
	defaultCADays   = 5 * 365
	defaultCertDays = 365
)

// certKind is a server or a client certificate.
type certKind int

const (
	serverCert certKind = iota + 1
	clientCert
)

// certRequest says what certificate to make.
type certRequest struct {
	kind    certKind
	region  string
	days    int
	dnsName []string // besides the role's name and localhost
	ips     []net.IP // besides 127.0.0.1 and ::1
}

// newKey makes an ECDSA P-256 key.
func newKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// serial is a random 128-bit serial number.
func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// keyID is the subject key ID of a public key (SHA-256, truncated as RFC 7093).
func keyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

// makeCA returns a self-signed CA certificate and its key, both PEM.
func makeCA(days int, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	id, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "jetcron CA " + sn.Text(16)[:8], Organization: []string{"jetcron"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.AddDate(0, 0, days),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          id,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), mustEncodeKey(key), nil
}

// makeCert returns a certificate signed by the CA, and its key, both PEM. A server
// certificate names server.<region>.jetcron (what verify_server_hostname checks),
// localhost, 127.0.0.1 and ::1, and serves both ends of TLS (routes dial and accept);
// a client certificate names client.<region>.jetcron and authenticates clients only.
func makeCert(caCertPEM, caKeyPEM []byte, r certRequest, now time.Time) (certPEM, keyPEM []byte, err error) {
	ca, err := tls.X509KeyPair(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("read the CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("read the CA: %w", err)
	}
	if !caCert.IsCA {
		return nil, nil, errors.New("read the CA: the certificate is not a CA's")
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	id, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	name := configs.ServerTLSName(r.region)
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if r.kind == clientCert {
		name = configs.ClientTLSName(r.region)
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	notAfter := now.AddDate(0, 0, r.days)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:   sn,
		Subject:        pkix.Name{CommonName: name, Organization: []string{"jetcron"}},
		NotBefore:      now.Add(-time.Minute),
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    usage,
		DNSNames:       append([]string{name, "localhost"}, r.dnsName...),
		IPAddresses:    append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, r.ips...),
		SubjectKeyId:   id,
		AuthorityKeyId: caCert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), mustEncodeKey(key), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func mustEncodeKey(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		panic(err) // a P-256 key always marshals
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

// outFile is a file to write.
type outFile struct {
	path string
	data []byte
	mode os.FileMode
}

// writeNew writes files that must not exist yet, unless force.
func writeNew(force bool, files ...outFile) error {
	if !force {
		for _, f := range files {
			if _, err := os.Stat(f.path); err == nil {
				return fmt.Errorf("%s exists; pass -force to replace it", f.path)
			}
		}
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := writeFileMode(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// cmdTLSCACreate is `jetcron tls ca create`.
func cmdTLSCACreate(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "tls ca create", synopsis: "Makes a certificate authority for a test cluster (as `nomad tls ca create`):\n" +
		"ca.pem (give it to every agent as tls.ca_file) and ca-key.pem (it signs the\n" +
		"certificates: keep it off the agents). For production, use your own PKI."})
	dir := c.fs.String("dir", ".", "the directory to write to")
	days := c.fs.Int("days", defaultCADays, "how many days the CA is valid")
	force := c.fs.Bool("force", false, "replace an existing CA")
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	if *days < 1 {
		fmt.Fprintln(stderr, "Error: -days must be at least 1")
		return exitUsage
	}
	cert, key, err := makeCA(*days, time.Now())
	if err != nil {
		return fail(stderr, err)
	}
	certPath, keyPath := filepath.Join(*dir, caCertFile), filepath.Join(*dir, caKeyFile)
	if err := writeNew(*force, outFile{certPath, cert, 0o644}, outFile{keyPath, key, 0o600}); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Wrote %s and %s.\n", certPath, keyPath)
	return exitOK
}

// ipList is a repeatable -additional-ipaddress flag.
type ipList []net.IP

func (l *ipList) String() string {
	var s []string
	for _, ip := range *l {
		s = append(s, ip.String())
	}
	return strings.Join(s, ",")
}

func (l *ipList) Set(v string) error {
	ip := net.ParseIP(v)
	if ip == nil {
		return fmt.Errorf("%q is not an IP address", v)
	}
	*l = append(*l, ip)
	return nil
}

// cmdTLSCertCreate is `jetcron tls cert create`.
func cmdTLSCertCreate(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "tls cert create", args: "-server|-client [NAME]", synopsis: "Makes a certificate signed by the CA of `jetcron tls ca create` (as `nomad tls\n" +
		"cert create`): NAME.pem and NAME-key.pem (NAME defaults to server or client).\n" +
		"A server certificate names server.<region>.jetcron, localhost, 127.0.0.1 and ::1\n" +
		"(add the addresses clients dial with -additional-*), and is used on the client\n" +
		"port and both ends of the routes; a client certificate names client.<region>.jetcron."})
	dir := c.fs.String("dir", ".", "the directory of ca.pem and ca-key.pem, and to write to")
	isServer := c.fs.Bool("server", false, "a server certificate")
	isClient := c.fs.Bool("client", false, "a client certificate")
	region := c.fs.String("region", "global", "the cluster's region (config region)")
	days := c.fs.Int("days", defaultCertDays, "how many days the certificate is valid")
	force := c.fs.Bool("force", false, "replace existing files")
	var dns stringList
	var ips ipList
	c.fs.Var(&dns, "additional-dnsname", "another DNS name of the certificate; repeat for more")
	c.fs.Var(&ips, "additional-ipaddress", "another IP address of the certificate; repeat for more")
	pos, code, ok := c.parse(args, 0, 1, stdout, stderr)
	if !ok {
		return code
	}
	if *isServer == *isClient {
		fmt.Fprintln(stderr, "Error: give one of -server and -client")
		return exitUsage
	}
	if *days < 1 || strings.ContainsAny(*region, " \t./") || *region == "" {
		fmt.Fprintln(stderr, "Error: -days must be at least 1 and -region a name")
		return exitUsage
	}
	r := certRequest{kind: serverCert, region: *region, days: *days, dnsName: dns, ips: ips}
	name := "server"
	if *isClient {
		r.kind, name = clientCert, "client"
	}
	if len(pos) == 1 {
		name = pos[0]
	}
	if name == "" || strings.ContainsAny(name, "/\\") || name == strings.TrimSuffix(caCertFile, ".pem") {
		fmt.Fprintf(stderr, "Error: %q cannot name a certificate file\n", name)
		return exitUsage
	}
	caCert, err := os.ReadFile(filepath.Join(*dir, caCertFile))
	if err != nil {
		return fail(stderr, fmt.Errorf("%w (make one with `jetcron tls ca create -dir %s`)", err, *dir))
	}
	caKey, err := os.ReadFile(filepath.Join(*dir, caKeyFile))
	if err != nil {
		return fail(stderr, err)
	}
	cert, key, err := makeCert(caCert, caKey, r, time.Now())
	if err != nil {
		return fail(stderr, err)
	}
	certPath, keyPath := filepath.Join(*dir, name+".pem"), filepath.Join(*dir, name+"-key.pem")
	if err := writeNew(*force, outFile{certPath, cert, 0o644}, outFile{keyPath, key, 0o600}); err != nil {
		return fail(stderr, err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	fmt.Fprintf(stdout, "Wrote %s and %s. In the agent's config:\n\ntls:\n  ca_file: %s\n  cert_file: %s\n  key_file: %s\n",
		certPath, keyPath, abs(filepath.Join(*dir, caCertFile)), abs(certPath), abs(keyPath))
	return exitOK
}

// loadCA reads a PEM bundle of CA certificates.
func loadCA(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// verifyPeerName returns a tls.Config.VerifyConnection that requires the peer's
// certificate (already verified against the CA) to name name.
func verifyPeerName(name string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer presented no certificate")
		}
		if err := cs.PeerCertificates[0].VerifyHostname(name); err != nil {
			return fmt.Errorf("peer certificate is not a jetcron server's (verify_server_hostname): %w", err)
		}
		return nil
	}
}

// serverTLS builds a server agent's TLS configurations from its tls block: the
// client port's (client certificates required only with require_client_cert) and
// the routes' (mutual TLS; with verify_server_hostname both ends must name
// server.<region>.jetcron).
func serverTLS(t configs.TLSBlock, region string) (client, cluster *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.cert_file %s, tls.key_file %s: %w", t.CertFile, t.KeyFile, err)
	}
	pool, err := loadCA(t.CAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	client = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.NoClientCert,
	}
	if t.RequireClientCert {
		client.ClientAuth = tls.RequireAndVerifyClientCert
	}
	cluster = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	if t.VerifyServerHostname {
		name := configs.ServerTLSName(region)
		cluster.ServerName = name
		cluster.VerifyConnection = verifyPeerName(name)
	}
	return client, cluster, nil
}

// clientTLS builds the TLS configuration of a connection to the servers: the CA
// that verifies them, the certificate to present if any, and with
// verify_server_hostname the name their certificates must carry. nil when the tls
// block names no CA and no certificate.
func clientTLS(t configs.TLSBlock, region string) (*tls.Config, error) {
	if t.CAFile == "" && t.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := loadCA(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file %s, tls.key_file %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if t.VerifyServerHostname {
		cfg.ServerName = configs.ServerTLSName(region)
	}
	return cfg, nil
}
