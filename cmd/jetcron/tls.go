package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"

	"github.com/jetcron/jetcron/pki"
)

// cmdTLSCACreate is `jetcron tls ca create`.
func cmdTLSCACreate(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "tls ca create", synopsis: "Makes a certificate authority for a test cluster (as `nomad tls ca create`):\n" +
		"ca.pem (give it to every agent as tls.ca_file) and ca-key.pem (it signs the\n" +
		"certificates: keep it off the agents). For production, use your own PKI."})
	dir := c.fs.String("dir", ".", "the directory to write to")
	days := c.fs.Int("days", pki.DefaultCADays, "how many days the CA is valid")
	force := c.fs.Bool("force", false, "replace an existing CA")
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	if *days < 1 {
		fmt.Fprintln(stderr, "Error: -days must be at least 1")
		return exitUsage
	}
	certPath, keyPath, err := pki.CreateCA(*dir, *days, *force)
	if err != nil {
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
	days := c.fs.Int("days", pki.DefaultCertDays, "how many days the certificate is valid")
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
	r := pki.CertRequest{Kind: pki.ServerCert, Region: *region, Days: *days, DNSNames: dns, IPs: ips}
	name := "server"
	if *isClient {
		r.Kind, name = pki.ClientCert, "client"
	}
	if len(pos) == 1 {
		name = pos[0]
	}
	if name == "" || strings.ContainsAny(name, "/\\") || name == strings.TrimSuffix(pki.CACertFile, ".pem") {
		fmt.Fprintf(stderr, "Error: %q cannot name a certificate file\n", name)
		return exitUsage
	}
	certPath, keyPath, err := pki.CreateCert(*dir, name, r, *force)
	if err != nil {
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
		certPath, keyPath, abs(filepath.Join(*dir, pki.CACertFile)), abs(certPath), abs(keyPath))
	return exitOK
}
