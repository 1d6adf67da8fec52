package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/acl"
	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/internal/securetest"
	"github.com/jetcron/jetcron/subjects"
)

// writeConfig writes a config file and returns its path.
func writeConfig(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A secure cluster of agents as the README's walk-through makes it: three servers and
// a runner host, each with its own credentials, TLS on the client port and mutual TLS
// on the routes. A job defined with the admin's credentials runs on the runner, a
// force request is answered, the runner's /v1/health is 200, and no agent is refused
// anything it does.
func TestSecureAgentsRunJobsWithoutPermissionViolations(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts agents")
	}
	s := securetest.New(t, "global", "web-1")
	ports, err := embedtest.FreePorts(7)
	if err != nil {
		t.Fatal(err)
	}
	var join, servers []string
	for i := range 3 {
		servers = append(servers, fmt.Sprintf("127.0.0.1:%d", ports[2*i]))
		join = append(join, fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]))
	}
	quoted, _ := json.Marshal(join)
	tb := s.TLSBlock("server")
	var logs []*embedtest.LogBuffer
	for i := range 3 {
		dir := t.TempDir()
		base := writeConfig(t, dir, "server.yaml", fmt.Sprintf(`data_dir: %s
name: s%d
bind_addr: 127.0.0.1
ports: {nats: %d, cluster: %d, http: 0}
server: {enabled: true, bootstrap_expect: 3, retry_join: %s}
tls: {ca_file: %s, cert_file: %s, key_file: %s}
`, filepath.Join(dir, "data"), i+1, ports[2*i], ports[2*i+1], quoted, tb.CAFile, tb.CertFile, tb.KeyFile))
		cfg, err := configs.Load([]string{base, filepath.Join(s.ACLDir, acl.ServerSnippetFile)}, configs.Overrides{})
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, startAgent(t, cfg))
	}
	dir := t.TempDir()
	quoted, _ = json.Marshal(servers)
	base := writeConfig(t, dir, "client.yaml", fmt.Sprintf(`data_dir: %s
bind_addr: 127.0.0.1
ports: {http: %d}
client:
  enabled: true
  servers: %s
  heartbeat_interval: 200ms
  heartbeat_ttl: 2s
  options: {driver.raw_exec.enable: "1", driver.raw_exec.allow_root: "1"}
tls: {ca_file: %s}
`, filepath.Join(dir, "data"), ports[6], quoted, tb.CAFile))
	cfg, err := configs.Load([]string{base, filepath.Join(s.ACLDir, acl.ClientSnippetFile("web-1"))}, configs.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "web-1" {
		t.Fatalf("the client snippet names node %q, want web-1", cfg.Name)
	}
	logs = append(logs, startAgent(t, cfg))

	// The admin defines a job, as with `nats --creds admin.creds kv put jobs`.
	var nc *nats.Conn
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		nc, err = nats.Connect(strings.Join(cfg.ClientServerURLs(), ","), nats.UserCredentials(s.Creds("admin.creds")),
			nats.Secure(s.ClientTLS(t)), nats.MaxReconnects(-1))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin connect: %v", err)
		}
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// eventually retries try, each attempt bounded: a JetStream request sent while the
	// cluster elects a leader can go unanswered, and would otherwise wait out ctx.
	eventually := func(what string, try func(context.Context) error) {
		t.Helper()
		for {
			tryCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := try(tryCtx)
			cancel()
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: %v", what, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The agents may still be provisioning the buckets after jobs.
	bucket := func(name string) (kv jetstream.KeyValue) {
		t.Helper()
		eventually("bucket "+name, func(ctx context.Context) (err error) {
			kv, err = js.KeyValue(ctx, name)
			return err
		})
		return kv
	}
	jobs := bucket(subjects.JobsBucket)
	spec := "periodic: {cron: \"@every 1s\"}\ntask: {config: {command: /bin/echo, args: [\"; rm -rf /\"]}}\n"
	eventually("put job", func(ctx context.Context) error {
		_, err := jobs.Put(ctx, "tick", []byte(spec))
		return err
	})
	runs, logsKV := bucket(subjects.RunStateBucket), bucket(subjects.LogsBucket)
	var output string
	eventually("two runs complete on web-1", func(ctx context.Context) error {
		l, err := runs.ListKeys(ctx)
		if err != nil {
			return err
		}
		complete := 0
		for k := range l.Keys() {
			e, err := runs.Get(ctx, k)
			if err != nil {
				continue
			}
			var r subjects.Run
			if json.Unmarshal(e.Value(), &r) == nil && r.State == subjects.StateComplete && r.Current().Node == "web-1" {
				complete++
				if o, err := logsKV.Get(ctx, k); err == nil {
					output = string(o.Value())
				}
			}
		}
		if complete < 2 {
			return fmt.Errorf("%d complete", complete)
		}
		return nil
	})
	if output != "; rm -rf /\n" {
		t.Errorf("output %q, want the argument echoed literally", output)
	}
	// The lock holder answers a force request from the admin.
	eventually("put job yearly", func(ctx context.Context) error {
		_, err := jobs.Put(ctx, "yearly", []byte(strings.Replace(spec, "@every 1s", "@yearly", 1)))
		return err
	})
	var reply subjects.ForceReply
	eventually("force yearly", func(ctx context.Context) error {
		msg, err := nc.RequestWithContext(ctx, subjects.ForceSubject("yearly"), nil)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(msg.Data, &reply); err != nil {
			t.Fatalf("force reply %q: %v", msg.Data, err)
		}
		if reply.RunID == "" {
			return fmt.Errorf("force reply %q", msg.Data) // the ticker may not have read the job yet
		}
		return nil
	})
	// Each server's record names it by its NATS server ID, as NATS's tools do.
	serverKV := bucket(subjects.ServersBucket)
	for i := range 3 {
		var e jetstream.KeyValueEntry
		eventually("server record", func(ctx context.Context) (err error) {
			e, err = serverKV.Get(ctx, fmt.Sprintf("s%d", i+1))
			return err
		})
		var m subjects.Member
		if err := json.Unmarshal(e.Value(), &m); err != nil || !strings.HasPrefix(m.ID, "N") || len(m.ID) != 56 {
			t.Errorf("server s%d's record: %v, ID %q, want its NATS server ID", i+1, err, m.ID)
		}
	}
	// The runner host is healthy, reading no more than its credentials allow.
	if code, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/v1/health", ports[6])); code != http.StatusOK {
		t.Errorf("runner's /v1/health: %d %s", code, body)
	}
	time.Sleep(6 * time.Second) // a few step-down rounds and heartbeats
	for i, l := range logs {
		if out := l.String(); strings.Contains(out, "ermission") || strings.Contains(out, "nats error") {
			t.Errorf("agent %d was refused something:\n%s", i, out)
		}
	}
}

