package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// files makes an in-memory file system from names and contents.
func files(nameContent ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 0; i+1 < len(nameContent); i += 2 {
		fsys[nameContent[i]] = &fstest.MapFile{Data: []byte(nameContent[i+1])}
	}
	return fsys
}

// common is a file that makes the defaults valid: a server with a data_dir,
// a name that does not depend on the host, and no ACLs (security_test.go
// covers them).
const common = "data_dir: /data\nname: n1\nserver: {enabled: true}\nacl: {enabled: false}\n"

// want returns the configuration that common alone loads to, changed by edit.
func want(edit func(c *Config)) *Config {
	c := &Config{
		LogLevel:   "INFO",
		DataDir:    "/data",
		BindAddr:   "0.0.0.0",
		Datacenter: "dc1",
		Region:     "global",
		Name:       "n1",
		Ports:      Ports{NATS: 4222, Cluster: 6222, HTTP: 4646},
		Server: Server{
			Enabled:         true,
			BootstrapExpect: 1,
			SyncInterval:    "always",
			LockTTL:         Duration{800 * time.Millisecond},
			RunHistory:      Duration{7 * 24 * time.Hour},
			RunsPerJob:      10000,
		},
		Client: Client{
			MaxParallel:       64,
			HeartbeatInterval: Duration{time.Second},
			HeartbeatTTL:      Duration{5 * time.Second},
			ShutdownGrace:     Duration{30 * time.Second},
		},
		TLS: TLSBlock{VerifyServerHostname: true},
	}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestLoadMerges(t *testing.T) {
	tests := []struct {
		name  string
		fsys  fstest.MapFS
		paths []string
		o     Overrides
		want  *Config
	}{
		{
			name:  "defaults fill what no file sets",
			fsys:  files("common.yaml", common),
			paths: []string{"common.yaml"},
			want:  want(nil),
		},
		{
			name: "a later file's scalar replaces an earlier one's, and a flag replaces both",
			fsys: files("common.yaml", common,
				"a.yaml", "log_level: debug\nregion: r1\ndatacenter: dc2\n",
				"b.yaml", "log_level: warn\nregion: r2\n"),
			paths: []string{"common.yaml", "a.yaml", "b.yaml"},
			o:     Overrides{Region: "r3"},
			want: want(func(c *Config) {
				c.LogLevel = "WARN"
				c.Region = "r3"
				c.Datacenter = "dc2"
			}),
		},
		{
			name: "sections merge field by field",
			fsys: files("common.yaml", common,
				"a.yaml", "server: {bootstrap_expect: 3}\nports: {nats: 5222}\n",
				"b.yaml", "server: {retry_join: [s1]}\nports: {http: 0}\n"),
			paths: []string{"common.yaml", "a.yaml", "b.yaml"},
			want: want(func(c *Config) {
				c.Server.BootstrapExpect = 3
				c.Server.RetryJoin = []string{"s1"}
				c.Ports = Ports{NATS: 5222, Cluster: 6222, HTTP: 0}
			}),
		},
		{
			name: "a shutdown_grace of 0 replaces the default: the runs are killed at once",
			fsys: files("common.yaml", common,
				"a.yaml", "client: {shutdown_grace: 2m}\n",
				"b.yaml", "client: {shutdown_grace: 0s}\n"),
			paths: []string{"common.yaml", "a.yaml", "b.yaml"},
			want: want(func(c *Config) {
				c.Client.ShutdownGrace = Duration{0}
			}),
		},
		{
			name: "free-form maps merge key by key",
			fsys: files("common.yaml", common,
				"a.yaml", "client:\n  meta: {rack: r1, zone: z1}\n",
				"b.yaml", "client:\n  meta: {zone: z2, os: linux}\n"),
			paths: []string{"common.yaml", "a.yaml", "b.yaml"},
			want: want(func(c *Config) {
				c.Client.Meta = map[string]string{"rack": "r1", "zone": "z2", "os": "linux"}
			}),
		},
		{
			name: "a later list replaces an earlier one",
			fsys: files("common.yaml", common,
				"a.yaml", "server: {retry_join: [s1, s2, s3]}\nclient: {servers: [s1, s2]}\n",
				"b.yaml", "server: {retry_join: [s4]}\nclient: {servers: []}\n"),
			paths: []string{"common.yaml", "a.yaml", "b.yaml"},
			want: want(func(c *Config) {
				c.Server.RetryJoin = []string{"s4"}
				c.Client.Servers = []string{}
			}),
		},
		{
			name: "a key without a value changes nothing",
			fsys: files("common.yaml", common,
				"a.yaml", "server: {retry_join: [s1]}\nclient: {meta: {rack: r1}}\n",
				"b.yaml", "data_dir:\nserver:\nclient:\n  meta:\n    rack: ~\n"),
			paths: []string{"common.yaml", "a.yaml", "b.yaml"},
			want: want(func(c *Config) {
				c.Server.RetryJoin = []string{"s1"}
				c.Client.Meta = map[string]string{"rack": "r1"}
			}),
		},
		{
			name:  "flag lists replace file lists",
			fsys:  files("common.yaml", common, "a.yaml", "server: {retry_join: [s1, s2]}\nclient: {servers: [s1, s2]}\n"),
			paths: []string{"common.yaml", "a.yaml"},
			o:     Overrides{RetryJoin: []string{"s3"}, Servers: []string{"s4:4333"}},
			want: want(func(c *Config) {
				c.Server.RetryJoin = []string{"s3"}
				c.Client.Servers = []string{"s4:4333"}
			}),
		},
		{
			name:  "every flag applies",
			fsys:  files("common.yaml", common),
			paths: []string{"common.yaml"},
			o: Overrides{
				DataDir: "/flag", BindAddr: "10.0.0.1", Name: "on", LogLevel: "Error",
				Datacenter: "dc9", Region: "r9", NATSURL: "nats://n:4222",
			},
			want: want(func(c *Config) {
				c.DataDir = "/flag"
				c.BindAddr = "10.0.0.1"
				c.Name = "on"
				c.LogLevel = "ERROR"
				c.Datacenter = "dc9"
				c.Region = "r9"
				c.NATS.URL = "nats://n:4222"
			}),
		},
		{
			name: "dev mode needs nothing else",
			o:    Overrides{Dev: true, Name: "d"},
			want: want(func(c *Config) {
				c.DataDir = ""
				c.Name = "d"
				c.BindAddr = "127.0.0.1"
				c.Client.Enabled = true
				c.Client.Options = map[string]string{"driver.raw_exec.enable": "1", "driver.raw_exec.allow_root": "1"}
			}),
		},
		{
			name:  "files apply over dev mode's defaults",
			fsys:  files("a.yaml", "bind_addr: 10.0.0.1\nserver: {bootstrap_expect: 3}\nclient: {options: {x: y}}\n"),
			paths: []string{"a.yaml"},
			o:     Overrides{Dev: true, Name: "d"},
			want: want(func(c *Config) {
				c.DataDir = ""
				c.Name = "d"
				c.BindAddr = "10.0.0.1"
				c.Server.BootstrapExpect = 3
				c.Client.Enabled = true
				c.Client.Options = map[string]string{"driver.raw_exec.enable": "1", "driver.raw_exec.allow_root": "1", "x": "y"}
			}),
		},
		{
			name: "anchors and aliases are followed",
			fsys: files("common.yaml", common,
				"a.yaml", "client:\n  meta: &m {rack: r1}\n  options: *m\n  servers: &s [s1]\nserver:\n  retry_join: *s\n"),
			paths: []string{"common.yaml", "a.yaml"},
			want: want(func(c *Config) {
				c.Client.Meta = map[string]string{"rack": "r1"}
				c.Client.Options = map[string]string{"rack": "r1"}
				c.Client.Servers = []string{"s1"}
				c.Server.RetryJoin = []string{"s1"}
			}),
		},
		{
			name:  "empty and comment-only files change nothing",
			fsys:  files("common.yaml", common, "empty.yaml", "", "comments.yaml", "# nothing here\n"),
			paths: []string{"common.yaml", "empty.yaml", "comments.yaml"},
			want:  want(nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadFS(tt.fsys, tt.paths, tt.o)
			if err != nil {
				t.Fatalf("LoadFS: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadFS:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadFolderInLexicalOrder(t *testing.T) {
	// Each pair of files shares a key that the later one wins, which pins
	// the whole order: 1-c.yaml, 10-a.yml, 2-b.yaml, then last.yaml.
	fsys := files(
		"common.yaml", common,
		"conf.d/10-a.yml", "client: {meta: {ab: 10-a, ac: 10-a}}\n",
		"conf.d/2-b.yaml", "client: {meta: {ab: 2-b, bc: 2-b, bl: 2-b}}\n",
		"conf.d/1-c.yaml", "client: {meta: {ac: 1-c, bc: 1-c}}\n",
		"conf.d/.hidden.yaml", "not: loaded\n",
		"conf.d/notes.txt", "not: loaded\n",
		"conf.d/sub/deeper.yaml", "not: loaded\n",
		"last.yaml", "client: {meta: {bl: last}}\n",
	)
	got, err := LoadFS(fsys, []string{"common.yaml", "conf.d", "last.yaml"}, Overrides{})
	if err != nil {
		t.Fatalf("LoadFS: %v", err)
	}
	wantMeta := map[string]string{"ab": "2-b", "ac": "10-a", "bc": "2-b", "bl": "last"}
	if !reflect.DeepEqual(got.Client.Meta, wantMeta) {
		t.Errorf("client.meta = %v, want %v", got.Client.Meta, wantMeta)
	}
}

func TestLoadReadsTheOperatingSystemsFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := write("base.yaml", common)
	write("conf.d/1.yaml", "log_level: debug\n")
	write("conf.d/2.yml", "log_level: warn\n")

	got, err := Load([]string{base, filepath.Join(dir, "conf.d")}, Overrides{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.LogLevel != "WARN" || got.DataDir != "/data" {
		t.Errorf("Load = log_level %q, data_dir %q; want WARN, /data", got.LogLevel, got.DataDir)
	}

	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load([]string{base, missing}, Overrides{})
	if want := `config file "` + missing + `": no such file`; err == nil || err.Error() != want {
		t.Errorf("Load(missing) = %v, want %s", err, want)
	}
	if !errors.Is(err, ErrNoSuchFile) {
		t.Errorf("Load(missing) = %v, want errors.Is ErrNoSuchFile", err)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name  string
		fsys  fstest.MapFS
		paths []string
		o     Overrides
		want  []string
	}{
		// Each file on its own.
		{
			name:  "unknown key suggests the near one",
			fsys:  files("base.yaml", "log_level: INFO\ndata_dir: /d\ndatacentre: dc1\n"),
			paths: []string{"base.yaml"},
			want:  []string{`base.yaml:3: unknown field "datacentre", did you mean "datacenter"?`},
		},
		{
			name:  "unknown nested key names its section",
			fsys:  files("server.yaml", "server:\n  enabled: true\n  bootstrap_expected: 3\n"),
			paths: []string{"server.yaml"},
			want:  []string{`server.yaml:3: server: unknown field "bootstrap_expected", did you mean "bootstrap_expect"?`},
		},
		{
			name:  "a key with dashes suggests the underscored one",
			fsys:  files("a.yaml", "ports: {nats: 1}\ndata-dir: /d\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:2: unknown field "data-dir", did you mean "data_dir"?`},
		},
		{
			name:  "an unknown key far from any suggests nothing",
			fsys:  files("a.yaml", "colour: red\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:1: unknown field "colour"`},
		},
		{
			name:  "a word where a number goes",
			fsys:  files("server.yaml", "# servers only\nserver:\n  enabled: true\n  bootstrap_expect: three\n"),
			paths: []string{"server.yaml"},
			want:  []string{`server.yaml:4: server.bootstrap_expect: cannot use "three" as a number`},
		},
		{
			name:  "a fraction where a number goes",
			fsys:  files("a.yaml", "ports: {nats: 4222.5}\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:1: ports.nats: cannot use "4222.5" as a number`},
		},
		{
			name:  "a word where a boolean goes",
			fsys:  files("a.yaml", "server:\n  enabled: maybe\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:2: server.enabled: cannot use "maybe" as true or false`},
		},
		{
			name:  "a duration without a unit",
			fsys:  files("a.yaml", "server: {lock_ttl: 2}\nclient: {heartbeat_ttl: soon}\n"),
			paths: []string{"a.yaml"},
			want: []string{
				`a.yaml:1: server.lock_ttl: cannot use "2" as a duration like "2s"`,
				`a.yaml:2: client.heartbeat_ttl: cannot use "soon" as a duration like "2s"`,
			},
		},
		{
			name:  "a shutdown_grace that is not a duration",
			fsys:  files("a.yaml", "client:\n  shutdown_grace: a minute\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:2: client.shutdown_grace: cannot use "a minute" as a duration like "2s"`},
		},
		{
			name:  "a list where a string goes",
			fsys:  files("a.yaml", "datacenter: [dc1]\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:1: datacenter: cannot use a list as a string`},
		},
		{
			name:  "a string where a list goes",
			fsys:  files("a.yaml", "client:\n  servers: 10.0.0.1\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:2: client.servers: cannot use "10.0.0.1" as a list`},
		},
		{
			name:  "a scalar where a section goes",
			fsys:  files("a.yaml", "server: true\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:1: server: cannot use "true" as a mapping`},
		},
		{
			name:  "a list as a meta value",
			fsys:  files("a.yaml", "client:\n  meta:\n    rack: [r1]\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:3: client.meta["rack"]: cannot use a list as a string`},
		},
		{
			name:  "a word where a map goes",
			fsys:  files("a.yaml", "client:\n  meta: rack\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:2: client.meta: cannot use "rack" as a mapping`},
		},
		{
			name:  "a mapping where a number goes",
			fsys:  files("a.yaml", "ports:\n  nats: {port: 1}\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:2: ports.nats: cannot use a mapping as a number`},
		},
		{
			name:  "a list as a key",
			fsys:  files("a.yaml", "client:\n  options:\n    ? [a, b]\n    : c\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:3: client.options: cannot use a list as a key`},
		},
		{
			name:  "a file that is not a mapping",
			fsys:  files("a.yaml", "- log_level\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:1: cannot use a list as a mapping`},
		},
		{
			name:  "a key given twice",
			fsys:  files("a.yaml", "data_dir: /a\nname: n\ndata_dir: /b\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:3: duplicate field "data_dir", first on line 1`},
		},
		{
			name:  "a YAML syntax error",
			fsys:  files("a.yaml", "server:\n  enabled: true\n   bootstrap_expect: 3\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:3: mapping values are not allowed in this context`},
		},
		{
			name:  "two YAML documents in one file",
			fsys:  files("a.yaml", "name: a\n---\nname: b\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:2: a config file holds one YAML document, found a second`},
		},
		{
			name:  "a YAML syntax error in a second document",
			fsys:  files("a.yaml", "name: a\n---\nname: @b\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:3: found character that cannot start any token`},
		},
		{
			name:  "a YAML error without a line",
			fsys:  files("a.yaml", "name: \x01\n"),
			paths: []string{"a.yaml"},
			want:  []string{`config file "a.yaml": yaml: control characters are not allowed`},
		},
		{
			name:  "a missing file",
			fsys:  files("a.yaml", common),
			paths: []string{"a.yaml", "x.yaml"},
			want:  []string{`config file "x.yaml": no such file`},
		},
		{
			name:  "a folder without config files",
			fsys:  files("a.yaml", common, "conf.d/README", "read me\n"),
			paths: []string{"a.yaml", "conf.d"},
			want:  []string{`config file "conf.d": is a folder with no *.yaml or *.yml files`},
		},
		{
			name: "every file's problems, not only the first",
			fsys: files("a.yaml", "log_levle: INFO\nserver: {enabled: yes please}\n",
				"b.yaml", "ports: {http: off}\n"),
			paths: []string{"a.yaml", "nope.yaml", "b.yaml"},
			want: []string{
				`a.yaml:1: unknown field "log_levle", did you mean "log_level"?`,
				`a.yaml:2: server.enabled: cannot use "yes please" as true or false`,
				`config file "nope.yaml": no such file`,
				`b.yaml:1: ports.http: cannot use "off" as a number`,
			},
		},

		// The merged configuration.
		{
			name:  "bootstrap_expect below 1 names the file that set it",
			fsys:  files("base.yaml", common, "server.yaml", "server:\n  enabled: true\n  bootstrap_expect: 0\n"),
			paths: []string{"base.yaml", "server.yaml"},
			want:  []string{`server.yaml:3: server.bootstrap_expect: must be at least 1, got 0`},
		},
		{
			name:  "ports out of range",
			fsys:  files("a.yaml", common+"ports:\n  nats: 70000\n  cluster: 0\n  http: -1\n"),
			paths: []string{"a.yaml"},
			want: []string{
				`a.yaml:6: ports.nats: must be between 1 and 65535, got 70000`,
				`a.yaml:7: ports.cluster: must be between 1 and 65535, got 0`,
				`a.yaml:8: ports.http: must be between 0 and 65535, got -1`,
			},
		},
		{
			name:  "two ports the same",
			fsys:  files("a.yaml", common, "b.yaml", "ports: {nats: 4222, http: 4222}\n"),
			paths: []string{"a.yaml", "b.yaml"},
			want:  []string{`b.yaml:1: ports: nats and http are both 4222`},
		},
		{
			name:  "an unknown log level",
			fsys:  files("a.yaml", common+"log_level: verbose\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:5: log_level: must be one of TRACE, DEBUG, INFO, WARN, ERROR, got "verbose"`},
		},
		{
			name:  "a sync_interval that is neither always nor a positive duration",
			fsys:  files("a.yaml", common, "b.yaml", "server: {sync_interval: often}\n"),
			paths: []string{"a.yaml", "b.yaml"},
			want:  []string{`b.yaml:1: server.sync_interval: must be "always" or a positive duration like "2m", got "often"`},
		},
		{
			name:  "a negative sync_interval",
			fsys:  files("a.yaml", common, "c.yaml", "server: {sync_interval: -1s}\n"),
			paths: []string{"a.yaml", "c.yaml"},
			want:  []string{`c.yaml:1: server.sync_interval: must be "always" or a positive duration like "2m", got "-1s"`},
		},
		{
			name:  "durations out of range",
			fsys:  files("a.yaml", common, "b.yaml", "server: {lock_ttl: 100ms, run_history: 30m, runs_per_job: 5}\nclient: {heartbeat_interval: 10ms, heartbeat_ttl: 15ms}\n"),
			paths: []string{"a.yaml", "b.yaml"},
			want: []string{
				`b.yaml:1: server.lock_ttl: must be between 500ms and 1m0s, got 100ms`,
				`b.yaml:1: server.run_history: must be between 1h and 365d, got 30m0s`,
				`b.yaml:1: server.runs_per_job: must be 0 (no cap) or at least 100, got 5`,
				`b.yaml:2: client.heartbeat_interval: must be at least 100ms, got 10ms`,
				`b.yaml:2: client.heartbeat_ttl: must be more than twice client.heartbeat_interval (10ms), got 15ms`,
			},
		},
		{
			name:  "a negative shutdown_grace",
			fsys:  files("a.yaml", common, "b.yaml", "client: {shutdown_grace: -30s}\n"),
			paths: []string{"a.yaml", "b.yaml"},
			want:  []string{`b.yaml:1: client.shutdown_grace: must not be negative (0 kills the runs at once), got -30s`},
		},
		{
			name:  "a heartbeat_ttl of only twice the interval",
			fsys:  files("a.yaml", common+"client:\n  heartbeat_ttl: 2s\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:6: client.heartbeat_ttl: must be more than twice client.heartbeat_interval (1s), got 2s`},
		},
		{
			name: "client servers that are not host or host:port",
			fsys: files("a.yaml", common, "client.yaml", "client:\n  enabled: true\n  servers:\n"+
				"    - 10.0.0.1\n    - 10.0.0.2:99999\n    - 10.0.0.3:abc\n    - nats://10.0.0.4\n    - bad host\n    - \"\"\n    - \"[::1]\"\n    - ::1\n    - \"[::1]:4333\"\n"),
			paths: []string{"a.yaml", "client.yaml"},
			want: []string{
				`client.yaml:5: client.servers[1]: "10.0.0.2:99999": port must be between 1 and 65535, got 99999`,
				`client.yaml:6: client.servers[2]: "10.0.0.3:abc": port "abc" is not a number`,
				`client.yaml:7: client.servers[3]: "nats://10.0.0.4": want host or host:port, not a URL`,
				`client.yaml:8: client.servers[4]: "bad host": not a host name or IP address`,
				`client.yaml:9: client.servers[5]: "": empty host`,
				`client.yaml:10: client.servers[6]: "[::1]": missing port in address`,
			},
		},
		{
			name:  "retry_join entries that are not host or host:port",
			fsys:  files("a.yaml", common, "b.yaml", "server: {retry_join: [\"s1:0\", \"s2:\"]}\n"),
			paths: []string{"a.yaml", "b.yaml"},
			want: []string{
				`b.yaml:1: server.retry_join[0]: "s1:0": port must be between 1 and 65535, got 0`,
				`b.yaml:1: server.retry_join[1]: "s2:": port "" is not a number`,
			},
		},
		{
			name:  "a client with nowhere to connect",
			fsys:  files("a.yaml", "data_dir: /d\nname: n\nclient:\n  enabled: true\n"),
			paths: []string{"a.yaml"},
			want:  []string{`client.servers: a client needs at least one server (or nats.url)`},
		},
		{
			name:  "neither role enabled",
			fsys:  files("a.yaml", "data_dir: /d\nname: n\n"),
			paths: []string{"a.yaml"},
			want:  []string{`neither server.enabled nor client.enabled is true: enable one or both (or run in dev mode)`},
		},
		{
			name:  "no data_dir outside dev mode",
			fsys:  files("a.yaml", "name: n\nserver: {enabled: true}\nacl: {enabled: false}\n"),
			paths: []string{"a.yaml"},
			want:  []string{`data_dir: must be set outside dev mode`},
		},
		{
			name:  "a relative data_dir, even in dev mode",
			fsys:  files("a.yaml", "data_dir: var/lib/jetcron\n"),
			paths: []string{"a.yaml"},
			o:     Overrides{Dev: true, Name: "d"},
			want:  []string{`a.yaml:1: data_dir: must be an absolute path, got "var/lib/jetcron"`},
		},
		{
			name:  "a bad flag names no file",
			fsys:  files("a.yaml", common+"bind_addr: 10.0.0.1\n"),
			paths: []string{"a.yaml"},
			o:     Overrides{BindAddr: "not valid!", Servers: []string{"s1:0"}},
			want: []string{
				`bind_addr: "not valid!": not a host name or IP address`,
				`client.servers[0]: "s1:0": port must be between 1 and 65535, got 0`,
			},
		},
		{
			name:  "names NATS cannot use",
			fsys:  files("a.yaml", "data_dir: /d\nserver: {enabled: true}\nname: my node\nregion: \"\"\nacl: {enabled: false}\n"),
			paths: []string{"a.yaml"},
			want: []string{
				`a.yaml:4: region: must not be empty`,
				`a.yaml:3: name: "my node": must not contain spaces`,
			},
		},
		{
			name:  "debug endpoints with the http port off",
			fsys:  files("a.yaml", common+"enable_debug: true\nports: {http: 0}\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:5: enable_debug: needs the http port, but ports.http is 0 (off)`},
		},
		{
			name:  "max_parallel out of range",
			fsys:  files("a.yaml", common+"client: {max_parallel: 0}\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:5: client.max_parallel: must be between 1 and 10000, got 0`},
		},
		{
			name:  "bad NATS URLs and half a TLS pair",
			fsys:  files("a.yaml", common+"nats:\n  url: \"nats://ok:4222, http://web, 10.0.0.1:4222, nats://\"\n  tls: {cert: c.pem}\n"),
			paths: []string{"a.yaml"},
			want: []string{
				`a.yaml:6: nats.url: "http://web": scheme "http": want nats, tls, ws or wss`,
				`a.yaml:6: nats.url: "10.0.0.1:4222": want a URL like nats://host:4222: first path segment in URL cannot contain colon`,
				`a.yaml:6: nats.url: "nats://": no host`,
				`a.yaml:7: nats.tls.cert: needs nats.tls.key too`,
			},
		},
		{
			name:  "a TLS key without its certificate",
			fsys:  files("a.yaml", common+"nats:\n  tls: {key: k.pem}\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:6: nats.tls.key: needs nats.tls.cert too`},
		},
		{
			name:  "a NATS URL list with no URL",
			fsys:  files("a.yaml", common+"nats: {url: \" , \"}\n"),
			paths: []string{"a.yaml"},
			want:  []string{`a.yaml:5: nats.url: no URL in " , "`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadFS(tt.fsys, tt.paths, tt.o)
			if err == nil {
				t.Fatalf("LoadFS = %+v, want errors:\n%s", got, strings.Join(tt.want, "\n"))
			}
			if lines := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(lines, tt.want) {
				t.Errorf("LoadFS errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLoadErrorsAreFieldErrors(t *testing.T) {
	fsys := files("server.yaml", "server:\n  enabled: true\n  bootstrap_expect: three\n")
	_, err := LoadFS(fsys, []string{"server.yaml"}, Overrides{})
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("LoadFS = %v, want a *FieldError", err)
	}
	if fe.File != "server.yaml" || fe.Line != 3 || fe.Field != "server.bootstrap_expect" {
		t.Errorf("FieldError = %q line %d field %q, want server.yaml line 3 field server.bootstrap_expect", fe.File, fe.Line, fe.Field)
	}

	_, err = LoadFS(files("conf.d/x.txt", ""), []string{"conf.d"}, Overrides{})
	if !errors.Is(err, ErrEmptyFolder) {
		t.Errorf("LoadFS(empty folder) = %v, want errors.Is ErrEmptyFolder", err)
	}
}
