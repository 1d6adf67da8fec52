package runner

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/subjects"
)

func TestNewValidates(t *testing.T) {
	var js jetstream.JetStream = fakeJS{}
	ok := Options{JS: js, Name: "n", DataDir: "/tmp/x"}
	cases := []struct {
		name   string
		change func(*Options)
		option string // named in the error; "" = valid
	}{
		{"valid", func(*Options) {}, ""},
		{"no JS", func(o *Options) { o.JS = nil }, "JS"},
		{"no name", func(o *Options) { o.Name = "" }, "Name"},
		{"no data dir", func(o *Options) { o.DataDir = "" }, "DataDir"},
		{"negative parallel", func(o *Options) { o.MaxParallel = -1 }, "MaxParallel"},
		{"negative interval", func(o *Options) { o.HeartbeatInterval = -time.Second }, "HeartbeatInterval"},
		{"negative ttl", func(o *Options) { o.HeartbeatTTL = -time.Second }, "HeartbeatTTL"},
		{"ttl below interval", func(o *Options) { o.HeartbeatInterval = 10 * time.Second }, "HeartbeatTTL"},
		{"negative shutdown grace", func(o *Options) { o.ShutdownGrace = -time.Second }, "ShutdownGrace"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := ok
			c.change(&o)
			r, err := New(o)
			if c.option == "" {
				if err != nil {
					t.Fatal(err)
				}
				if r.opts.MaxParallel != DefaultMaxParallel || r.opts.HeartbeatInterval != DefaultHeartbeatInterval ||
					r.opts.HeartbeatTTL != DefaultHeartbeatTTL || r.opts.Datacenter != DefaultDatacenter || r.opts.Clock == nil {
					t.Errorf("defaults not set: %+v", r.opts)
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), c.option) {
				t.Errorf("error %v, want ErrInvalidOptions naming %s", err, c.option)
			}
		})
	}
}

// fakeJS satisfies jetstream.JetStream for New's validation only.
type fakeJS struct{ jetstream.JetStream }

func (fakeJS) Conn() *nats.Conn { return nil }

func TestNodeIDStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, err := loadNodeID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 32 {
		t.Fatalf("id %q: want 32 hex digits", id)
	}
	again, err := loadNodeID(dir)
	if err != nil || again != id {
		t.Fatalf("second load %q %v, want %q", again, err, id)
	}

	// Processes sharing a data dir agree on one ID.
	shared := t.TempDir()
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			var err error
			if ids[i], err = loadNodeID(shared); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, got := range ids {
		if got != ids[0] {
			t.Fatalf("ids %q differ", ids)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(shared, NodeIDFile+".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, NodeIDFile), []byte("not-an-id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadNodeID(bad); !errors.Is(err, ErrBadNodeID) {
		t.Errorf("malformed file: %v, want ErrBadNodeID", err)
	}
}

func TestOSNameAndMemory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ file, want string }{
		{"NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n", "debian"},
		{"ID=\"rhel\"\nID_LIKE=\"fedora\"\n", "rhel"},
		{"ID_LIKE=arch\n", runtime.GOOS},
	} {
		if got := osName(write("os-release", c.file)); got != c.want {
			t.Errorf("osName(%q) = %q, want %q", c.file, got, c.want)
		}
	}
	if got := osName(filepath.Join(dir, "missing")); got != runtime.GOOS {
		t.Errorf("osName(missing) = %q", got)
	}
	if got := memTotal(write("meminfo", "MemTotal:       16303412 kB\nMemFree: 1 kB\n")); got != 16303412*1024 {
		t.Errorf("memTotal = %d", got)
	}
	if got := memTotal(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("memTotal(missing) = %d", got)
	}
}

func TestRawExecEnabled(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "TRUE": true, "0": false, "false": false, "": false, "yes": false} {
		if got := rawExecEnabled(map[string]string{RawExecOption: v}); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
	if rawExecEnabled(nil) {
		t.Error("nil options enable raw_exec")
	}
	if a := nodeAttributes("v", false); a[AttrRawExec] != "" {
		t.Errorf("raw_exec attribute %q without the option", a[AttrRawExec])
	}
}