func TestWarnInsecure(t *testing.T) {
	dev, err := configs.Load(nil, configs.Overrides{Dev: true, Name: "d"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*configs.Config)
		dev  bool
		want string // "" for no warning
	}{
		{"dev mode", func(*configs.Config) {}, true, "WARNING: dev mode: no authentication and no TLS"},
		{"acl off", func(c *configs.Config) { c.ACL.Enabled = false }, false, "acl.enabled is false"},
		{"no TLS", func(c *configs.Config) { c.ACL.Enabled = true }, false, "no tls block"},
		{"a client", func(c *configs.Config) { c.Server.Enabled = false }, true, ""},
	} {
		cfg := *dev
		c.edit(&cfg)
		var w bytes.Buffer
		WarnInsecure(&cfg, c.dev, &w)
		if c.want == "" && w.Len() != 0 || !strings.Contains(w.String(), c.want) {
			t.Errorf("%s warns %q, want %q", c.name, w.String(), c.want)
		}
	}
}

func TestCheckIdentity(t *testing.T) {
	cfg := &configs.Config{Name: "web-1", Client: configs.Client{Enabled: true}}
	for _, c := range []struct {
		id  acl.Identity
		err string
	}{
		{acl.Identity{Role: acl.RoleRunner, Node: "web-1"}, ""},
		{acl.Identity{Role: acl.RoleRunner, Node: acl.AnyNode}, ""},
		{acl.Identity{Role: acl.RoleRunner, Node: "web-2"}, `node "web-2"'s credentials`},
		{acl.Identity{Role: acl.RoleReader}, "reader credentials"},
		{acl.Identity{Role: acl.RoleServer}, "server credentials may not run launches"},
		{acl.Identity{Role: acl.RoleServer, Node: "web-1"}, ""},
		{acl.Identity{}, ""}, // credentials jetcron did not make: the servers decide
	} {
		err := checkIdentity(cfg, &c.id)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%+v: %v, want %q", c.id, err, c.err)
		}
	}
}

func TestRunnerOptionsRefuseRootByDefault(t *testing.T) {
	if got := runnerOptions(map[string]string{"driver.raw_exec.enable": "1"}); got["driver.raw_exec.allow_root"] != "0" {
		t.Errorf("runner options %v: root allowed by default", got)
	}
	if got := runnerOptions(map[string]string{"driver.raw_exec.allow_root": "1"}); got["driver.raw_exec.allow_root"] != "1" {
		t.Errorf("runner options %v: the config's choice was not kept", got)
	}
}
