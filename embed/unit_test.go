package embed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

func TestStartRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	ok := Options{Name: "n1", StoreDir: dir, Port: RandomPort}
	for _, tc := range []struct {
		field  string
		modify func(*Options)
	}{
		{"Name", func(o *Options) { o.Name = "" }},
		{"Name", func(o *Options) { o.Name = "two words" }},
		{"StoreDir", func(o *Options) { o.StoreDir = "" }},
		{"Cluster", func(o *Options) { o.Cluster = "a b" }},
		{"Port", func(o *Options) { o.Port = -2 }},
		{"ClusterPort", func(o *Options) { o.ClusterPort = 70000 }},
		{"BootstrapExpect", func(o *Options) { o.BootstrapExpect = 3 }},
		{"BootstrapExpect", func(o *Options) { o.BootstrapExpect = -1 }},
		{"Debug", func(o *Options) { o.Debug = true }},
		{"Routes", func(o *Options) { o.Routes = []string{"no-port"} }},
		{"Routes", func(o *Options) { o.Routes = []string{"host:0"} }},
		{"Routes", func(o *Options) { o.Routes = []string{":6222"} }},
		{"SyncInterval", func(o *Options) { o.SyncInterval = -1 }},
		{"LameDuckDuration", func(o *Options) { o.LameDuckDuration = -1 }},
	} {
		o := ok
		tc.modify(&o)
		s, err := Start(o)
		if s != nil {
			s.Kill()
		}
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Field != tc.field {
			t.Errorf("%s: Start(%+v) = %v, want an OptionError on %s", tc.field, o, err, tc.field)
		}
	}
}

func TestDefaults(t *testing.T) {
	o, err := withDefaults(Options{Name: "n", StoreDir: "d", Routes: []string{"h:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Cluster != "global" || o.Host != "0.0.0.0" || o.ClusterPort != 6222 || o.BootstrapExpect != 1 ||
		o.LameDuckDuration != DefaultLameDuckDuration || o.StartTimeout != DefaultStartTimeout {
		t.Fatalf("defaults: %+v", o)
	}
	if o, _ := withDefaults(Options{Name: "n", StoreDir: "d"}); o.ClusterPort != 0 {
		t.Fatalf("single server got ClusterPort %d", o.ClusterPort)
	}
}

func TestParseRoutes(t *testing.T) {
	urls, err := parseRoutes([]string{"10.0.0.1:6222", " nats-route://h2:7000 ", "nats://[::1]:6222"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range urls {
		got = append(got, u.Host)
	}
	if want := "10.0.0.1:6222 h2:7000 [::1]:6222"; strings.Join(got, " ") != want {
		t.Fatalf("hosts %q, want %q", got, want)
	}
}

func TestDialHost(t *testing.T) {
	for in, want := range map[string]string{
		"0.0.0.0": "127.0.0.1", "::": "::1", "10.1.2.3": "10.1.2.3", "node-1": "node-1",
	} {
		if got := dialHost(in); got != want {
			t.Errorf("dialHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStartErrorClassifiesPortInUse(t *testing.T) {
	cause := fmt.Errorf("listen: %w", syscall.EADDRINUSE)
	if err := newStartError("embed: client port x: "+cause.Error(), cause); !errors.Is(err, ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("%v: not ErrAddrInUse", err)
	}
	// A NATS fatal log line only has the text.
	msg := `embed: start nats server "n": Error listening on port: 127.0.0.1:4222, "listen tcp 127.0.0.1:4222: bind: address already in use"`
	if err := newStartError(msg, nil); !errors.Is(err, ErrAddrInUse) || err.Error() != msg {
		t.Errorf("%v: not ErrAddrInUse", err)
	}
	if err := newStartError("embed: other", errors.New("permission denied")); errors.Is(err, ErrAddrInUse) {
		t.Errorf("%v: is ErrAddrInUse", err)
	}
}

func TestNATSLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	l := newNATSLogger(zerolog.New(&buf).Level(zerolog.TraceLevel))
	l.Noticef("banner %d", 0) // while the server starts, a notice is the banner
	l.starting.Store(false)
	l.Tracef("t %d", 1)
	l.Debugf("d %d", 2)
	l.Noticef("n %d", 3)
	l.Warnf("w %d", 4)
	l.Errorf("e %d", 5)
	l.Fatalf("f %d", 6)
	l.Fatalf("f %d", 7)

	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var e struct {
			Level   string `json:"level"`
			Message string `json:"message"`
			Fatal   bool   `json:"fatal"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, fmt.Sprintf("%s:%s:%v", e.Level, e.Message, e.Fatal))
	}
	want := "debug:banner 0:false trace:t 1:false debug:d 2:false info:n 3:false warn:w 4:false error:e 5:false error:f 6:true error:f 7:true"
	if strings.Join(got, " ") != want {
		t.Fatalf("logged\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if m := l.fatalMsg(); m != "f 6" {
		t.Fatalf("fatalMsg() = %q, want the first fatal", m)
	}

	for _, tc := range []struct {
		level        zerolog.Level
		trace        bool
		debug, trOut bool
	}{
		{zerolog.InfoLevel, true, false, false},
		{zerolog.DebugLevel, true, true, false},
		{zerolog.TraceLevel, false, true, false},
		{zerolog.TraceLevel, true, true, true},
	} {
		l := newNATSLogger(zerolog.New(&buf).Level(tc.level))
		if d, tr := l.levels(tc.trace); d != tc.debug || tr != tc.trOut {
			t.Errorf("level %s, Trace %v: levels() = %v, %v; want %v, %v", tc.level, tc.trace, d, tr, tc.debug, tc.trOut)
		}
	}
	if d, tr := newNATSLogger(zerolog.Logger{}).levels(true); d || tr {
		t.Errorf("zero Logger: levels() = %v, %v; want false, false", d, tr)
	}
}
