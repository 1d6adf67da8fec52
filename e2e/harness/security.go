package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
)

// refusalKey is the job key the refused clients try to define.
const refusalKey = "x"

// checkRefusals checks, on a secure cluster, that nobody gets in without credentials
// or in plaintext: an anonymous `nats kv put jobs x ...` (with the CA, no
// credentials) is refused as an authorization violation and stores nothing; a
// plaintext client (a raw TCP connection speaking the NATS protocol) gets no answer
// from any server, whose INFO requires TLS; and the nats CLI with the admin's
// credentials but without the CA (a nats:// URL) is refused too. Each failure is a
// violation.
func (e *Env) checkRefusals(ctx context.Context) {
	if !e.C.Secure() {
		e.Note("security off (-insecure): the anonymous and plaintext refusals are not checked")
		return
	}
	value := every1s() + okTask

	// Without credentials.
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err := e.C.NATSAs(cctx, cluster.Anonymous, nil, "kv", "put", "jobs", refusalKey, value)
	cancel()
	switch {
	case err == nil:
		e.Violate("security: an anonymous `nats kv put jobs %s` (no credentials) was accepted", refusalKey)
	case !containsAny(err.Error(), []string{"authorization violation"}):
		e.Violate("security: an anonymous `nats kv put jobs %s` failed, but not as an authorization violation: %v", refusalKey, err)
	default:
		e.Note("security: anonymous nats kv put jobs %s refused: %s", refusalKey, lastError(err))
	}

	// With the admin's credentials but without the CA.
	var plain []string
	for _, s := range e.C.Servers() {
		plain = append(plain, strings.Replace(s.URL, "tls://", "nats://", 1))
	}
	cctx, cancel = context.WithTimeout(ctx, 15*time.Second)
	cmd := exec.CommandContext(cctx, e.Cfg.NATSCLI, "-s", strings.Join(plain, ","), "--timeout", "3s",
		"--creds", e.C.Creds(cluster.Admin), "kv", "put", "jobs", refusalKey, value)
	cmd.Env = e.C.NATSEnv()
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	cancel()
	switch {
	case err == nil:
		e.Violate("security: `nats kv put jobs %s` without the CA (nats:// URLs, admin credentials) was accepted", refusalKey)
	case !containsAny(string(out), []string{"tls", "x509", "certificate"}):
		e.Violate("security: `nats kv put jobs %s` without the CA failed, but not on TLS: %v: %s", refusalKey, err, truncate(strings.TrimSpace(string(out)), 200))
	default:
		e.Note("security: nats kv put jobs %s without the CA refused: %s", refusalKey, lastError(errors.New(strings.TrimSpace(string(out)))))
	}

	// Neither stored anything.
	cctx, cancel = context.WithTimeout(ctx, 15*time.Second)
	got, err := e.C.NATS(cctx, "kv", "get", "jobs", refusalKey, "--raw")
	cancel()
	if err == nil {
		e.Violate("security: a refused client's job %q is in the jobs bucket: %q", refusalKey, truncate(string(got), 80))
	}

	// A plaintext client, on every server's client port.
	refused := 0
	for _, s := range e.C.Servers() {
		if why := plaintextAccepted(ctx, s.URL); why != "" {
			e.Violate("security: %s: %s", s.Name, why)
		} else {
			refused++
		}
	}
	e.Note("security: a plaintext client got no answer from %d of %d servers (their INFO requires TLS and authentication)", refused, len(e.C.Servers()))
}

// plaintextAccepted connects to the client port of the server at rawURL without TLS,
// reads its INFO, sends CONNECT, a PUB to the jobs bucket and a PING in plaintext, and
// returns why that counts as accepted ("" if the server refused: its INFO requires
// TLS and no +OK, PONG or -ERR other than a TLS one comes back before the server
// closes the connection or 5 s pass).
func plaintextAccepted(ctx context.Context, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Sprintf("URL %q: %v", rawURL, err)
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return fmt.Sprintf("plaintext check: cannot connect to %s: %v", u.Host, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return fmt.Sprintf("plaintext check: no INFO from %s: %v", u.Host, err)
	}
	rest, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		return fmt.Sprintf("plaintext check: %s greeted with %q, not INFO", u.Host, truncate(line, 80))
	}
	var info struct {
		TLSRequired  bool `json:"tls_required"`
		AuthRequired bool `json:"auth_required"`
	}
	if err := json.Unmarshal([]byte(rest), &info); err != nil {
		return fmt.Sprintf("plaintext check: INFO of %s: %v", u.Host, err)
	}
	if !info.TLSRequired || !info.AuthRequired {
		return fmt.Sprintf("a plaintext client's INFO says tls_required %v, auth_required %v (want both)", info.TLSRequired, info.AuthRequired)
	}
	payload := "hi"
	msg := `CONNECT {"verbose":true,"pedantic":false,"tls_required":false,"name":"jetcron-e2e-plaintext","lang":"go","version":"0","protocol":1}` + "\r\n" +
		fmt.Sprintf("PUB $KV.jobs.%s %d\r\n%s\r\nPING\r\n", refusalKey, len(payload), payload)
	if _, err := io.WriteString(conn, msg); err != nil {
		return "" // dropped already
	}
	for {
		line, err := r.ReadString('\n')
		for _, ans := range []string{"+OK", "PONG", "MSG "} {
			if strings.HasPrefix(line, ans) {
				return fmt.Sprintf("a plaintext client (no TLS) got %q back: the client port speaks plaintext", strings.TrimSpace(line))
			}
		}
		if err != nil {
			return "" // closed by the server, or silent until the deadline
		}
	}
}

// lastError is the nats CLI's own error line of err.
func lastError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "nats: error: "); i >= 0 {
		msg = msg[i:]
	}
	return truncate(strings.TrimSpace(msg), 150)
}
