// Package acl makes and reads the credentials of jetcron's users: an operator and
// jetcron's account (NATS decentralized authentication), and one user JWT per role
// whose permissions the NATS servers enforce. `jetcron acl` writes them; the agent
// and the commands read back a credentials file's role and inbox.
package acl

import (
	"errors"
	"fmt"
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

// Files Bootstrap writes in its directory. The JWTs are public (every server loads
// them); keys/ holds the secrets that sign new credentials and should stay off the
// servers; each .creds file is one user's identity.
const (
	OperatorJWTFile      = "operator.jwt"
	SystemAccountJWTFile = "system-account.jwt"
	AccountJWTFile       = "account.jwt"
	// ServerSnippetFile is the config every server adds to use the credentials.
	ServerSnippetFile = "server-acl.yaml"
	keysDir           = "keys"
	operatorSeedFile  = "operator.nk"
	systemSeedFile    = "system-account.nk"
	accountSeedFile   = "account.nk"
	// operatorName and accountName name the operator and jetcron's account in their
	// JWTs (and in `nats` output).
	operatorName = "jetcron"
	accountName  = "jetcron"
	systemName   = "SYS"
)

// userNamePrefix starts the name of every user JWT jetcron makes; the role and the
// node follow: "jetcron-runner:web-1".
const userNamePrefix = "jetcron-"

// CredsFile is the name of a role's credentials file: admin.creds, runner-web-1.creds.
func CredsFile(role, node string) string {
	switch {
	case role == RoleRunner && node == AnyNode:
		return "runner.creds"
	case node != "":
		return role + "-" + subjects.Token(node) + ".creds"
	default:
		return role + ".creds"
	}
}

// ClientSnippetFile is the name of the config snippet of the runner host node.
func ClientSnippetFile(node string) string {
	if node == AnyNode {
		return "client-acl.yaml"
	}
	return "client-acl-" + subjects.Token(node) + ".yaml"
}

// Identity is what jetcron reads back from a credentials file it made.
type Identity struct {
	// Role and Node are the user's (Node for a runner, or a server that is also a
	// runner); both are empty for credentials jetcron did not make.
	Role, Node string
	// Inbox is the inbox prefix the user's permissions allow its connections:
	// subjects.DefaultInboxPrefix, or one of the user's own that it must connect with.
	Inbox string
	// Public is the user's public nkey, which revocations name.
	Public string
}

// UserName is the name of the user JWT: "jetcron-admin", "jetcron-runner:web-1".
func UserName(role, node string) string {
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
	case role == RoleRunner && node == "":
		return nil, errors.New("a runner's credentials name its node: -node NAME (or -node '*' for any node, which cannot be restricted to one node's launches)")
	case role != RoleRunner && role != RoleServer && node != "":
		return nil, fmt.Errorf("-node is for the runner and server roles, not %s", role)
	case role == RoleServer && node == AnyNode:
		return nil, errors.New("a server that is also a runner names its node")
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("make a user key: %w", err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	uc := jwt.NewUserClaims(pub)
	uc.Name = UserName(role, node)
	uc.Permissions = permissions(role, node)
	token, err := uc.Encode(account)
	if err != nil {
		return nil, fmt.Errorf("sign the %s user: %w", role, err)
	}
	return jwt.FormatUserConfig(token, seed)
}

// ReadIdentity reads a credentials file's user JWT.
func ReadIdentity(path string) (*Identity, error) {
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
	id := &Identity{Public: uc.Subject, Inbox: subjects.DefaultInboxPrefix}
	if rest, ok := strings.CutPrefix(uc.Name, userNamePrefix); ok {
		id.Role, id.Node, _ = strings.Cut(rest, ":")
	}
	for _, s := range uc.Sub.Allow {
		if p, ok := strings.CutSuffix(s, ".>"); ok && strings.HasPrefix(p, subjects.DefaultInboxPrefix) && !strings.ContainsAny(p, "*>.") {
			id.Inbox = p
			break
		}
	}
	return id, nil
}

// CreateCreds makes one more credentials file of role (and node, see Bootstrap),
// signed with the account key of the bootstrap in dir, and writes it to out, or to
// dir/CredsFile(role, node) when out is "". It returns the path written.
func CreateCreds(dir, role, node, out string) (string, error) {
	kp, err := loadAccountKey(dir)
	if err != nil {
		return "", err
	}
	creds, err := mintCreds(kp, role, node)
	if err != nil {
		return "", err
	}
	path := out
	if path == "" {
		path = filepath.Join(dir, CredsFile(role, node))
	}
	if err := atomicfile.Write(path, creds, 0o600); err != nil {
		return "", err
	}
	return path, nil
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

// Revoke adds the user of a credentials file (or a public user key) to the
// account's revocations and re-signs the account JWT in dir, and returns the user's
// public key. The servers refuse the user once they load the new account.jwt
// (restart them one at a time).
func Revoke(dir, who string) (string, error) {
	pub := who
	if !nkeys.IsValidPublicUserKey(who) {
		id, err := ReadIdentity(who)
		if err != nil {
			return "", fmt.Errorf("%s is neither a user's public key nor a credentials file: %w", who, err)
		}
		pub = id.Public
	}
	opSeed, err := os.ReadFile(filepath.Join(dir, keysDir, operatorSeedFile))
	if err != nil {
		return "", fmt.Errorf("the operator key: %w", err)
	}
	op, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(opSeed))))
	if err != nil {
		return "", fmt.Errorf("the operator key: %w", err)
	}
	accPath := filepath.Join(dir, AccountJWTFile)
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
