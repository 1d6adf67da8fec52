package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// A launched run executes once, in a fresh working directory, with the JETCRON_
// variables and interpolated arguments; its record goes queued → running →
// complete; its output lands in the logs bucket; its events are published.
func TestRunExecutes(t *testing.T) {
	e := newEnv(t, 1)
	t.Setenv("JETCRON_TEST_AGENT_VAR", "from-agent")
	t.Setenv("JETCRON_TEST_OVERRIDE", "from-agent")
	out := filepath.Join(t.TempDir(), "out")
	prog := script(t, `
{
  echo "JOB=$JETCRON_JOB"
  echo "RUN_ID=$JETCRON_RUN_ID"
  echo "NODE=$JETCRON_NODE"
  echo "DC=$JETCRON_DC"
  echo "SCHEDULED=$JETCRON_SCHEDULED"
  echo "ALLOC=$JETCRON_ALLOC_ID"
  echo "AGENT=$JETCRON_TEST_AGENT_VAR"
  echo "OVERRIDE=$JETCRON_TEST_OVERRIDE"
  echo "TASKVAR=$TASKVAR"
  echo "PWD=$(pwd)"
} > "$OUT.env"
printf '%s\n' "$@" > "$OUT.args"
echo x >> "$OUT.count"
echo "hello stdout"
echo "hello stderr" >&2
`)
	opts := e.options(t, "web-1.example.com")
	tr := startRunner(t, opts)
	_ = tr
	waitFor(t, 10*time.Second, func() error { _, _, err := e.member(t, opts.Name); return err })

	evs := e.events(t, "backup")
	task := rawTask(prog, "--node", "${node.unique.name}", "${attr.kernel.name}", "${meta.rack}", "${node.datacenter}")
	task.Env = map[string]string{
		"OUT": out, "TASKVAR": "from-task", "JETCRON_TEST_OVERRIDE": "from-task", "JETCRON_JOB": "spoofed",
	}
	l := e.launch(t, opts.Name, "backup", tick(1), task)

	run := e.waitState(t, l, subjects.StateComplete, 15*time.Second)
	cur := run.Current()
	if cur.ExitCode == nil || *cur.ExitCode != 0 {
		t.Errorf("exit code %v, want 0", cur.ExitCode)
	}
	id, err := os.ReadFile(filepath.Join(opts.DataDir, NodeIDFile))
	if err != nil {
		t.Fatal(err)
	}
	if cur.NodeID != strings.TrimSpace(string(id)) || cur.Node != opts.Name {
		t.Errorf("allocation on node %q (%s), want %q (%s)", cur.Node, cur.NodeID, opts.Name, id)
	}
	if cur.Started == nil || cur.Finished == nil || cur.Finished.Before(*cur.Started) || cur.Error != "" {
		t.Errorf("allocation %+v: want started, finished after, no error", cur)
	}

	env, err := os.ReadFile(out + ".env")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(env)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		vars[k] = v
	}
	want := map[string]string{
		"JOB": "backup", "RUN_ID": l.RunID, "NODE": opts.Name, "DC": "dc1",
		"SCHEDULED": strconv.FormatInt(tick(1).Unix(), 10), "ALLOC": l.AllocID,
		"AGENT": "from-agent", "OVERRIDE": "from-task", "TASKVAR": "from-task",
	}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	wantDir := filepath.Join(opts.DataDir, "runs", l.AllocID)
	if vars["PWD"] != wantDir {
		t.Errorf("working directory %q, want %q", vars["PWD"], wantDir)
	}
	if _, err := os.Stat(wantDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working directory %s not removed: %v", wantDir, err)
	}
	if got, want := lines(t, out+".args"), []string{"--node", opts.Name, runtime.GOOS, "r1", "dc1"}; !equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}

	logs, err := e.b.Logs.Get(ctxT(t), subjects.RunKey("backup", tick(1)))
	if err != nil {
		t.Fatalf("output not stored: %v", err)
	}
	if got := string(logs.Value()); !strings.Contains(got, "hello stdout\n") || !strings.Contains(got, "hello stderr\n") {
		t.Errorf("stored output %q, want both streams", got)
	}

	running := waitEvent(t, evs, l.RunID, subjects.StateRunning)
	if running.Node != opts.Name || running.AllocID != l.AllocID || running.Late != l.Late || running.Job != "backup" {
		t.Errorf("running event %+v", running)
	}
	done := waitEvent(t, evs, l.RunID, subjects.StateComplete)
	if done.ExitCode == nil || *done.ExitCode != 0 || done.Duration < 0 {
		t.Errorf("complete event %+v", done)
	}
	e.waitDrained(t, opts.Name)
	if n := len(lines(t, out+".count")); n != 1 {
		t.Errorf("executed %d times, want once", n)
	}
}

