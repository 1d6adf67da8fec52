package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// graceLong is the shutdown grace of the tests whose runs end on their own: they
// end when the test lets them, long before it is over even on a slow machine, so
// that the grace never decides their outcome.
const graceLong = 30 * time.Second

// A run still running when the agent stops is left to end within the shutdown
// grace: meanwhile the node keeps heartbeating and says it is stopping, the run
// ends on its own and is recorded complete, and Run then returns with the node
// marked left.
func TestStopLetsARunEndWithinTheShutdownGrace(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	opts.ShutdownGrace = graceLong
	tr := startRunner(t, opts)
	task, gate := gatedTask(t)
	l := e.launch(t, opts.Name, "backup", tick(1), task)
	e.waitState(t, l, subjects.StateRunning, 10*time.Second)
	pid := readPID(t, gate.pid)
	killGroupOnCleanup(t, pid)

	tr.cancel()
	e.waitStoppingHeartbeats(t, opts.Name)
	if run, _, err := e.record(t, l); err != nil || run.State != subjects.StateRunning {
		t.Fatalf("run during the grace: %+v %v, want still running", run, err)
	}

	gate.open(t)
	if err := tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	run, _, err := e.record(t, l)
	if err != nil {
		t.Fatal(err)
	}
	if cur := run.Current(); run.State != subjects.StateComplete || cur.ExitCode == nil || *cur.ExitCode != 0 || cur.Error != "" {
		t.Errorf("record %+v (alloc %+v), want complete with exit code 0", run, cur)
	}
	if m, _, err := e.member(t, opts.Name); err != nil || !m.Left || m.Stopping {
		t.Errorf("node after Run returned: %+v %v, want left and no longer stopping", m, err)
	}
}

// A run still running when the shutdown grace is over has its process group
// killed, and is recorded failed with a reason that names the grace.
func TestStopKillsARunThatOutlivesTheShutdownGrace(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	opts.ShutdownGrace = time.Second
	tr := startRunner(t, opts)
	evs := e.events(t, "backup")
	task, gate := gatedTask(t) // never opened
	l := e.launch(t, opts.Name, "backup", tick(1), task)
	e.waitState(t, l, subjects.StateRunning, 10*time.Second)
	pid := readPID(t, gate.pid)
	killGroupOnCleanup(t, pid)

	if err := tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	const reason = "agent shut down: still running after the 1s shutdown grace"
	run, _, err := e.record(t, l)
	if err != nil {
		t.Fatal(err)
	}
	cur := run.Current()
	if run.State != subjects.StateFailed || cur.Error != reason {
		t.Errorf("record %+v (alloc %+v), want failed with %q", run, cur, reason)
	}
	if cur.ExitCode == nil || *cur.ExitCode != 128+15 {
		t.Errorf("exit code %v, want 143 (SIGTERM)", cur.ExitCode)
	}
	if ev := waitEvent(t, evs, l.RunID, subjects.StateFailed); ev.Reason != reason {
		t.Errorf("event reason %q, want %q", ev.Reason, reason)
	}
	if !processGone(pid) {
		t.Errorf("process %d outlived the runner", pid)
	}
}

// A launch published while the runner is stopping is not claimed by it: it stays
// in the stream, unclaimed, after the stopping runner returned, and another runner
// of the node claims and executes it.
func TestLaunchPublishedWhileStoppingIsLeftForAnotherRunner(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	opts.ShutdownGrace = graceLong
	tr := startRunner(t, opts)
	task, gate := gatedTask(t)
	first := e.launch(t, opts.Name, "backup", tick(1), task)
	e.waitState(t, first, subjects.StateRunning, 10*time.Second)
	killGroupOnCleanup(t, readPID(t, gate.pid))

	tr.cancel()
	e.waitStoppingHeartbeats(t, opts.Name)
	later := e.launch(t, opts.Name, "report", tick(2), rawTask("/bin/true"))
	e.waitPending(t, opts.Name, 1)

	gate.open(t)
	if err := tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	e.waitState(t, first, subjects.StateComplete, 10*time.Second)
	if run, _, err := e.record(t, later); err != nil || run.State != subjects.StateQueued {
		t.Fatalf("launch published while stopping, after the runner returned: %+v %v, want still queued", run, err)
	}

	other := e.options(t, opts.Name) // same node name, its own data dir and node ID
	startRunner(t, other)
	run := e.waitState(t, later, subjects.StateComplete, 20*time.Second)
	otherID, err := os.ReadFile(filepath.Join(other.DataDir, NodeIDFile))
	if err != nil {
		t.Fatal(err)
	}
	if cur := run.Current(); cur.NodeID != strings.TrimSpace(string(otherID)) {
		t.Errorf("claimed by node ID %s, want the other runner's %s", cur.NodeID, otherID)
	}
}

// gate is the pair of files of a gated task: its program writes its pid to pid,
// and runs until the file flag exists.
type gate struct{ pid, flag string }

// gatedTask returns a task that runs until its gate is opened.
func gatedTask(t *testing.T) (job.Task, gate) {
	t.Helper()
	dir := t.TempDir()
	g := gate{pid: filepath.Join(dir, "pid"), flag: filepath.Join(dir, "go")}
	prog := script(t, `echo $$ > "`+g.pid+`"
while [ ! -e "`+g.flag+`" ]; do sleep 0.05; done
`)
	return rawTask(prog), g
}

// open lets the gated task end.
func (g gate) open(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(g.flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitStoppingHeartbeats waits until the node's record says it is stopping, and then
// until a later heartbeat still does: a stopping node goes on heartbeating.
func (e *testEnv) waitStoppingHeartbeats(t *testing.T, name string) {
	t.Helper()
	var first time.Time
	waitFor(t, 10*time.Second, func() error {
		m, _, err := e.member(t, name)
		switch {
		case err != nil:
			return err
		case !m.Stopping || m.Left:
			return fmt.Errorf("node %s: stopping %v, left %v; want stopping", name, m.Stopping, m.Left)
		case first.IsZero():
			first = m.Heartbeat
			return fmt.Errorf("node %s stopping since heartbeat %s; waiting for the next", name, first)
		case !m.Heartbeat.After(first):
			return fmt.Errorf("node %s: no heartbeat after %s while stopping", name, first)
		}
		return nil
	})
}

// waitPending waits until n launches addressed to node wait in the stream, not
// delivered to any runner.
func (e *testEnv) waitPending(t *testing.T, node string, n uint64) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		c, err := e.js.Consumer(ctxT(t), subjects.RunsStream, subjects.DurableName(node))
		if err != nil {
			return err
		}
		info, err := c.Info(ctxT(t))
		if err != nil {
			return err
		}
		if info.NumPending != n || info.NumAckPending != 0 {
			return fmt.Errorf("consumer %s: %d pending, %d unacked; want %d pending", info.Name, info.NumPending, info.NumAckPending, n)
		}
		return nil
	})
}
