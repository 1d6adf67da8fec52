package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("no PEM in %q", data)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTLSCommandsMakeACAAndCertificates(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := run([]string{"tls", "ca", "create", "-dir", dir}, &out, &errOut); code != exitOK {
		t.Fatalf("tls ca create: %d %s", code, errOut.String())
	}
	if code := run([]string{"tls", "ca", "create", "-dir", dir}, &out, &errOut); code != exitError || !strings.Contains(errOut.String(), "-force") {
		t.Errorf("a second CA over the first: code %d, %s", code, errOut.String())
	}
	errOut.Reset()
	for _, args := range [][]string{
		{"-server", "-region", "eu", "-additional-dnsname", "s1.example.com", "-additional-ipaddress", "10.0.0.1"},
		{"-client", "-region", "eu", "ops"},
	} {
		out.Reset()
		if code := run(append([]string{"tls", "cert", "create", "-dir", dir}, args...), &out, &errOut); code != exitOK {
			t.Fatalf("tls cert create %q: %d %s", args, code, errOut.String())
		}
	}
	if !strings.Contains(out.String(), "tls:\n  ca_file: ") {
		t.Errorf("tls cert create prints no tls block: %s", out.String())
	}
	if code := run([]string{"tls", "cert", "create", "-dir", dir}, &out, &errOut); code != exitUsage {
		t.Errorf("neither -server nor -client: code %d", code)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ca := parseCert(t, read("ca.pem"))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	srv := parseCert(t, read("server.pem"))
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, DNSName: "server.eu.jetcron", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("server certificate as a server: %v", err)
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("server certificate as a route client: %v", err)
	}
	for _, name := range []string{"localhost", "s1.example.com", "127.0.0.1", "10.0.0.1"} {
		if err := srv.VerifyHostname(name); err != nil {
			t.Errorf("server certificate: %v", err)
		}
	}
	cli := parseCert(t, read("ops.pem"))
	if _, err := cli.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if cli.VerifyHostname("server.eu.jetcron") == nil || !slices.Equal(cli.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("a client certificate passes for a server: %q %v", cli.DNSNames, cli.ExtKeyUsage)
	}
	for _, key := range []string{"ca-key.pem", "server-key.pem", "ops-key.pem"} {
		if fi, err := os.Stat(filepath.Join(dir, key)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", key, err, fi.Mode())
		}
	}
}
