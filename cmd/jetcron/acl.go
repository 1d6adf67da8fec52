package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/jetcron/jetcron/internal/atomicfile"
	"github.com/jetcron/jetcron/subjects"
)

// Files `jetcron acl bootstrap` writes in its directory. The JWTs are public (every
// server loads them); keys/ holds the secrets that sign new credentials and should
// stay off the servers; each .creds file is one user's identity.
const (
	operatorJWTFile      = "operator.jwt"
	systemAccountJWTFile = "system-account.jwt"
	accountJWTFile       = "account.jwt"
	keysDir              = "keys"
	operatorSeedFile     = "operator.nk"
	systemSeedFile       = "system-account.nk"
	accountSeedFile      = "account.nk"
	serverSnippetFile    = "server-acl.yaml"
	// operatorName and accountName name the operator and jetcron's account in their
	// JWTs (and in `nats` output).
	operatorName = "jetcron"
	accountName  = "jetcron"
	systemName   = "SYS"
)

// credsFile is the name of a role's credentials file: admin.creds, runner-web-1.creds.
func credsFile(role, node string) string {
	switch {
	case role == roleRunner && node == anyNode:
		return "runner.creds"
	case node != "":
		return role + "-" + subjects.Token(node) + ".creds"
	default:
		return role + ".creds"
	}
}

// clientSnippetFile is the config snippet of a runner host.
func clientSnippetFile(node string) string {
	if node == anyNode {
		return "client-acl.yaml"
	}
	return "client-acl-" + subjects.Token(node) + ".yaml"
}

// identity is what jetcron reads back from a credentials file: the role, the node of
// a runner, and the inbox prefix its permissions allow.
type identity struct {
	role, node, inbox string
	public            string // the user's public nkey
}

// userName is the name of the user JWT: "jetcron-admin", "jetcron-runner:web-1".
func userName(role, node string) string {
	if node == "" {
		return userNamePrefix + role
	}
	return userNamePrefix + role + ":" + node
}