// A command that exits non-zero fails with its exit code; a missing command, a
// relative one, an unknown driver, or a node without raw_exec fail with a clear
// error.
func TestRunFails(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	off := e.options(t, "n2")
	off.ClientOptions = nil
	startRunner(t, off)

	prog := script(t, "echo failing; exit 3\n")
	missing := filepath.Join(t.TempDir(), "no-such-command")
	notExec := filepath.Join(t.TempDir(), "not-exec")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unknown := rawTask(prog)
	unknown.Driver = "docker"
	cases := []struct {
		name     string
		node     string
		task     job.Task
		exitCode int // -1: none
		errHas   string
	}{
		{"exit code", opts.Name, rawTask(prog), 3, "exit code 3"},
		{"missing command", opts.Name, rawTask(missing), -1, "command " + missing + " does not exist"},
		{"relative command", opts.Name, rawTask("bin/true"), -1, "not an absolute path"},
		{"not executable", opts.Name, rawTask(notExec), -1, "is not executable"},
		{"unknown driver", opts.Name, unknown, -1, `unknown driver "docker"`},
		{"raw_exec disabled", off.Name, rawTask(prog), -1, "driver raw_exec is not enabled"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := e.launch(t, c.node, "fails", tick(i), c.task)
			run := e.waitState(t, l, subjects.StateFailed, 15*time.Second)
			cur := run.Current()
			if !strings.Contains(cur.Error, c.errHas) {
				t.Errorf("error %q, want it to contain %q", cur.Error, c.errHas)
			}
			switch {
			case c.exitCode < 0 && cur.ExitCode != nil:
				t.Errorf("exit code %d, want none", *cur.ExitCode)
			case c.exitCode >= 0 && (cur.ExitCode == nil || *cur.ExitCode != c.exitCode):
				t.Errorf("exit code %v, want %d", cur.ExitCode, c.exitCode)
			}
			if cur.Started == nil || cur.Finished == nil {
				t.Errorf("allocation %+v: want started and finished", cur)
			}
		})
	}
}

// The same launch published twice (two messages, same revision) executes once; a
// launch whose record changed since placement (re-placed) is discarded.
func TestLaunchClaimedOnce(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	count := filepath.Join(t.TempDir(), "count")
	prog := script(t, `echo "$JETCRON_RUN_ID" >> "`+count+`"; sleep 0.2`+"\n")

	t.Run("published twice", func(t *testing.T) {
		l := e.place(t, opts.Name, "dup", tick(1), rawTask(prog))
		e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc))
		e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc)+"-again")
		e.waitState(t, l, subjects.StateComplete, 15*time.Second)
		e.waitDrained(t, opts.Name)
		if got := lines(t, count); len(got) != 1 || got[0] != l.RunID {
			t.Errorf("executions %q, want one of %s", got, l.RunID)
		}
	})

	t.Run("re-placed before delivery", func(t *testing.T) {
		l := e.place(t, opts.Name, "moved", tick(2), rawTask(prog))
		run, rev, err := e.record(t, l)
		if err != nil {
			t.Fatal(err)
		}
		// The ticker re-placed it on another node before this launch arrived.
		run.Allocations[0].State = subjects.StateLost
		run.Allocations = append(run.Allocations, subjects.Allocation{
			ID: newAllocID(t), Node: "elsewhere", State: subjects.StateQueued, Created: time.Now().UTC(),
		})
		data, _ := json.Marshal(&run)
		newRev, err := e.b.Runs.Update(ctxT(t), subjects.RunKey("moved", tick(2)), data, rev)
		if err != nil {
			t.Fatal(err)
		}
		e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc))
		e.waitDrained(t, opts.Name)
		after, afterRev, err := e.record(t, l)
		if err != nil {
			t.Fatal(err)
		}
		if afterRev != newRev || after.Current().State != subjects.StateQueued {
			t.Errorf("record changed to %+v (revision %d, want %d)", after, afterRev, newRev)
		}
		for _, id := range lines(t, count) {
			if id == l.RunID {
				t.Errorf("re-placed launch executed")
			}
		}
	})
}

