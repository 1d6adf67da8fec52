package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/jetcron/jetcron/configs"
)

// ServerTLS builds a server agent's TLS configurations from its tls block: the
// client port's (client certificates required only with require_client_cert) and
// the routes' (mutual TLS; with verify_server_hostname both ends must name
// server.<region>.jetcron, so that a client certificate of the same CA cannot join).
func ServerTLS(t configs.TLSBlock, region string) (client, cluster *tls.Config, err error) {
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

// ClientTLS builds the TLS configuration of a connection to the servers: the CA
// that verifies them, the certificate to present if any, and with
// verify_server_hostname the name their certificates must carry. nil when the tls
// block names no CA and no certificate.
func ClientTLS(t configs.TLSBlock, region string) (*tls.Config, error) {
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
