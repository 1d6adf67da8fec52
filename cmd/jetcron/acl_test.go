package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jetcron/jetcron/acl"
)

func TestACLCommands(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if code := run([]string{"acl", "bootstrap", "-dir", dir, "-runner", "web-1"}, &out, &errOut); code != exitOK {
		t.Fatalf("acl bootstrap: %d %s", code, errOut.String())
	}
	for _, want := range []string{"admin.creds", "runner-web-1.creds", "nats --creds " + filepath.Join(dir, "admin.creds"),
		"nats context save jetcron-admin", "jetcron acl creds create"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("acl bootstrap output lacks %q:\n%s", want, out.String())
		}
	}
	errOut.Reset()
	if code := run([]string{"acl", "bootstrap"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "-dir is required") {
		t.Errorf("acl bootstrap without -dir: %d %s", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"acl", "creds", "create", "-dir", dir, "-role", "runner", "-node", "web-2"}, &out, &errOut); code != exitOK {
		t.Fatalf("acl creds create: %d %s", code, errOut.String())
	}
	if id, err := acl.ReadIdentity(filepath.Join(dir, "runner-web-2.creds")); err != nil || id.Node != "web-2" {
		t.Errorf("runner-web-2.creds: %+v %v", id, err)
	}
	errOut.Reset()
	if code := run([]string{"acl", "creds", "create", "-dir", dir, "-role", "runner"}, &out, &errOut); code != exitError || !strings.Contains(errOut.String(), "-node NAME") {
		t.Errorf("a runner without -node: %d %s", code, errOut.String())
	}
	lost := filepath.Join(dir, "runner-web-2.creds")
	id, err := acl.ReadIdentity(lost)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run([]string{"acl", "creds", "revoke", "-dir", dir, lost}, &out, &errOut); code != exitOK ||
		out.String() != "Revoked user "+id.Public+" in "+filepath.Join(dir, "account.jwt")+". Copy it to every server and restart them one at a time.\n" {
		t.Errorf("acl creds revoke: %d %q %s", code, out.String(), errOut.String())
	}
}
