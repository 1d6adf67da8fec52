package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/acl"
)

// Environment variables that set the TLS flags' defaults, as $JETCRON_ADDR sets
// -address's.
const (
	tlsCAEnv   = "JETCRON_TLS_CA"
	tlsCertEnv = "JETCRON_TLS_CERT"
	tlsKeyEnv  = "JETCRON_TLS_KEY"
)

// tlsFlags are the operator commands' TLS options: the CA that verifies the
// servers, and a client certificate for servers that require one.
type tlsFlags struct {
	ca, cert, key string
}

// register adds -tls-ca, -tls-cert and -tls-key to fs, their defaults from the
// environment.
func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ca, "tls-ca", os.Getenv(tlsCAEnv),
		"PEM file of the CA that signed the servers' certificates ($"+tlsCAEnv+"); without it, the system's roots")
	fs.StringVar(&f.cert, "tls-cert", os.Getenv(tlsCertEnv),
		"PEM client certificate, for servers that require one, with -tls-key ($"+tlsCertEnv+")")
	fs.StringVar(&f.key, "tls-key", os.Getenv(tlsKeyEnv), "PEM private key of -tls-cert ($"+tlsKeyEnv+")")
}

// flagName names a TLS flag in an error: "-tls-ca", or "-tls-ca ($JETCRON_TLS_CA)"
// when its value came from the environment.
func flagName(fs *flag.FlagSet, name, env string) string {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	if set {
		return "-" + name
	}
	return fmt.Sprintf("-%s ($%s)", name, env)
}

// readFlagFile reads the file a flag names, with an error that names both.
func readFlagFile(label, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s %s: %w", label, path, err)
	}
	return data, nil
}

