package acl

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"

	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/subjects"
)

func TestPermissionsFollowTheLayout(t *testing.T) {
	// Every stream jetcron makes can be made by the servers, and read by the reader.
	p := permissions(RoleServer, "")
	for _, st := range streamNames() {
		if !slices.Contains(p.Pub.Allow, "$JS.API.STREAM.CREATE."+st) {
			t.Errorf("server may not create stream %s", st)
		}
	}
	// Nobody but admin writes jobs or nodes (a runner only its own node's record).
	for _, role := range []string{RoleServer, RoleReader, RoleRunner} {
		for _, s := range permissions(role, "web-1").Pub.Allow {
			if strings.HasPrefix(s, "$KV.jobs.") || s == ">" || s == "$KV.>" || s == "$KV.nodes.>" {
				t.Errorf("%s may publish %s", role, s)
			}
		}
	}
	r := permissions(RoleRunner, "web.1")
	for _, want := range []string{
		"$KV.nodes.web=2E1",
		"$JS.API.CONSUMER.CREATE.runs.runner-web=2E1.runs.launch.web=2E1.>",
		"$JS.API.CONSUMER.MSG.NEXT.runs.runner-web=2E1",
	} {
		if !slices.Contains(r.Pub.Allow, want) {
			t.Errorf("runner web.1 may not publish %s: %q", want, r.Pub.Allow)
		}
	}
	if !slices.Equal(r.Sub.Allow, []string{"_INBOX_runner_web=2E1.>"}) {
		t.Errorf("runner subscribes to %q, want only its own inbox", r.Sub.Allow)
	}
	// Live output: a runner publishes that of runs without a node and of its own
	// node's sysbatch runs; readers and servers follow it; nobody else publishes it.
	for _, want := range []string{"jetcron.output.*.*", "jetcron.output.*.*.web=2E1"} {
		if !slices.Contains(r.Pub.Allow, want) {
			t.Errorf("runner web.1 may not publish %s", want)
		}
	}
	if slices.Contains(r.Pub.Allow, subjects.OutputFilter) {
		t.Errorf("runner web.1 may publish every run's live output")
	}
	if anyNode := permissions(RoleRunner, AnyNode); !slices.Contains(anyNode.Pub.Allow, subjects.OutputFilter) {
		t.Errorf("a runner of any node may not publish live output: %q", anyNode.Pub.Allow)
	}
	for _, role := range []string{RoleServer, RoleReader} {
		p := permissions(role, "")
		if !slices.Contains(p.Sub.Allow, subjects.OutputFilter) {
			t.Errorf("%s may not follow live output: %q", role, p.Sub.Allow)
		}
		for _, s := range p.Pub.Allow {
			if strings.HasPrefix(s, "jetcron.output") || s == "jetcron.>" {
				t.Errorf("%s may publish live output: %s", role, s)
			}
		}
	}
	if a := permissions(RoleAdmin, ""); !slices.Equal(a.Pub.Allow, []string{">"}) {
		t.Errorf("admin publishes %q", a.Pub.Allow)
	}
}

func TestBootstrapWritesCredsPerRole(t *testing.T) {
	dir := t.TempDir()
	written, err := Bootstrap(dir, []string{"web-1", AnyNode}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"admin.creds", "server.creds", "reader.creds", "runner-web-1.creds", "runner.creds",
		"operator.jwt", "account.jwt", "system-account.jwt", "keys/account.nk", "server-acl.yaml", "client-acl-web-1.yaml"} {
		if !slices.Contains(written, want) {
			t.Errorf("bootstrap did not write %s: %q", want, written)
		}
	}
	for _, secret := range []string{"admin.creds", "keys/account.nk", "keys/operator.nk"} {
		fi, err := os.Stat(filepath.Join(dir, secret))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", secret, err, fi.Mode().Perm())
		}
	}
	id, err := ReadIdentity(filepath.Join(dir, "runner-web-1.creds"))
	if err != nil || id.Role != RoleRunner || id.Node != "web-1" || id.Inbox != "_INBOX_runner_web-1" {
		t.Errorf("runner-web-1.creds: %+v, %v", id, err)
	}
	// A second bootstrap would lock everyone out: refused without -force.
	if _, err := Bootstrap(dir, nil, false); err == nil || !strings.Contains(err.Error(), "already holds credentials") {
		t.Errorf("second bootstrap: %v", err)
	}
	// More credentials from the same account key.
	kp, err := loadAccountKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := mintCreds(kp, RoleRunner, "db-1")
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		t.Fatal(err)
	}
	uc, err := jwt.DecodeUserClaims(token)
	accPub, _ := kp.PublicKey()
	if err != nil || uc.Issuer != accPub || uc.Name != "jetcron-runner:db-1" {
		t.Errorf("minted %+v, %v", uc, err)
	}
	if _, err := mintCreds(kp, RoleRunner, ""); err == nil {
		t.Error("a runner without a node was minted")
	}
	if _, err := mintCreds(kp, "root", ""); err == nil {
		t.Error("an unknown role was minted")
	}
	// The server snippet completes a single server's config.
	base := filepath.Join(t.TempDir(), "server.yaml")
	if err := os.WriteFile(base, []byte("data_dir: /d\nname: s1\nserver: {enabled: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := configs.Load([]string{base}, configs.Overrides{}); err == nil || !strings.Contains(err.Error(), "jetcron acl bootstrap") {
		t.Errorf("a server without credentials: %v, want the bootstrap hint", err)
	}
	cfg, err := configs.Load([]string{base, filepath.Join(dir, ServerSnippetFile)}, configs.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ACL.Enabled || cfg.ACL.AccountFile != filepath.Join(dir, AccountJWTFile) || cfg.NATS.Creds != filepath.Join(dir, "server.creds") {
		t.Errorf("config with the snippet: %+v %+v", cfg.ACL, cfg.NATS)
	}
}
