package configs

import (
	"bytes"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestExamplesLoad(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		o     Overrides
		check func(t *testing.T, c *Config)
	}{
		{
			name:  "a server",
			paths: []string{"base.yaml", "server.yaml"},
			check: func(t *testing.T, c *Config) {
				if !c.Server.Enabled || c.Client.Enabled || c.Server.BootstrapExpect != 3 || c.LogLevel != "DEBUG" || c.DataDir != "/var/lib/jetcron" {
					t.Errorf("config = %+v, want a DEBUG server expecting 3 in /var/lib/jetcron", c)
				}
				if got, want := c.ServerJoinAddrs(), []string{"172.17.5.129:6222"}; !reflect.DeepEqual(got, want) {
					t.Errorf("ServerJoinAddrs() = %q, want %q", got, want)
				}
			},
		},
		{
			name:  "a client",
			paths: []string{"base.yaml", "client.yaml"},
			check: func(t *testing.T, c *Config) {
				if c.Server.Enabled || !c.Client.Enabled || c.Client.Options["driver.raw_exec.enable"] != "1" {
					t.Errorf("config = %+v, want a client with raw_exec", c)
				}
				want := []string{"nats://172.17.5.129:4222", "nats://172.17.5.127:4222", "nats://172.17.5.126:4222"}
				if got := c.ClientServerURLs(); !reflect.DeepEqual(got, want) {
					t.Errorf("ClientServerURLs() = %q, want %q", got, want)
				}
			},
		},
		{
			name:  "one process",
			paths: []string{"dev.yaml"},
			check: func(t *testing.T, c *Config) {
				if !c.Server.Enabled || !c.Client.Enabled || c.BindAddr != "127.0.0.1" {
					t.Errorf("config = %+v, want server and client on 127.0.0.1", c)
				}
				if got, want := c.ClientServerURLs(), []string{"nats://127.0.0.1:4222"}; !reflect.DeepEqual(got, want) {
					t.Errorf("ClientServerURLs() = %q, want %q", got, want)
				}
			},
		},
		{
			name:  "one process in dev mode",
			paths: []string{"dev.yaml"},
			o:     Overrides{Dev: true},
			check: func(t *testing.T, c *Config) {
				if !c.Server.Enabled || !c.Client.Enabled || c.DataDir != "/tmp/jetcron-dev" {
					t.Errorf("config = %+v, want server and client in /tmp/jetcron-dev", c)
				}
			},
		},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadFS(Examples, tt.paths, tt.o)
			if err != nil {
				t.Fatalf("LoadFS(%q): %v", tt.paths, err)
			}
			tt.check(t, c)
		})
		for _, p := range tt.paths {
			covered[p] = true
		}
	}

	configs, err := fs.Glob(Examples, "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range configs {
		if !covered[name] {
			t.Errorf("example %s is loaded by no test", name)
		}
	}
}

// job is the part of the job file format (DESIGN.md) that hello.yaml uses.
type job struct {
	Name        string   `yaml:"name"`
	Datacenters []string `yaml:"datacenters"`
	Type        string   `yaml:"type"`
	Constraints []any    `yaml:"constraints"`
	Periodic    struct {
		Cron string `yaml:"cron"`
	} `yaml:"periodic"`
	Task struct {
		Name   string `yaml:"name"`
		Driver string `yaml:"driver"`
		Config struct {
			Command string   `yaml:"command"`
			Args    []string `yaml:"args"`
		} `yaml:"config"`
	} `yaml:"task"`
}

func TestExampleJobs(t *testing.T) {
	jobs, err := fs.Glob(Examples, "jobs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(jobs, []string{"jobs/hello.yaml"}) {
		t.Fatalf("example jobs = %q, want only jobs/hello.yaml, which this test checks", jobs)
	}
	data, err := fs.ReadFile(Examples, jobs[0])
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var j job
	if err := dec.Decode(&j); err != nil {
		t.Fatalf("decode %s: %v", jobs[0], err)
	}
	if want := path.Base(jobs[0]); j.Name+".yaml" != want {
		t.Errorf("name = %q, want it to match the file name %s", j.Name, want)
	}
	if !slices.Equal(j.Datacenters, []string{"dc1"}) || len(j.Constraints) != 0 || j.Type != "batch" {
		t.Errorf("job = %+v, want a batch job in [dc1] with no constraints", j)
	}
	if j.Periodic.Cron != "@every 5s" {
		t.Errorf("periodic.cron = %q, want @every 5s", j.Periodic.Cron)
	}
	c := j.Task.Config
	if j.Task.Driver != "raw_exec" || c.Command != "/bin/echo" || !slices.Equal(c.Args, []string{"hello from", "${node.unique.name}"}) {
		t.Errorf("task = %+v, want raw_exec /bin/echo \"hello from\" ${node.unique.name}", j.Task)
	}
}