// The tail keeps the last bytes written, counts them all, and once it lost its
// start, says so on a first line.
func TestTailKeepsTheEndAndSaysHowMuchWasCut(t *testing.T) {
	var all bytes.Buffer
	tl := newTail(10)
	for _, w := range []string{"abc", "defg", "hij", "k", "", "lmnopqrstuvwxyz0123", "45", "6789ABCDEFGH", "I"} {
		tl.Write([]byte(w))
		all.WriteString(w)
		want := all.Bytes()[max(0, all.Len()-10):]
		wantCut := int64(all.Len() - len(want))
		if wantCut > 0 {
			want = append([]byte(subjects.CutLine(wantCut, 10)), want...)
		}
		if got, cut := tl.Stored(); !bytes.Equal(got, want) || cut != wantCut {
			t.Fatalf("after %q: %q cut %d, want %q cut %d", w, got, cut, want, wantCut)
		}
	}
	if tl.Total() != int64(all.Len()) {
		t.Errorf("total %d, want %d", tl.Total(), all.Len())
	}
}

// A restart's line begins a line of its own: the tail knows whether the output ends
// inside one, wrapped or not.
func TestTailKnowsWhetherTheOutputEndsMidLine(t *testing.T) {
	tl := newTail(4)
	for _, tc := range []struct {
		write string
		mid   bool
	}{
		{"", false}, {"ab", true}, {"\n", false}, {"xyz\n", false}, {"12345", true}, {"6\n", false}, {"7", true},
	} {
		tl.Write([]byte(tc.write))
		if got := tl.midLine(); got != tc.mid {
			t.Errorf("after %q: midLine %v, want %v", tc.write, got, tc.mid)
		}
	}
}

func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cmd, err string }{
		{"/bin/sh", ""},
		{"", "no command"},
		{"sh", "not an absolute path"},
		{filepath.Join(dir, "missing"), "does not exist"},
		{dir, "is a directory"},
		{plain, "not executable"},
	} {
		err := checkCommand(c.cmd)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.cmd, err)
		case c.err != "" && (!errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want ErrBadCommand with %q", c.cmd, err, c.err)
		}
	}
}

func TestExitOutcome(t *testing.T) {
	if o := exitOutcome(nil); o.state != subjects.StateComplete || o.exitCode == nil || *o.exitCode != 0 {
		t.Errorf("exit 0: %+v", o)
	}
	err := exec.Command("/bin/sh", "-c", "exit 7").Run()
	if o := exitOutcome(err); o.state != subjects.StateFailed || *o.exitCode != 7 || o.err != "exit code 7" {
		t.Errorf("exit 7: %+v", o)
	}
	err = exec.Command("/bin/sh", "-c", "kill -TERM $$").Run()
	if o := exitOutcome(err); o.state != subjects.StateFailed || *o.exitCode != 143 || !strings.Contains(o.err, "signal 15") {
		t.Errorf("SIGTERM: %+v", o)
	}
	if o := exitOutcome(errors.New("boom")); o.state != subjects.StateFailed || o.exitCode != nil {
		t.Errorf("other error: %+v", o)
	}
}

func TestFailedAndLostRunsAreLoggedAtWarn(t *testing.T) {
	var b bytes.Buffer
	log := zerolog.New(&b)
	for state, want := range map[subjects.RunState]string{
		subjects.StateFailed: "warn", subjects.StateLost: "warn", subjects.StateComplete: "info",
	} {
		b.Reset()
		finishedLevel(log, state).Msg("run finished")
		if !strings.Contains(b.String(), `"level":"`+want+`"`) {
			t.Errorf("%s: %s", state, b.String())
		}
	}
}

func TestARunnerMovesServersLessOftenWhileHeartbeatsFailThroughEachOne(t *testing.T) {
	patience := 1500 * time.Millisecond
	for _, c := range []struct {
		moves int
		want  time.Duration
	}{
		{0, patience},      // the first server: as before, half the heartbeat TTL
		{1, 2 * patience},  // the next one failed too: the cluster is slow, not cut off
		{2, 4 * patience},  //
		{3, 8 * patience},  // the cap
		{10, 8 * patience}, // still the cap
	} {
		if got := moveAfter(patience, c.moves); got != c.want {
			t.Errorf("after %d moves: %s, want %s", c.moves, got, c.want)
		}
	}
}
