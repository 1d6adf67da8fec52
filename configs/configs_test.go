package configs

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigRoundTripsThroughYAML(t *testing.T) {
	// Every field is set, so a field whose yaml tag the checker does not
	// follow shows up as a difference.
	in := &Config{
		LogLevel:    "DEBUG",
		DataDir:     "/var/lib/jetcron",
		BindAddr:    "10.0.0.1",
		EnableDebug: true,
		Datacenter:  "dc2",
		Region:      "eu",
		Name:        "n1",
		Ports:       Ports{NATS: 5222, Cluster: 7222, HTTP: 9222},
		Server: Server{
			Enabled:         true,
			BootstrapExpect: 3,
			RetryJoin:       []string{"s1", "s2:7000"},
			SyncInterval:    "2m",
			LockTTL:         Duration{3 * time.Second},
			RunHistory:      Duration{30 * 24 * time.Hour},
			RunsPerJob:      500,
		},
		Client: Client{
			Enabled:           true,
			Servers:           []string{"s1", "s2:5000"},
			NodeClass:         "backup",
			Meta:              map[string]string{"rack": "r1"},
			Options:           map[string]string{"driver.raw_exec.enable": "1"},
			MaxParallel:       4,
			HeartbeatInterval: Duration{500 * time.Millisecond},
			HeartbeatTTL:      Duration{3 * time.Second},
			ShutdownGrace:     Duration{45 * time.Second},
		},
		NATS: NATS{
			URL:   "nats://a:4222,nats://b:4222",
			Creds: "/etc/jetcron/user.creds",
			TLS:   TLS{CA: "ca.pem", Cert: "cert.pem", Key: "key.pem"},
		},
	}
	data, err := yaml.Marshal(in)
	if err != nil {
		t.Fatalf("yaml.Marshal: %v", err)
	}
	out, err := LoadFS(files("all.yaml", string(data)), []string{"all.yaml"}, Overrides{})
	if err != nil {
		t.Fatalf("LoadFS(%s): %v", data, err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip through\n%s\n got %+v\nwant %+v", data, out, in)
	}
}

func TestDurationReadsGoDurations(t *testing.T) {
	tests := []struct {
		yaml    string
		want    time.Duration
		wantErr bool
	}{
		{yaml: "2s", want: 2 * time.Second},
		{yaml: "1m30s", want: 90 * time.Second},
		{yaml: "500ms", want: 500 * time.Millisecond},
		{yaml: "2", wantErr: true},
		{yaml: "[2s]", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			var d Duration
			err := yaml.Unmarshal([]byte(tt.yaml), &d)
			if (err != nil) != tt.wantErr || d.Duration != tt.want {
				t.Errorf("Unmarshal(%q) = %v, %v; want %v, error %t", tt.yaml, d, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestServerJoinAddrs(t *testing.T) {
	tests := []struct {
		name      string
		retryJoin []string
		want      []string
	}{
		{name: "none", want: nil},
		{name: "hosts get ports.cluster", retryJoin: []string{"s1", "10.0.0.2"}, want: []string{"s1:6000", "10.0.0.2:6000"}},
		{name: "ports are kept", retryJoin: []string{"s1:7000"}, want: []string{"s1:7000"}},
		{name: "entries that do not parse are kept as they are", retryJoin: []string{"s1:x"}, want: []string{"s1:x"}},
		{name: "IPv6 gets brackets", retryJoin: []string{"::1", "[fe80::1]:7000"}, want: []string{"[::1]:6000", "[fe80::1]:7000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Ports: Ports{Cluster: 6000}, Server: Server{RetryJoin: tt.retryJoin}}
			if got := c.ServerJoinAddrs(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ServerJoinAddrs() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClientServerURLs(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want []string
	}{
		{
			name: "servers get ports.nats",
			c:    Config{Ports: Ports{NATS: 4000}, Client: Client{Servers: []string{"s1", "s2:5000", "::1"}}},
			want: []string{"nats://s1:4000", "nats://s2:5000", "nats://[::1]:4000"},
		},
		{
			name: "nats.url wins, split on commas",
			c:    Config{NATS: NATS{URL: " nats://a:4222, tls://b:4222 ,"}, Client: Client{Servers: []string{"s1"}}},
			want: []string{"nats://a:4222", "tls://b:4222"},
		},
		{
			name: "a server's own client dials loopback for a wildcard bind_addr",
			c:    Config{BindAddr: "0.0.0.0", Ports: Ports{NATS: 4000}, Server: Server{Enabled: true}},
			want: []string{"nats://127.0.0.1:4000"},
		},
		{
			name: "a server's own client dials its bind_addr",
			c:    Config{BindAddr: "10.0.0.1", Ports: Ports{NATS: 4000}, Server: Server{Enabled: true}},
			want: []string{"nats://10.0.0.1:4000"},
		},
		{
			name: "a client alone with no servers has none",
			c:    Config{Ports: Ports{NATS: 4000}},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.ClientServerURLs(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ClientServerURLs() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSyncAlways(t *testing.T) {
	tests := []struct {
		syncInterval string
		wantAlways   bool
		wantInterval time.Duration
	}{
		{syncInterval: "always", wantAlways: true},
		{syncInterval: "Always", wantAlways: true},
		{syncInterval: "", wantAlways: true},
		{syncInterval: "2m", wantInterval: 2 * time.Minute},
		{syncInterval: "soon", wantAlways: true},
	}
	for _, tt := range tests {
		t.Run(tt.syncInterval, func(t *testing.T) {
			c := &Config{Server: Server{SyncInterval: tt.syncInterval}}
			if always, interval := c.SyncAlways(); always != tt.wantAlways || interval != tt.wantInterval {
				t.Errorf("SyncAlways() = %t, %v; want %t, %v", always, interval, tt.wantAlways, tt.wantInterval)
			}
		})
	}
}

func TestDidYouMean(t *testing.T) {
	names := []string{"log_level", "data_dir", "datacenter", "name", "ca", "cert", "key"}
	tests := []struct {
		key, want string
	}{
		{key: "datacentre", want: `, did you mean "datacenter"?`},
		{key: "data-dir", want: `, did you mean "data_dir"?`},
		{key: "DataDir", want: `, did you mean "data_dir"?`},
		{key: "loglevel", want: `, did you mean "log_level"?`},
		{key: "nmae", want: `, did you mean "name"?`},
		{key: "crt", want: `, did you mean "cert"?`},
		{key: "x", want: ""},
		{key: "colour", want: ""},
		{key: "keys_file", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := didYouMean(tt.key, names); got != tt.want {
				t.Errorf("didYouMean(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestFieldErrorReadsFileLineField(t *testing.T) {
	tests := []struct {
		name string
		err  FieldError
		want string
	}{
		{name: "all known", err: FieldError{File: "a.yaml", Line: 3, Field: "server.enabled", Err: errors.New("bad")}, want: "a.yaml:3: server.enabled: bad"},
		{name: "whole file", err: FieldError{File: "a.yaml", Err: ErrNoSuchFile}, want: `config file "a.yaml": no such file`},
		{name: "from a default or flag", err: FieldError{Field: "name", Err: errors.New("bad")}, want: "name: bad"},
		{name: "nothing but the problem", err: FieldError{Err: errors.New("bad")}, want: "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDurationsTakeWholeDays(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"7d", 7 * 24 * time.Hour, false},
		{"0d", 0, false},
		{"36h", 36 * time.Hour, false},
		{"1.5d", 0, true},
		{"d", 0, true},
		{"-1d", 0, true},
	} {
		got, err := parseDuration(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}