// Two runner processes of one host (same name, sharing the durable, connected to
// different servers of an R3 cluster) race over 50 launches, each published twice:
// every run executes exactly once.
func TestSharedDurableRace(t *testing.T) {
	e := newEnv(t, 3)
	count := filepath.Join(t.TempDir(), "count")
	prog := script(t, `echo "$JETCRON_RUN_ID" >> "`+count+`"`+"\n")
	opts := e.options(t, "shared")
	opts.MaxParallel = 8
	a, b := opts, opts
	a.JS, b.JS = e.connectTo(t, 0), e.connectTo(t, 1)
	a.Logger = a.Logger.With().Str("instance", "a").Logger()
	b.Logger = b.Logger.With().Str("instance", "b").Logger()
	startRunner(t, a)
	startRunner(t, b)
	waitFor(t, 10*time.Second, func() error { _, _, err := e.member(t, opts.Name); return err })

	const n = 50
	launches := make([]*subjects.Launch, n)
	for i := range launches {
		launches[i] = e.place(t, opts.Name, "race", tick(i), rawTask(prog))
	}
	for _, l := range launches {
		e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc))
		e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc)+"-copy")
	}
	for _, l := range launches {
		e.waitState(t, l, subjects.StateComplete, 30*time.Second)
	}
	e.waitDrained(t, opts.Name)
	got := map[string]int{}
	for _, id := range lines(t, count) {
		got[id]++
	}
	for _, l := range launches {
		if got[l.RunID] != 1 {
			t.Errorf("%s executed %d times, want once", l.RunID, got[l.RunID])
		}
	}
	if len(got) != n {
		t.Errorf("%d distinct runs executed, want %d", len(got), n)
	}
}

// At its timeout a run's process group gets SIGTERM, then SIGKILL after the kill
// timeout: a program that ignores SIGTERM dies, and so does its child.
func TestTimeoutKillsGroup(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	dir := t.TempDir()
	prog := script(t, `
trap 'echo term >> "`+dir+`/term"' TERM
( trap '' TERM; exec sleep 60 ) &
echo $! > "`+dir+`/child"
echo $$ > "`+dir+`/parent"
while :; do sleep 0.05; done
`)
	task := rawTask(prog)
	task.Timeout = job.Duration(time.Second)
	task.KillTimeout = job.Duration(time.Second)
	start := time.Now()
	l := e.launch(t, opts.Name, "slow", tick(1), task)
	parent := readPID(t, dir+"/parent")
	child := readPID(t, dir+"/child")
	killGroupOnCleanup(t, parent, child)

	run := e.waitState(t, l, subjects.StateFailed, 15*time.Second)
	elapsed := time.Since(start)
	cur := run.Current()
	if !strings.Contains(cur.Error, "timed out after 1s") {
		t.Errorf("error %q, want a timeout", cur.Error)
	}
	if cur.ExitCode == nil || *cur.ExitCode != 128+9 {
		t.Errorf("exit code %v, want 137 (SIGKILL)", cur.ExitCode)
	}
	if elapsed < 2*time.Second {
		t.Errorf("run ended after %s, before timeout + kill timeout", elapsed)
	}
	if got := lines(t, dir+"/term"); len(got) == 0 {
		t.Errorf("program never got SIGTERM")
	}
	waitGone(t, 5*time.Second, parent, child)
}

