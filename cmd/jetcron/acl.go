package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/jetcron/jetcron/acl"
)

// cmdACLBootstrap is `jetcron acl bootstrap`.
func cmdACLBootstrap(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "acl bootstrap", args: "", synopsis: "Makes the credentials of a new cluster: an operator and jetcron's account\n" +
		"(NATS decentralized authentication), and a credentials file per role:\n" +
		"  admin.creds    defines jobs and manages streams (= runs programs on every runner host)\n" +
		"  server.creds   the server agents: launch runs, never define jobs\n" +
		"  reader.creds   reads everything, writes nothing\n" +
		"  runner-NODE.creds  one per -runner: consumes only NODE's launches\n" +
		"and the config snippets that use them. The servers need only the public JWTs;\n" +
		"keys/ signs new credentials: keep it off the servers."})
	dir := c.fs.String("dir", "", "the directory to write to (required), e.g. /etc/jetcron/acl")
	var runners stringList
	c.fs.Var(&runners, "runner", "a runner host's node name; repeat for each (\"*\": one runner.creds for any node)")
	force := c.fs.Bool("force", false, "replace an earlier bootstrap in -dir (its credentials stop working)")
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "Error: -dir is required")
		return exitUsage
	}
	for _, n := range runners {
		if n == "" || (n != acl.AnyNode && strings.ContainsAny(n, " \t\r\n")) {
			fmt.Fprintf(stderr, "Error: -runner %q is not a node name\n", n)
			return exitUsage
		}
	}
	written, err := acl.Bootstrap(*dir, runners, *force)
	if err != nil {
		return fail(stderr, err)
	}
	abs, _ := filepath.Abs(*dir)
	fmt.Fprintf(stdout, "Wrote in %s:\n", abs)
	for _, w := range written {
		fmt.Fprintf(stdout, "  %s\n", w)
	}
	admin := filepath.Join(abs, acl.CredsFile(acl.RoleAdmin, ""))
	fmt.Fprintf(stdout, `
Servers: add %[1]s to every server's config; it names the public
JWTs and server.creds. Runner hosts: add their client-acl-NODE.yaml. Copy only
what each host needs; keys/ signs new credentials and belongs to no server:
  jetcron acl creds create -dir %[2]s -role runner -node NODE

Use the admin credentials with the nats CLI (add --tlsca CA.pem with TLS):
  nats --creds %[3]s -s nats://127.0.0.1:4222 kv put jobs hello "$(cat hello.yaml)"
or save them as a context:
  nats context save jetcron-admin --server nats://127.0.0.1:4222 --creds %[3]s
  nats context select jetcron-admin
and with jetcron's own commands:
  jetcron job run -creds %[3]s hello.yaml
Whoever holds admin.creds can run programs on every runner host: keep it like a root password.
`, filepath.Join(abs, acl.ServerSnippetFile), abs, admin)
	return exitOK
}

// cmdACLCredsCreate is `jetcron acl creds create`.
func cmdACLCredsCreate(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "acl creds create", args: "", synopsis: "Makes one more credentials file, signed with the account key of an earlier\n" +
		"`jetcron acl bootstrap -dir DIR`. Roles: admin, server, runner, reader. A runner\n" +
		"names its node (-node NAME); a server whose agent is also a client (client.enabled)\n" +
		"names its node too, and gets both roles' rights."})
	dir := c.fs.String("dir", "", "the bootstrap directory (required)")
	role := c.fs.String("role", "", "admin, server, runner or reader (required)")
	node := c.fs.String("node", "", "the runner's node name (\"*\": any node)")
	out := c.fs.String("out", "", "the file to write (default DIR/<role>[-<node>].creds)")
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	if *dir == "" || *role == "" {
		fmt.Fprintln(stderr, "Error: -dir and -role are required")
		return exitUsage
	}
	path, err := acl.CreateCreds(*dir, *role, *node, *out)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Wrote %s (%s). Use it as nats.creds in the agent's config, or with -creds / nats --creds.\n", path, acl.UserName(*role, *node))
	return exitOK
}

// cmdACLCredsRevoke is `jetcron acl creds revoke`.
func cmdACLCredsRevoke(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "acl creds revoke", args: "FILE.creds|USER-PUBLIC-KEY", synopsis: "Revokes a credentials file (a lost runner host, a departed admin): adds its user\n" +
		"to the revocations in DIR/account.jwt. The servers refuse it once they run with\n" +
		"the new account.jwt: copy it to every server and restart them one at a time."})
	dir := c.fs.String("dir", "", "the bootstrap directory (required)")
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "Error: -dir is required")
		return exitUsage
	}
	pub, err := acl.Revoke(*dir, pos[0])
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Revoked user %s in %s. Copy it to every server and restart them one at a time.\n",
		pub, filepath.Join(*dir, acl.AccountJWTFile))
	return exitOK
}