// mintCreds signs a user of role (node for a runner, or a server that is also a
// runner) with the account key, and returns its credentials file's content.
func mintCreds(account nkeys.KeyPair, role, node string) ([]byte, error) {
	if !slices.Contains(roles, role) {
		return nil, fmt.Errorf("unknown role %q: want one of %s", role, strings.Join(roles, ", "))
	}
	switch {
	case role == roleRunner && node == "":
		return nil, errors.New("a runner's credentials name its node: -node NAME (or -node '*' for any node, which cannot be restricted to one node's launches)")
	case role != roleRunner && role != roleServer && node != "":
		return nil, fmt.Errorf("-node is for the runner and server roles, not %s", role)
	case role == roleServer && node == anyNode:
		return nil, errors.New("a server that is also a runner names its node")
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("make a user key: %w", err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	uc := jwt.NewUserClaims(pub)
	uc.Name = userName(role, node)
	uc.Permissions = permissions(role, node)
	token, err := uc.Encode(account)
	if err != nil {
		return nil, fmt.Errorf("sign the %s user: %w", role, err)
	}
	return jwt.FormatUserConfig(token, seed)
}

// readIdentity reads a credentials file's user JWT.
func readIdentity(path string) (*identity, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	token, err := jwt.ParseDecoratedJWT(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a credentials file: %w", path, err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	if err != nil {
		return nil, fmt.Errorf("%s: not a credentials file: %w", path, err)
	}
	id := &identity{public: uc.Subject, inbox: inboxDefault}
	if rest, ok := strings.CutPrefix(uc.Name, userNamePrefix); ok {
		id.role, id.node, _ = strings.Cut(rest, ":")
	}
	for _, s := range uc.Sub.Allow {
		if p, ok := strings.CutSuffix(s, ".>"); ok && strings.HasPrefix(p, inboxDefault) && !strings.ContainsAny(p, "*>.") {
			id.inbox = p
			break
		}
	}
	return id, nil
}

// aclKeys are the secrets of a bootstrap: the operator's, the system account's and
// jetcron's account's key pairs.
type aclKeys struct {
	operator, system, account nkeys.KeyPair
}

// bootstrapACL makes an operator, a system account and jetcron's account, writes
// their JWTs and seeds in dir, and the credentials of admin, server, reader, and a
// runner per name in runners (each a node name, or anyNode), and the config
// snippets. It refuses to overwrite an earlier bootstrap unless force.
func bootstrapACL(dir string, runners []string, force bool) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, operatorJWTFile)); err == nil && !force {
		return nil, fmt.Errorf("%s already holds credentials (%s): a new bootstrap would lock out every agent and user of the old ones; "+
			"make more with `jetcron acl creds create -dir %s`, or pass -force", dir, operatorJWTFile, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		return nil, err
	}
	var k aclKeys
	var err error
	if k.operator, err = nkeys.CreateOperator(); err != nil {
		return nil, err
	}
	if k.system, err = nkeys.CreateAccount(); err != nil {
		return nil, err
	}
	if k.account, err = nkeys.CreateAccount(); err != nil {
		return nil, err
	}
	opPub, _ := k.operator.PublicKey()
	sysPub, _ := k.system.PublicKey()
	accPub, _ := k.account.PublicKey()

	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = operatorName
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(k.operator)
	if err != nil {
		return nil, fmt.Errorf("sign the operator: %w", err)
	}
	sc := jwt.NewAccountClaims(sysPub)
	sc.Name = systemName
	sysJWT, err := sc.Encode(k.operator)
	if err != nil {
		return nil, fmt.Errorf("sign the system account: %w", err)
	}
	ac := jwt.NewAccountClaims(accPub)
	ac.Name = accountName
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1, MaxAckPending: -1}
	accJWT, err := ac.Encode(k.operator)
	if err != nil {
		return nil, fmt.Errorf("sign the account: %w", err)
	}

	var written []string
	write := func(name string, data []byte, mode os.FileMode) error {
		p := filepath.Join(dir, name)
		if err := atomicfile.Write(p, data, mode); err != nil {
			return err
		}
		written = append(written, name)
		return nil
	}
	for _, f := range []struct {
		name string
		data string
	}{{operatorJWTFile, opJWT}, {systemAccountJWTFile, sysJWT}, {accountJWTFile, accJWT}} {
		if err := write(f.name, []byte(f.data+"\n"), 0o644); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		kp   nkeys.KeyPair
	}{{operatorSeedFile, k.operator}, {systemSeedFile, k.system}, {accountSeedFile, k.account}} {
		seed, _ := f.kp.Seed()
		if err := write(filepath.Join(keysDir, f.name), append(seed, '\n'), 0o600); err != nil {
			return nil, err
		}
	}
	type user struct{ role, node string }
	users := []user{{roleAdmin, ""}, {roleServer, ""}, {roleReader, ""}}
	for _, n := range runners {
		users = append(users, user{roleRunner, n})
	}
	for _, u := range users {
		creds, err := mintCreds(k.account, u.role, u.node)
		if err != nil {
			return nil, err
		}
		if err := write(credsFile(u.role, u.node), creds, 0o600); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := write(serverSnippetFile, []byte(serverSnippet(abs)), 0o644); err != nil {
		return nil, err
	}
	for _, n := range runners {
		if err := write(clientSnippetFile(n), []byte(clientSnippet(abs, n)), 0o644); err != nil {
			return nil, err
		}
	}
	return written, nil
}

// loadAccountKey reads the account's seed from a bootstrap directory.
func loadAccountKey(dir string) (nkeys.KeyPair, error) {
	p := filepath.Join(dir, keysDir, accountSeedFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s not found: run `jetcron acl bootstrap -dir %s` first (or give the -dir it wrote)", p, dir)
	}
	if err != nil {
		return nil, err
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(data))))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if pub, _ := kp.PublicKey(); !nkeys.IsValidPublicAccountKey(pub) {
		return nil, fmt.Errorf("%s: not an account key", p)
	}
	return kp, nil
}