// A run whose record the ticker sets to lost while it runs (as after a pause of
// this process) has its process group killed at the next heartbeat; its record
// stays lost, and an event says it finished after being declared lost.
func TestLostRunKilled(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	evs := e.events(t, "lost")
	l, parent, child := e.launchParentAndChild(t, opts.Name, "lost")
	run := e.waitState(t, l, subjects.StateRunning, 10*time.Second)

	// Play the ticker declaring the allocation lost.
	_, rev, err := e.record(t, l)
	if err != nil {
		t.Fatal(err)
	}
	run.State = subjects.StateLost
	run.Current().State = subjects.StateLost
	run.Current().Error = "node missed its heartbeats"
	data, _ := json.Marshal(&run)
	lostRev, err := e.b.Runs.Update(ctxT(t), subjects.RunKey("lost", tick(1)), data, rev)
	if err != nil {
		t.Fatal(err)
	}
	declared := time.Now()
	waitGone(t, 5*time.Second, parent, child)
	if d := time.Since(declared); d > 2*time.Second {
		t.Errorf("process group killed %s after the run was declared lost", d)
	}
	ev := waitEvent(t, evs, l.RunID, subjects.StateFailed)
	if !strings.HasPrefix(ev.Reason, ReasonFinishedLost) {
		t.Errorf("final event reason %q, want %q", ev.Reason, ReasonFinishedLost)
	}
	after, afterRev, err := e.record(t, l)
	if err != nil {
		t.Fatal(err)
	}
	if afterRev != lostRev || after.State != subjects.StateLost {
		t.Errorf("record after the run: %+v (revision %d, want %d, lost)", after, afterRev, lostRev)
	}
}

// Arguments reach the program literally, one each, whatever they hold: no shell.
func TestLiteralArgs(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	prog := script(t, `printf '%s\0' "$@" > "`+dir+`/args"`+"\n")
	args := []string{
		"; rm -rf /", "$(touch " + pwned + ")", "`touch " + pwned + "`", "line1\nline2", "a b  c",
		"", "'quoted'", `"dq"`, "| cat", "> " + pwned, "$HOME", "*", "${node.unique.name}",
	}
	l := e.launch(t, opts.Name, "literal", tick(1), rawTask(prog, args...))
	e.waitState(t, l, subjects.StateComplete, 15*time.Second)
	b, err := os.ReadFile(dir + "/args")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	want := append([]string(nil), args...)
	want[len(want)-1] = opts.Name // the one attribute is interpolated
	if !equal(got, want) {
		t.Errorf("args\n got %q\nwant %q", got, want)
	}
	if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an argument was run by a shell: %s exists", pwned)
	}
}

// The node registers with a stable ID and its attributes, heartbeats, keeps a
// drain flag another writer set, marks itself left on shutdown, and comes back
// with the same ID.
func TestNodeRegistration(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "web-1.example.com")
	tr := startRunner(t, opts)

	var m subjects.Member
	var rev uint64
	waitFor(t, 10*time.Second, func() error {
		var err error
		m, rev, err = e.member(t, opts.Name)
		return err
	})
	idFile, err := os.ReadFile(filepath.Join(opts.DataDir, NodeIDFile))
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(string(idFile))
	if len(id) != 32 || m.ID != id {
		t.Errorf("node ID %q, file %q: want the same 32 hex digits", m.ID, id)
	}
	host, _ := os.Hostname()
	wantAttrs := map[string]string{
		AttrHostname: host, AttrKernelName: runtime.GOOS, AttrCPUCores: strconv.Itoa(runtime.NumCPU()),
		AttrVersion: "test", AttrRawExec: "1", AttrOSName: osName("/etc/os-release"),
	}
	for k, v := range wantAttrs {
		if m.Attributes[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, m.Attributes[k], v)
		}
	}
	if mem, err := strconv.ParseUint(m.Attributes[AttrMemoryTotal], 10, 64); err != nil || mem < 1<<20 {
		t.Errorf("attribute %s = %q, want bytes", AttrMemoryTotal, m.Attributes[AttrMemoryTotal])
	}
	if m.Name != opts.Name || m.Datacenter != "dc1" || m.Class != "batch" || m.Meta["rack"] != "r1" ||
		m.TTL.Duration() != opts.HeartbeatTTL || m.Left || m.Drain || m.Build != "test" {
		t.Errorf("member %+v", m)
	}

	// Heartbeats move the record on.
	first := m.Heartbeat
	waitFor(t, 5*time.Second, func() error {
		m2, rev2, err := e.member(t, opts.Name)
		if err != nil {
			return err
		}
		if rev2 < rev+2 || !m2.Heartbeat.After(first) {
			return fmt.Errorf("revision %d heartbeat %s, want past %d and %s", rev2, m2.Heartbeat, rev, first)
		}
		return nil
	})

	// `node drain -enable` writes the record too, racing the heartbeats.
	waitFor(t, 5*time.Second, func() error {
		m, rev, err := e.member(t, opts.Name)
		if err != nil {
			return err
		}
		m.Drain = true
		data, _ := json.Marshal(&m)
		_, err = e.b.Nodes.Update(ctxT(t), subjects.Token(opts.Name), data, rev)
		return err
	})
	_, drainRev, _ := e.member(t, opts.Name)
	waitFor(t, 5*time.Second, func() error {
		m, rev, err := e.member(t, opts.Name)
		if err != nil {
			return err
		}
		if !m.Drain {
			return fmt.Errorf("drain flag lost at revision %d", rev)
		}
		if rev < drainRev+3 {
			return fmt.Errorf("revision %d, want 3 heartbeats past %d", rev, drainRev)
		}
		return nil
	})

	if err := tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	m, _, err = e.member(t, opts.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Left || !m.Drain {
		t.Errorf("after shutdown: left %v drain %v, want both", m.Left, m.Drain)
	}

	// Restart on the same data dir: same ID, back, still drained.
	startRunner(t, opts)
	waitFor(t, 10*time.Second, func() error {
		m, _, err := e.member(t, opts.Name)
		if err != nil {
			return err
		}
		if m.Left || m.ID != id || !m.Drain {
			return fmt.Errorf("after restart: left %v id %s drain %v, want false %s true", m.Left, m.ID, m.Drain, id)
		}
		return nil
	})
}

