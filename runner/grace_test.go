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
	g := e.startGatedRun(t, graceLong)

	g.tr.cancel()
	e.waitStoppingHeartbeats(t, g.opts.Name)
	if run, _, err := e.record(t, g.launch); err != nil || run.State != subjects.StateRunning {
		t.Fatalf("run during the grace: %+v %v, want still running", run, err)
	}

	g.gate.open(t)
	if err := g.tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	run, _, err := e.record(t, g.launch)
	if err != nil {
		t.Fatal(err)
	}
	if cur := run.Current(); run.State != subjects.StateComplete || cur.ExitCode == nil || *cur.ExitCode != 0 || cur.Error != "" {
		t.Errorf("record %+v (alloc %+v), want complete with exit code 0", run, cur)
	}
	if m, _, err := e.member(t, g.opts.Name); err != nil || !m.Left || m.Stopping {
		t.Errorf("node after Run returned: %+v %v, want left and no longer stopping", m, err)
	}
}

// A run still running when the shutdown grace is over has its process group
// killed, and is recorded failed with a reason that names the grace.
func TestStopKillsARunThatOutlivesTheShutdownGrace(t *testing.T) {
	e := newEnv(t, 1)
	evs := e.events(t, gatedJob)
	g := e.startGatedRun(t, time.Second) // its gate is never opened

	if err := g.tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	const reason = "agent shut down: still running after the 1s shutdown grace"
	run, _, err := e.record(t, g.launch)
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
	if ev := waitEvent(t, evs, g.launch.RunID, subjects.StateFailed); ev.Reason != reason {
		t.Errorf("event reason %q, want %q", ev.Reason, reason)
	}
	if !processGone(g.pid) {
		t.Errorf("process %d outlived the runner", g.pid)
	}
}

// A launch published while the runner is stopping is not claimed by it: it stays
// in the stream, unclaimed, after the stopping runner returned, and another runner
// of the node claims and executes it.
func TestLaunchPublishedWhileStoppingIsLeftForAnotherRunner(t *testing.T) {
	e := newEnv(t, 1)
	g := e.startGatedRun(t, graceLong)

	g.tr.cancel()
	e.waitStoppingHeartbeats(t, g.opts.Name)
	later := e.launch(t, g.opts.Name, "report", tick(2), rawTask("/bin/true"))
	e.waitPending(t, g.opts.Name, 1)

	g.gate.open(t)
	if err := g.tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	e.waitState(t, g.launch, subjects.StateComplete, 10*time.Second)
	if run, _, err := e.record(t, later); err != nil || run.State != subjects.StateQueued {
		t.Fatalf("launch published while stopping, after the runner returned: %+v %v, want still queued", run, err)
	}

	other := e.options(t, g.opts.Name) // same node name, its own data dir and node ID
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

// gatedJob is the job of the run startGatedRun launches.
const gatedJob = "backup"

// gatedRun is a runner of node n1 executing a run that ends when its gate opens.
type gatedRun struct {
	opts   Options
	tr     *testRunner
	launch *subjects.Launch
	gate   gate
	pid    int // the run's process, leader of its group
}

// startGatedRun starts a runner of node n1 with the shutdown grace, launches a
// gated run of gatedJob on it, and waits until the run's process runs.
func (e *testEnv) startGatedRun(t *testing.T, grace time.Duration) gatedRun {
	t.Helper()
	g := gatedRun{opts: e.options(t, "n1")}
	g.opts.ShutdownGrace = grace
	g.tr = startRunner(t, g.opts)
	var task job.Task
	task, g.gate = gatedTask(t)
	g.launch = e.launch(t, g.opts.Name, gatedJob, tick(1), task)
	e.waitState(t, g.launch, subjects.StateRunning, 10*time.Second)
	g.pid = readPID(t, g.gate.pid)
	killGroupOnCleanup(t, g.pid)
	return g
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