// serverSnippet is the config every server adds.
func serverSnippet(dir string) string {
	return fmt.Sprintf(`# Written by jetcron acl bootstrap: add it to every server's config
# (jetcron agent -config base.yaml -config server.yaml -config %[1]s).
acl:
  enabled: true
  operator_file: %[2]s
  system_account_file: %[3]s
  account_file: %[4]s
nats:
  creds: %[5]s   # this server's own identity
`, serverSnippetFile, filepath.Join(dir, operatorJWTFile), filepath.Join(dir, systemAccountJWTFile),
		filepath.Join(dir, accountJWTFile), filepath.Join(dir, credsFile(roleServer, "")))
}

// clientSnippet is the config of the runner host node.
func clientSnippet(dir, node string) string {
	name := ""
	if node != anyNode {
		name = "name: " + node + "   # the runner credentials below are this node's only\n"
	}
	return fmt.Sprintf(`# Written by jetcron acl bootstrap: add it to the runner host's config
# (jetcron agent -config base.yaml -config client.yaml -config %s).
%snats:
  creds: %s
`, clientSnippetFile(node), name, filepath.Join(dir, credsFile(roleRunner, node)))
}

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
		if n == "" || (n != anyNode && strings.ContainsAny(n, " \t\r\n")) {
			fmt.Fprintf(stderr, "Error: -runner %q is not a node name\n", n)
			return exitUsage
		}
	}
	written, err := bootstrapACL(*dir, runners, *force)
	if err != nil {
		return fail(stderr, err)
	}
	abs, _ := filepath.Abs(*dir)
	fmt.Fprintf(stdout, "Wrote in %s:\n", abs)
	for _, w := range written {
		fmt.Fprintf(stdout, "  %s\n", w)
	}
	admin := filepath.Join(abs, credsFile(roleAdmin, ""))
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
`, filepath.Join(abs, serverSnippetFile), abs, admin)
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
	kp, err := loadAccountKey(*dir)
	if err != nil {
		return fail(stderr, err)
	}
	creds, err := mintCreds(kp, *role, *node)
	if err != nil {
		return fail(stderr, err)
	}
	path := *out
	if path == "" {
		path = filepath.Join(*dir, credsFile(*role, *node))
	}
	if err := atomicfile.Write(path, creds, 0o600); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Wrote %s (%s). Use it as nats.creds in the agent's config, or with -creds / nats --creds.\n", path, userName(*role, *node))
	return exitOK
}

// revokeUser adds the user of a credentials file (or a public user key) to the
// account's revocations and re-signs the account JWT in dir. The servers refuse the
// user once they load the new account.jwt (restart them one at a time).
func revokeUser(dir, who string) (string, error) {
	pub := who
	if !nkeys.IsValidPublicUserKey(who) {
		id, err := readIdentity(who)
		if err != nil {
			return "", fmt.Errorf("%s is neither a user's public key nor a credentials file: %w", who, err)
		}
		pub = id.public
	}
	opSeed, err := os.ReadFile(filepath.Join(dir, keysDir, operatorSeedFile))
	if err != nil {
		return "", fmt.Errorf("the operator key: %w", err)
	}
	op, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(opSeed))))
	if err != nil {
		return "", fmt.Errorf("the operator key: %w", err)
	}
	accPath := filepath.Join(dir, accountJWTFile)
	data, err := os.ReadFile(accPath)
	if err != nil {
		return "", err
	}
	ac, err := jwt.DecodeAccountClaims(strings.TrimSpace(string(data)))
	if err != nil {
		return "", fmt.Errorf("%s: %w", accPath, err)
	}
	ac.Revoke(pub)
	token, err := ac.Encode(op)
	if err != nil {
		return "", fmt.Errorf("sign the account: %w", err)
	}
	if err := atomicfile.Write(accPath, []byte(token+"\n"), 0o644); err != nil {
		return "", err
	}
	return pub, nil
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
	pub, err := revokeUser(*dir, pos[0])
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Revoked user %s in %s. Copy it to every server and restart them one at a time.\n",
		pub, filepath.Join(*dir, accountJWTFile))
	return exitOK
}