// On shutdown a run's process group gets SIGTERM, and the run is recorded failed
// with "agent shut down" before the node is marked left.
func TestShutdownStopsRuns(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	tr := startRunner(t, opts)
	evs := e.events(t, "long")
	l, parent, child := e.launchParentAndChild(t, opts.Name, "long")
	e.waitState(t, l, subjects.StateRunning, 10*time.Second)
	e.waitDrained(t, opts.Name) // acked at the claim, not at the end of the run

	if err := tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !processGone(parent) || !processGone(child) {
		t.Errorf("process group outlived the runner")
	}
	run, _, err := e.record(t, l)
	if err != nil {
		t.Fatal(err)
	}
	if cur := run.Current(); run.State != subjects.StateFailed || cur.Error != ReasonShutdown {
		t.Errorf("record %+v, want failed with %q", cur, ReasonShutdown)
	}
	ev := waitEvent(t, evs, l.RunID, subjects.StateFailed)
	if ev.Reason != ReasonShutdown {
		t.Errorf("event reason %q", ev.Reason)
	}
	m, _, err := e.member(t, opts.Name)
	if err != nil || !m.Left {
		t.Errorf("node not left after shutdown: %+v %v", m, err)
	}
}

// Output beyond the tail size keeps its end, after a line that says how much was
// cut; the stored value carries the exact count.
func TestOutputBeyondTheTailIsStoredCutWithALineThatSaysSo(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	// 200 KiB of numbered lines, then a marker.
	prog := script(t, `i=0; while [ $i -lt 20000 ]; do echo "line $i 0123456789"; i=$((i+1)); done; echo END >&2`+"\n")
	l := e.launch(t, opts.Name, "chatty", tick(1), rawTask(prog))
	e.waitState(t, l, subjects.StateComplete, 30*time.Second)
	stream, err := e.js.Stream(ctxT(t), subjects.KVStream(subjects.LogsBucket))
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetLastMsgForSubject(ctxT(t), subjects.KVSubject(subjects.LogsBucket, subjects.RunKey("chatty", tick(1))))
	if err != nil {
		t.Fatal(err)
	}
	// Lines 0-9, 10-99, 100-999, 1000-9999 and 10000-19999, then END on stderr.
	const printed = 10*(len("line 0 0123456789\n")) + 90*len("line 10 0123456789\n") + 900*len("line 100 0123456789\n") +
		9000*len("line 1000 0123456789\n") + 10000*len("line 10000 0123456789\n") + len("END\n")
	cut := int64(printed - OutputTailSize)
	first, kept, _ := bytes.Cut(m.Data, []byte("\n"))
	if want := subjects.CutLine(cut, OutputTailSize); string(first)+"\n" != want {
		t.Errorf("stored output begins %q, want %q", first, want)
	}
	if len(kept) != OutputTailSize || !bytes.HasSuffix(kept, []byte("line 19999 0123456789\nEND\n")) {
		t.Errorf("tail of %d bytes ending %q", len(kept), kept[max(0, len(kept)-40):])
	}
	if h := m.Header.Get(subjects.OutputCutHeader); h != strconv.FormatInt(cut, 10) {
		t.Errorf("%s header %q, want %d", subjects.OutputCutHeader, h, cut)
	}
}

