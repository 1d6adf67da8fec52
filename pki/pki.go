// Package pki makes the certificate authority and the certificates of a test cluster
// (`jetcron tls ca create`, `jetcron tls cert create`, as Nomad's), and builds the
// TLS configurations of an agent from its tls block. For production, operators use
// their own PKI: only the builders then matter.
package pki

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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/internal/atomicfile"
)

// Files of CreateCA in its directory: the CA certificate every agent trusts, and the
// key that signs certificates, which belongs to no agent.
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
)

// Validity, in days, of what the tls commands make by default, as Nomad's.
const (
	DefaultCADays   = 5 * 365
	DefaultCertDays = 365
)

// CertKind is a server or a client certificate.
type CertKind int

const (
	// ServerCert names server.<region>.jetcron and serves both ends of TLS: the
	// client port, and the routes, which dial and accept.
	ServerCert CertKind = iota + 1
	// ClientCert names client.<region>.jetcron and authenticates a client only.
	ClientCert
)

// CertRequest says what certificate to make.
type CertRequest struct {
	Kind CertKind
	// Region is the cluster's (config region): it is part of the certificate's name.
	Region string
	// Days is how long the certificate is valid, at most as long as the CA.
	Days int
	// DNSNames and IPs are names of the certificate besides the kind's name,
	// localhost, 127.0.0.1 and ::1: the addresses clients dial.
	DNSNames []string
	IPs      []net.IP
}

// CreateCA makes a self-signed CA valid for days, and writes it in dir as
// CACertFile and CAKeyFile (the key readable by its owner only). It refuses to
// replace an existing CA unless force.
func CreateCA(dir string, days int, force bool) (certPath, keyPath string, err error) {
	cert, key, err := makeCA(days, time.Now())
	if err != nil {
		return "", "", fmt.Errorf("make a CA: %w", err)
	}
	certPath, keyPath = filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	if err := writeNew(force, outFile{certPath, cert, 0o644}, outFile{keyPath, key, 0o600}); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// CreateCert makes a certificate signed by the CA that CreateCA wrote in dir, and
// writes it there as name.pem and name-key.pem. It refuses to replace existing
// files unless force.
func CreateCert(dir, name string, r CertRequest, force bool) (certPath, keyPath string, err error) {
	caCert, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return "", "", fmt.Errorf("%w (make one with `jetcron tls ca create -dir %s`)", err, dir)
	}
	caKey, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return "", "", err
	}
	cert, key, err := makeCert(caCert, caKey, r, time.Now())
	if err != nil {
		return "", "", err
	}
	certPath, keyPath = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := writeNew(force, outFile{certPath, cert, 0o644}, outFile{keyPath, key, 0o600}); err != nil {
		return "", "", err
	}
	return certPath, keyPath, nil
}

// newKey makes an ECDSA P-256 key, its random serial number and its subject key ID.
func newKey() (*ecdsa.PrivateKey, *big.Int, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("make a key: %w", err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("make a serial number: %w", err)
	}
	id, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, nil, nil, err
	}
	return key, sn, id, nil
}

// keyID is the subject key ID of a public key (SHA-256, truncated as RFC 7093).
func keyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("the key's ID: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

// makeCA returns a self-signed CA certificate and its key, both PEM.
func makeCA(days int, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, sn, id, err := newKey()
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
		return nil, nil, fmt.Errorf("sign the CA: %w", err)
	}
	return encodeCert(der), mustEncodeKey(key), nil
}

// makeCert returns a certificate signed by the CA, and its key, both PEM. A server
// certificate names server.<region>.jetcron (what verify_server_hostname checks),
// localhost, 127.0.0.1 and ::1, and serves both ends of TLS (routes dial and accept);
// a client certificate names client.<region>.jetcron and authenticates clients only.
// It expires with the CA at the latest.
func makeCert(caCertPEM, caKeyPEM []byte, r CertRequest, now time.Time) (certPEM, keyPEM []byte, err error) {
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
	key, sn, id, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	name := configs.ServerTLSName(r.Region)
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if r.Kind == ClientCert {
		name = configs.ClientTLSName(r.Region)
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	notAfter := now.AddDate(0, 0, r.Days)
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
		DNSNames:       append([]string{name, "localhost"}, r.DNSNames...),
		IPAddresses:    append([]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, r.IPs...),
		SubjectKeyId:   id,
		AuthorityKeyId: caCert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the certificate: %w", err)
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

// writeNew writes files that must not exist yet, unless force: none is written when
// one exists.
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
		if err := atomicfile.Write(f.path, f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}
