package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/internal/buckettest"
	"github.com/jetcron/jetcron/subjects"
)

// runCmd runs a command function with captured output.
func runCmd(fn cmdFunc, args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = fn(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// testEnv is a one-server cluster with every jetcron bucket provisioned, for tests
// that write records directly and run commands against it.
type testEnv struct {
	url string
	js  jetstream.JetStream
	b   *subjects.Buckets
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	env := buckettest.New(t)
	return &testEnv{url: env.Cluster.URLs(), js: env.JS, b: env.Buckets}
}

// run runs a command against the environment's server.
func (e *testEnv) run(fn cmdFunc, args ...string) (stdout, stderr string, code int) {
	return runCmd(fn, append([]string{"-address", e.url}, args...)...)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// putJSON stores v as JSON under key and returns the revision.
func putJSON(t *testing.T, kv jetstream.KeyValue, key string, v any) uint64 {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := kv.Put(ctxT(t), key, data)
	if err != nil {
		t.Fatalf("put %s/%s: %v", kv.Bucket(), key, err)
	}
	return rev
}

// deadAddress is a URL on which nothing listens.
func deadAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "nats://" + addr
}

func TestUnreachableAddressGivesOneLineAndExitCode1(t *testing.T) {
	addr := deadAddress(t)
	for _, tc := range []struct {
		name string
		fn   cmdFunc
		args []string
	}{
		{"server members", cmdServerMembers, nil},
		{"node status", cmdNodeStatus, nil},
		{"node drain", cmdNodeDrain, []string{"-enable", "n1"}},
		{"job status", cmdJobStatus, nil},
		{"job status JOB", cmdJobStatus, []string{"backup"}},
		{"job periodic force", cmdJobPeriodicForce, []string{"backup"}},
		{"job stop", cmdJobStop, []string{"backup"}},
		{"run logs", cmdRunLogs, []string{"backup/periodic-1476824400"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCmd(tc.fn, append([]string{"-address", addr}, tc.args...)...)
			if code != exitError {
				t.Errorf("exit code %d, want 1", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if want := "Error: no server at " + addr + "\n"; stderr != want {
				t.Errorf("stderr = %q, want %q", stderr, want)
			}
		})
	}
}

func TestAddressDefaultsToJetcronAddrThenLocalhost(t *testing.T) {
	t.Setenv(addressEnv, "")
	if c := newCommand(usage{name: "x"}); c.address != defaultAddress {
		t.Errorf("default address = %q, want %q", c.address, defaultAddress)
	}
	t.Setenv(addressEnv, "nats://10.0.0.1:4222")
	if c := newCommand(usage{name: "x"}); c.address != "nats://10.0.0.1:4222" {
		t.Errorf("address from $%s = %q", addressEnv, c.address)
	}
}

func TestMissingCredsFileIsOneLine(t *testing.T) {
	_, stderr, code := runCmd(cmdNodeStatus, "-address", deadAddress(t), "-creds", "/nonexistent/x.creds")
	if code != exitError || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "/nonexistent/x.creds") {
		t.Fatalf("code %d, stderr %q", code, stderr)
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	c := newCommand(usage{name: "node drain", args: "NODE"})
	enable := c.fs.Bool("enable", false, "")
	pos, _, ok := c.parse([]string{"n1", "-enable", "-json"}, 1, 1, &bytes.Buffer{}, &bytes.Buffer{})
	if !ok || len(pos) != 1 || pos[0] != "n1" || !*enable || !c.json {
		t.Fatalf("pos %q ok %v enable %v json %v", pos, ok, *enable, c.json)
	}
}

func TestDoubleDashEndsFlags(t *testing.T) {
	c := newCommand(usage{name: "job stop", args: "JOB"})
	pos, _, ok := c.parse([]string{"--", "-weird"}, 1, 1, &bytes.Buffer{}, &bytes.Buffer{})
	if !ok || len(pos) != 1 || pos[0] != "-weird" {
		t.Fatalf("pos %q ok %v", pos, ok)
	}
}

func TestHelpPrintsUsageAndExitsZero(t *testing.T) {
	for _, fn := range []cmdFunc{cmdServerMembers, cmdNodeStatus, cmdNodeDrain, cmdJobRun, cmdJobValidate,
		cmdJobStatus, cmdJobPeriodicForce, cmdJobStop, cmdRunLogs} {
		stdout, stderr, code := runCmd(fn, "-h")
		if code != exitOK || !strings.HasPrefix(stdout, "Usage: jetcron ") || !strings.Contains(stdout, "-address") || stderr != "" {
			t.Errorf("-h: code %d stdout %q stderr %q", code, stdout, stderr)
		}
	}
}

func TestWrongArgumentCountIsUsageError(t *testing.T) {
	for _, tc := range []struct {
		fn   cmdFunc
		args []string
	}{
		{cmdServerMembers, []string{"extra"}},
		{cmdJobStop, nil},
		{cmdJobStatus, []string{"a", "b"}},
		{cmdRunLogs, nil},
		{cmdNodeDrain, []string{"n1"}}, // neither -enable nor -disable
		{cmdNodeDrain, []string{"-enable", "-disable", "n1"}},
		{cmdJobStatus, []string{"-nosuchflag"}},
	} {
		stdout, stderr, code := runCmd(tc.fn, tc.args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, "Usage: jetcron ") {
			t.Errorf("%q: code %d stdout %q stderr %q", tc.args, code, stdout, stderr)
		}
	}
}

func TestPrintFieldsAlignsEqualsSigns(t *testing.T) {
	var b bytes.Buffer
	printFields(&b, [][2]string{{"ID", "x"}, {"Next Periodic Launch", "y"}, {"Error", "two\nlines"}})
	want := "ID                   = x\n" +
		"Next Periodic Launch = y\n" +
		"Error                = two\n" +
		"                       lines\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFormatDurationRoundsToSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		37*time.Minute + 51*time.Second + 400*time.Millisecond: "37m51s",
		1500 * time.Millisecond:                                "2s",
		0:                                                      "0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestServerWithoutJetStreamGivesOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a NATS server")
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	_, stderr, code := runCmd(cmdNodeStatus, "-address", s.ClientURL())
	if want := "Error: JetStream is not enabled at " + s.ClientURL() + ": is it a jetcron server?\n"; code != exitError || stderr != want {
		t.Fatalf("code %d stderr %q, want %q", code, stderr, want)
	}
}
