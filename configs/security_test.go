package configs

import (
	"reflect"
	"strings"
	"testing"
)

// secureServer is a server with every credential and certificate file set.
const secureServer = `data_dir: /data
name: n1
server: {enabled: true, bootstrap_expect: 3, retry_join: [s1, s2, s3]}
acl:
  operator_file: /acl/operator.jwt
  system_account_file: /acl/system-account.jwt
  account_file: /acl/account.jwt
nats: {creds: /acl/server.creds}
tls: {ca_file: /tls/ca.pem, cert_file: /tls/server.pem, key_file: /tls/server-key.pem}
`

func TestSecurityDefaults(t *testing.T) {
	c, err := LoadFS(files("a.yaml", secureServer), []string{"a.yaml"}, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	wantACL := ACL{Enabled: true, OperatorFile: "/acl/operator.jwt", SystemAccountFile: "/acl/system-account.jwt", AccountFile: "/acl/account.jwt"}
	wantTLS := TLSBlock{CAFile: "/tls/ca.pem", CertFile: "/tls/server.pem", KeyFile: "/tls/server-key.pem", VerifyServerHostname: true}
	if !reflect.DeepEqual(c.ACL, wantACL) || !reflect.DeepEqual(c.TLS, wantTLS) {
		t.Errorf("acl %+v tls %+v, want ACLs on and the server name verified", c.ACL, c.TLS)
	}
	if ServerTLSName(c.Region) != "server.global.jetcron" {
		t.Errorf("ServerTLSName = %q", ServerTLSName(c.Region))
	}
	// Dev mode is open, and says so (the agent warns).
	d, err := LoadFS(files(), nil, Overrides{Dev: true, Name: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if d.ACL.Enabled || d.Client.Options["driver.raw_exec.allow_root"] != "1" {
		t.Errorf("dev: acl %+v, options %v; want ACLs off and runs as root allowed", d.ACL, d.Client.Options)
	}
}

func TestSecurityProblems(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		o     Overrides
		want  []string
	}{
		{
			name:  "a server without credentials says how to make them",
			files: []string{"a.yaml", "data_dir: /d\nname: n\nserver: {enabled: true}\n"},
			want: []string{"acl: a server needs credentials: authentication is on outside dev mode. Run `jetcron acl bootstrap -dir /etc/jetcron/acl`, " +
				"and add the acl block and nats.creds of the server-acl.yaml it writes to this server's config (or set acl.enabled: false to run " +
				"without authentication, which lets anyone who reaches ports.nats run programs on every runner host)"},
		},
		{
			name:  "half the credentials",
			files: []string{"a.yaml", "data_dir: /d\nname: n\nserver: {enabled: true}\nacl: {operator_file: /o.jwt, account_file: acl/a.jwt}\n"},
			want: []string{
				"acl.system_account_file: required when acl.enabled is true on a server (`jetcron acl bootstrap -dir /etc/jetcron/acl` writes it)",
				"nats.creds: required when acl.enabled is true on a server (`jetcron acl bootstrap -dir /etc/jetcron/acl` writes it)",
				`a.yaml:4: acl.account_file: must be an absolute path, got "acl/a.jwt"`,
			},
		},
		{
			name:  "a cluster without TLS",
			files: []string{"a.yaml", strings.Replace(secureServer, "tls:", "#tls:", 1)},
			want: []string{"tls: servers that route to each other with acl.enabled need TLS: plaintext routes are unauthenticated, so anyone who " +
				"reaches ports.cluster could join the cluster. Set tls.ca_file, tls.cert_file and tls.key_file (for a test cluster: " +
				"jetcron tls ca create -dir /etc/jetcron/tls; jetcron tls cert create -dir /etc/jetcron/tls -server NAME)"},
		},
		{
			name:  "a server with half a TLS block",
			files: []string{"a.yaml", strings.Replace(secureServer, "cert_file: /tls/server.pem, ", "", 1)},
			want: []string{"tls.cert_file: required on a server with TLS: the server presents its certificate to clients and to its peers, " +
				"and verifies its peers with the CA"},
		},
		{
			name:  "a client with a certificate but no key",
			files: []string{"a.yaml", "data_dir: /d\nname: n\nclient: {enabled: true, servers: [s1]}\ntls: {ca_file: /ca.pem, cert_file: /c.pem}\n"},
			want:  []string{"a.yaml:4: tls.cert_file: needs tls.key_file too"},
		},
		{
			name:  "require_client_cert without TLS",
			files: []string{"a.yaml", "data_dir: /d\nname: n\nclient: {enabled: true, servers: [s1]}\ntls: {require_client_cert: true}\n"},
			want:  []string{"a.yaml:4: tls.require_client_cert: needs tls.ca_file, tls.cert_file and tls.key_file"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadFS(files(tt.files...), []string{tt.files[0]}, tt.o)
			if err == nil {
				t.Fatalf("LoadFS = %+v, want errors", got)
			}
			if lines := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(lines, tt.want) {
				t.Errorf("LoadFS errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestSecurityOptOuts(t *testing.T) {
	for name, content := range map[string]string{
		"acl turned off, with the agent's warning":      "data_dir: /d\nname: n\nserver: {enabled: true, retry_join: [s1]}\nacl: {enabled: false}\n",
		"a single server with ACLs needs no TLS":        strings.Replace(strings.Replace(secureServer, "tls:", "#tls:", 1), "bootstrap_expect: 3, retry_join: [s1, s2, s3]", "bootstrap_expect: 1", 1),
		"a client of an existing NATS needs no ACLs":    "data_dir: /d\nname: n\nclient: {enabled: true}\nnats: {url: \"nats://x:4222\"}\n",
		"a server on an existing NATS has no ACLs here": "data_dir: /d\nname: n\nserver: {enabled: true}\nnats: {url: \"nats://x:4222\"}\n",
	} {
		if _, err := LoadFS(files("a.yaml", content), []string{"a.yaml"}, Overrides{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