// config is the TLS configuration of the connection, nil when no TLS flag is set
// (the URL's scheme and the server then decide, verifying with the system's roots).
// The server's certificate must name the host of the URL dialled.
func (f *tlsFlags) config(fs *flag.FlagSet) (*tls.Config, error) {
	if f.ca == "" && f.cert == "" && f.key == "" {
		return nil, nil
	}
	caFlag := flagName(fs, "tls-ca", tlsCAEnv)
	certFlag := flagName(fs, "tls-cert", tlsCertEnv)
	keyFlag := flagName(fs, "tls-key", tlsKeyEnv)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.ca != "" {
		data, err := readFlagFile(caFlag, f.ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("%s %s: no PEM certificate in it", caFlag, f.ca)
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.cert != "" && f.key == "":
		return nil, fmt.Errorf("%s %s needs -tls-key, the certificate's private key", certFlag, f.cert)
	case f.key != "" && f.cert == "":
		return nil, fmt.Errorf("%s %s needs -tls-cert, the certificate of that key", keyFlag, f.key)
	case f.cert != "":
		certPEM, err := readFlagFile(certFlag, f.cert)
		if err != nil {
			return nil, err
		}
		keyPEM, err := readFlagFile(keyFlag, f.key)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%s %s, %s %s: %w", certFlag, f.cert, keyFlag, f.key, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// explain turns a failed connection's TLS error into one line that says what to do
// about it; nil when err is not about TLS.
func (f *tlsFlags) explain(err error, address string) error {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("TLS: the server at %s does not offer TLS, and the TLS flags ask for it", address)
	case errors.As(err, &unknown) && f.ca == "":
		return fmt.Errorf("TLS: server certificate not trusted (%s): pass the cluster's CA with -tls-ca", oneLine(unknown.Error()))
	case errors.As(err, &unknown):
		return fmt.Errorf("TLS: server certificate not trusted by -tls-ca %s (%s): pass the CA that signed the servers' certificates",
			f.ca, oneLine(unknown.Error()))
	case errors.As(err, &host):
		return fmt.Errorf("TLS: server certificate not valid for %s (%s): dial a name or address it holds",
			address, oneLine(host.Error()))
	case errors.As(err, &invalid):
		return fmt.Errorf("TLS: server certificate rejected (%s)", oneLine(invalid.Error()))
	case f.cert == "" && strings.Contains(err.Error(), "certificate required"):
		return fmt.Errorf("TLS: the server at %s requires a client certificate: pass -tls-cert and -tls-key", address)
	case f.cert == "" && strings.Contains(err.Error(), "closed by remote after TLS handshake"):
		// TLS 1.3: the server checks the client's certificate after the client's
		// side of the handshake, and may close before its alert is read.
		return fmt.Errorf("TLS: the server at %s closed the connection after the handshake: "+
			"it requires a client certificate? pass -tls-cert and -tls-key", address)
	case errors.Is(err, nats.ErrTLS), errors.As(err, &verify):
		return fmt.Errorf("TLS: handshake with %s failed (%s)", address, oneLine(err.Error()))
	}
	return nil
}

// authError is the error of a connection the server refused to authenticate.
func authError(address, creds string) error {
	if creds == "" {
		return fmt.Errorf("authentication refused at %s (authorization violation): pass credentials with -creds", address)
	}
	return fmt.Errorf("authentication refused at %s for credentials file %s (authorization violation): "+
		"are they revoked, or another cluster's?", address, creds)
}

// permissionError is an operation the server refused the connection's credentials:
// "permission denied: these credentials may not publish to "$KV.jobs.x"".
type permissionError struct {
	// verb and subject are what was refused ("publish to", "$KV.jobs.x"); verb is
	// empty when the server's words did not parse, and text holds them.
	verb, subject, text string
	// hint suggests the credentials that may; empty for the admin's.
	hint string
}

// Error is the line the commands print after "Error: ".
func (e *permissionError) Error() string {
	s := "permission denied: "
	if e.verb != "" {
		s += fmt.Sprintf("these credentials may not %s %q", e.verb, e.subject)
	} else {
		s += e.text
	}
	if e.hint != "" {
		s += " (" + e.hint + ")"
	}
	return s
}

// Unwrap makes errors.Is(err, nats.ErrPermissionViolation) hold.
func (e *permissionError) Unwrap() error { return nats.ErrPermissionViolation }

// violationRe reads the server's words: Permissions Violation for Publish to "X",
// for Subscription to "X" (using queue "Q"), for Publish with Reply of "X".
var violationRe = regexp.MustCompile(`Permissions Violation for (Publish to|Subscription to|Publish with Reply of) "([^"]*)"`)

// newPermissionError reads a nats.ErrPermissionViolation; role is the credentials'
// (jetcron's roles), "" when unknown.
func newPermissionError(err error, role string) *permissionError {
	e := &permissionError{text: oneLine(strings.TrimPrefix(err.Error(), nats.ErrPermissionViolation.Error()+": "))}
	if m := violationRe.FindStringSubmatch(err.Error()); m != nil {
		e.subject = m[2]
		switch m[1] {
		case "Publish to":
			e.verb = "publish to"
		case "Subscription to":
			e.verb = "subscribe to"
		default:
			e.verb = "publish with the reply subject"
		}
	}
	switch role {
	case acl.RoleAdmin:
	case "":
		e.hint = "is this the admin creds file?"
	default:
		e.hint = fmt.Sprintf("these are %s credentials: is this the admin creds file?", role)
	}
	return e
}

// permissionWatch keeps the first permission violation the server reports on a
// connection. NATS reports them asynchronously and drops the refused message, so the
// operation that sent it would wait for an answer until its deadline: the watch
// cancels the command's context instead, and explains the failure.
type permissionWatch struct {
	role string // the credentials' role, for the hint

	mu      sync.Mutex
	refused *permissionError
	cancel  context.CancelCauseFunc
}

// report is the connection's error handler: it records a permission violation and
// cancels the command; other asynchronous errors are left to the operations.
func (w *permissionWatch) report(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	w.mu.Lock()
	if w.refused == nil {
		w.refused = newPermissionError(err, w.role)
	}
	refused, cancel := w.refused, w.cancel
	w.mu.Unlock()
	if cancel != nil {
		cancel(refused)
	}
}

// onRefusal makes a violation cancel the command with cancel, at once when one was
// already reported.
func (w *permissionWatch) onRefusal(cancel context.CancelCauseFunc) {
	w.mu.Lock()
	w.cancel = cancel
	refused := w.refused
	w.mu.Unlock()
	if refused != nil {
		cancel(refused)
	}
}

// refusal returns the violation reported on nc, nil when there was none. The
// connection's last error is read too: it is set before the handler runs.
func (w *permissionWatch) refusal(nc *nats.Conn) *permissionError {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refused == nil && nc != nil {
		if last := nc.LastError(); errors.Is(last, nats.ErrPermissionViolation) {
			w.refused = newPermissionError(last, w.role)
		}
	}
	return w.refused
}
