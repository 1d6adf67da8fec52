package embed

import (
	"crypto/tls"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
)

// DefaultTLSTimeout bounds a TLS handshake on the client and cluster ports when
// Options.TLSTimeout is 0 (NATS's own default, 0.5 s, is short for a loaded host).
const DefaultTLSTimeout = 2 * time.Second

// Auth turns on NATS's decentralized authentication ("operator mode"): the server
// trusts the accounts that Operator signed, and a client logs in with a user JWT
// signed by one of those accounts (a .creds file), proving that it holds the user's
// nkey. What a user may publish and subscribe to is written in its JWT, and the
// server enforces it. The server holds no secret: only public JWTs.
//
// Without Auth (the default) anyone who reaches the client port may do anything:
// fine for tests, never for a real network.
type Auth struct {
	// Operator is the operator's JWT. Required.
	Operator string
	// SystemAccount is the JWT of the system account (NATS's own monitoring and
	// internal traffic), signed by Operator. Required.
	SystemAccount string
	// Accounts are the JWTs of the accounts clients log in to, each signed by
	// Operator; each must enable JetStream for JetStream to serve it. At least one.
	Accounts []string
}

// authOptions checks a and returns the server options of operator mode: the
// trusted operator, the system account, and a memory resolver preloaded with every
// account.
func authOptions(a *Auth) (ops []*jwt.OperatorClaims, sys string, res server.AccountResolver, err error) {
	bad := func(format string, args ...any) error {
		return &OptionError{"Auth", fmt.Sprintf(format, args...)}
	}
	op, err := jwt.DecodeOperatorClaims(a.Operator)
	if err != nil {
		return nil, "", nil, bad("operator JWT: %v", err)
	}
	if err := blocking(op); err != nil {
		return nil, "", nil, bad("operator JWT: %v", err)
	}
	signed := func(ac *jwt.AccountClaims) bool {
		return ac.Issuer == op.Subject || slices.Contains(op.SigningKeys, ac.Issuer)
	}
	load := func(what, token string) (*jwt.AccountClaims, error) {
		ac, err := jwt.DecodeAccountClaims(token)
		if err != nil {
			return nil, bad("%s JWT: %v", what, err)
		}
		if !signed(ac) {
			return nil, bad("%s JWT %q was not signed by operator %q", what, ac.Name, op.Name)
		}
		if err := blocking(ac); err != nil {
			return nil, bad("%s JWT %q: %v", what, ac.Name, err)
		}
		return ac, nil
	}
	if a.SystemAccount == "" {
		return nil, "", nil, bad("system account JWT required")
	}
	sa, err := load("system account", a.SystemAccount)
	if err != nil {
		return nil, "", nil, err
	}
	if len(a.Accounts) == 0 {
		return nil, "", nil, bad("at least one account JWT required")
	}
	mem := &server.MemAccResolver{}
	_ = mem.Store(sa.Subject, a.SystemAccount) // never fails
	for _, token := range a.Accounts {
		ac, err := load("account", token)
		if err != nil {
			return nil, "", nil, err
		}
		_ = mem.Store(ac.Subject, token)
	}
	return []*jwt.OperatorClaims{op}, sa.Subject, mem, nil
}

// blocking reports a claim that NATS would refuse (expired, malformed).
func blocking(c jwt.Claims) error {
	vr := jwt.CreateValidationResults()
	c.Validate(vr)
	if errs := vr.Errors(); len(errs) > 0 && vr.IsBlocking(true) {
		return errs[0]
	}
	return nil
}

// applySecurity sets the authentication and TLS parts of the server options.
func applySecurity(o Options, so *server.Options) error {
	if o.Auth != nil {
		ops, sys, res, err := authOptions(o.Auth)
		if err != nil {
			return err
		}
		so.TrustedOperators, so.SystemAccount, so.AccountResolver = ops, sys, res
	}
	timeout := o.TLSTimeout.Seconds()
	if o.TLS != nil {
		so.TLSConfig = o.TLS
		so.TLSTimeout = timeout
		so.TLSVerify = o.TLS.ClientAuth == tls.RequireAndVerifyClientCert
		// The monitoring port serves HTTPS with the same certificate.
		so.HTTPSPort, so.HTTPPort = so.HTTPPort, 0
	}
	if o.ClusterTLS != nil && len(so.Routes) > 0 {
		so.Cluster.TLSConfig = o.ClusterTLS
		so.Cluster.TLSTimeout = timeout
	}
	return nil
}
