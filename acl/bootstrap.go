package acl

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/jetcron/jetcron/internal/atomicfile"
)

// keys are the secrets of a bootstrap: the operator's, the system account's and
// jetcron's account's key pairs.
type keys struct {
	operator, system, account nkeys.KeyPair
}

// newKeys makes the key pairs of a new bootstrap.
func newKeys() (keys, error) {
	var k keys
	var err error
	if k.operator, err = nkeys.CreateOperator(); err != nil {
		return k, fmt.Errorf("make the operator key: %w", err)
	}
	if k.system, err = nkeys.CreateAccount(); err != nil {
		return k, fmt.Errorf("make the system account key: %w", err)
	}
	if k.account, err = nkeys.CreateAccount(); err != nil {
		return k, fmt.Errorf("make the account key: %w", err)
	}
	return k, nil
}

// jwts signs the operator's, the system account's and jetcron's account's JWTs.
func (k keys) jwts() (operator, system, account string, err error) {
	opPub, _ := k.operator.PublicKey()
	sysPub, _ := k.system.PublicKey()
	accPub, _ := k.account.PublicKey()

	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = operatorName
	oc.SystemAccount = sysPub
	if operator, err = oc.Encode(k.operator); err != nil {
		return "", "", "", fmt.Errorf("sign the operator: %w", err)
	}
	sc := jwt.NewAccountClaims(sysPub)
	sc.Name = systemName
	if system, err = sc.Encode(k.operator); err != nil {
		return "", "", "", fmt.Errorf("sign the system account: %w", err)
	}
	ac := jwt.NewAccountClaims(accPub)
	ac.Name = accountName
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1, MaxAckPending: -1}
	if account, err = ac.Encode(k.operator); err != nil {
		return "", "", "", fmt.Errorf("sign the account: %w", err)
	}
	return operator, system, account, nil
}

// Bootstrap makes an operator, a system account and jetcron's account, writes their
// JWTs and seeds in dir, and the credentials of admin, server, reader, and a runner
// per name in runners (each a node name, or AnyNode), and the config snippets that
// use them. It returns the files written, relative to dir. It refuses to overwrite
// an earlier bootstrap unless force: the new keys would lock out every agent and
// user of the old ones.
func Bootstrap(dir string, runners []string, force bool) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, OperatorJWTFile)); err == nil && !force {
		return nil, fmt.Errorf("%s already holds credentials (%s): a new bootstrap would lock out every agent and user of the old ones; "+
			"make more with `jetcron acl creds create -dir %s`, or pass -force", dir, OperatorJWTFile, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		return nil, err
	}
	k, err := newKeys()
	if err != nil {
		return nil, err
	}
	opJWT, sysJWT, accJWT, err := k.jwts()
	if err != nil {
		return nil, err
	}

	var written []string
	write := func(name string, data []byte, mode os.FileMode) error {
		if err := atomicfile.Write(filepath.Join(dir, name), data, mode); err != nil {
			return err
		}
		written = append(written, name)
		return nil
	}
	for _, f := range []struct {
		name string
		data string
	}{{OperatorJWTFile, opJWT}, {SystemAccountJWTFile, sysJWT}, {AccountJWTFile, accJWT}} {
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
	users := []user{{RoleAdmin, ""}, {RoleServer, ""}, {RoleReader, ""}}
	for _, n := range runners {
		users = append(users, user{RoleRunner, n})
	}
	for _, u := range users {
		creds, err := mintCreds(k.account, u.role, u.node)
		if err != nil {
			return nil, err
		}
		if err := write(CredsFile(u.role, u.node), creds, 0o600); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("the snippets name %s: %w", dir, err)
	}
	if err := write(ServerSnippetFile, []byte(serverSnippet(abs)), 0o644); err != nil {
		return nil, err
	}
	for _, n := range runners {
		if err := write(ClientSnippetFile(n), []byte(clientSnippet(abs, n)), 0o644); err != nil {
			return nil, err
		}
	}
	return written, nil
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
`, ServerSnippetFile, filepath.Join(dir, OperatorJWTFile), filepath.Join(dir, SystemAccountJWTFile),
		filepath.Join(dir, AccountJWTFile), filepath.Join(dir, CredsFile(RoleServer, "")))
}

// clientSnippet is the config of the runner host node.
func clientSnippet(dir, node string) string {
	name := ""
	if node != AnyNode {
		name = "name: " + node + "   # the runner credentials below are this node's only\n"
	}
	return fmt.Sprintf(`# Written by jetcron acl bootstrap: add it to the runner host's config
# (jetcron agent -config base.yaml -config client.yaml -config %s).
%snats:
  creds: %s
`, ClientSnippetFile(node), name, filepath.Join(dir, CredsFile(RoleRunner, node)))
}