// A first allocation that printed nothing costs no write to the logs bucket.
func TestQuietRunStoresNoOutput(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	l := e.launch(t, opts.Name, "quiet", tick(1), rawTask(script(t, "exit 0\n")))
	e.waitState(t, l, subjects.StateComplete, 30*time.Second)
	if _, err := e.b.Logs.Get(ctxT(t), subjects.RunKey("quiet", tick(1))); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("logs entry of a quiet run: %v, want none", err)
	}
}

// A runner whose server is cut off from its peers (but still answers it) moves to
// another server, so that its node stays alive.
func TestRunnerLeavesAServerCutOffFromItsPeers(t *testing.T) {
	e := newEnv(t, 3)
	// The runner's connection lists server 0 first, and takes it.
	urls := []string{e.cluster.Servers[0].ClientURL(), e.cluster.Servers[1].ClientURL(), e.cluster.Servers[2].ClientURL()}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	opts := e.options(t, "n1")
	opts.JS, opts.Conn = js, nc
	startRunner(t, opts)
	if got := nc.ConnectedUrl(); got != urls[0] {
		t.Fatalf("runner connected to %s, want %s", got, urls[0])
	}
	// Read through server 1: the isolated server still answers reads, from its copy.
	majority, err := subjects.Bind(ctxT(t), e.connectTo(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	e.cluster.Isolate(0)
	defer e.cluster.Rejoin(t, 0)
	cut := time.Now()
	waitFor(t, 60*time.Second, func() error {
		m, _, err := memberIn(t, majority, "n1")
		if err != nil {
			return err
		}
		if !m.Heartbeat.After(cut.Add(opts.HeartbeatTTL)) {
			return fmt.Errorf("last heartbeat %s, cut at %s", m.Heartbeat.Format(time.RFC3339Nano), cut.Format(time.RFC3339Nano))
		}
		return nil
	})
	if got := nc.ConnectedUrl(); got == urls[0] {
		t.Errorf("runner still connected to the isolated server %s", got)
	}
}

// A consumer deleted under a running runner is made again.
func TestConsumerRecreated(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	e.waitDrained(t, opts.Name)
	if err := e.js.DeleteConsumer(ctxT(t), subjects.RunsStream, subjects.DurableName(opts.Name)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() error {
		_, err := e.js.Consumer(ctxT(t), subjects.RunsStream, subjects.DurableName(opts.Name))
		return err
	})
	// The consumer delivers new messages only: launch once it is back.
	l := e.launch(t, opts.Name, "again", tick(1), rawTask(script(t, "exit 0\n")))
	e.waitState(t, l, subjects.StateComplete, 15*time.Second)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// launchParentAndChild launches, on node, a run of job whose program starts a child
// (sleep 60) and waits for it; it returns the launch and both PIDs, and kills their
// process group when the test ends.
func (e *testEnv) launchParentAndChild(t *testing.T, node, job string) (l *subjects.Launch, parent, child int) {
	t.Helper()
	dir := t.TempDir()
	prog := script(t, `
sleep 60 &
echo $! > "`+dir+`/child"
echo $$ > "`+dir+`/parent"
wait
`)
	l = e.launch(t, node, job, tick(1), rawTask(prog))
	parent, child = readPID(t, dir+"/parent"), readPID(t, dir+"/child")
	killGroupOnCleanup(t, parent, child)
	return l, parent, child
}
