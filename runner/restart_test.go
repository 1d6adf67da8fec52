package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/metrics"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// A run whose first execution fails and whose second succeeds, under
// restart {attempts: 2, delay: 1s}, ends complete with two allocations on the same
// node and runner: the first failed with its exit code, the second complete and
// marked restart 1 of 2, started a delay after the first ended. Both ran in the
// task's work_dir, which is left in place. The run's story is running, restarting,
// running, complete: it counts once, complete, and its start delay once.
func TestRestartAfterFailureCompletes(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	evs := e.events(t, "flaky")
	dir := t.TempDir()
	prog := script(t, `n=$(( $(cat count 2>/dev/null || echo 0) + 1 )); echo $n > count
echo "attempt $n in $(pwd)"
[ $n -ge 2 ] || exit 3
`)
	task := rawTask(prog)
	task.WorkDir = dir
	l := e.launchRestart(t, opts.Name, "flaky", tick(1), task, subjects.Restart{Attempts: 2, Delay: 1000})

	run := e.waitState(t, l, subjects.StateComplete, 30*time.Second)
	if len(run.Allocations) != 2 {
		t.Fatalf("allocations %+v, want 2", run.Allocations)
	}
	first, second := run.Allocations[0], run.Allocations[1]
	if first.State != subjects.StateFailed || first.ExitCode == nil || *first.ExitCode != 3 || first.Error != "exit code 3" || first.Restart != 0 {
		t.Errorf("first allocation %+v, want failed with exit code 3", first)
	}
	if second.State != subjects.StateComplete || second.ExitCode == nil || *second.ExitCode != 0 ||
		second.Restart != 1 || second.RestartOf != 2 || !strings.HasPrefix(second.Reason, "restart 1 of 2 at ") ||
		!strings.HasSuffix(second.Reason, " after exit code 3") {
		t.Errorf("second allocation %+v, want complete, restart 1 of 2 after exit code 3", second)
	}
	if second.Node != first.Node || second.NodeID != first.NodeID || second.Session != first.Session || second.ID == first.ID {
		t.Errorf("restart on %s/%s/%s as %s, want the first's node, node ID and session, its own ID", second.Node, second.NodeID, second.Session, second.ID)
	}
	if first.Finished == nil || second.Started == nil || second.Started.Sub(*first.Finished) < time.Second {
		t.Errorf("restart started %v after the failure ended at %v, want the 1s delay", second.Started, first.Finished)
	}
	if run.Restarts != 1 || run.Attempts != 0 {
		t.Errorf("restarts %d, attempts %d: want 1 and 0", run.Restarts, run.Attempts)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "count")); err != nil || strings.TrimSpace(string(b)) != "2" {
		t.Errorf("work_dir count file %q (%v), want 2 executions in the work_dir, left in place", b, err)
	}
	logs, err := e.b.Logs.Get(ctxT(t), subjects.RunKey("flaky", tick(1)))
	if err != nil {
		t.Fatal(err)
	}
	want := "attempt 1 in " + dir + "\n--- jetcron: " + second.Reason + " ---\nattempt 2 in " + dir + "\n"
	if got := string(logs.Value()); got != want {
		t.Errorf("output %q, want %q", got, want)
	}

	story := e.story(t, evs, l.RunID, 4)
	wantStory := []string{"running " + first.ID, "restarting " + first.ID, "running " + second.ID, "complete " + second.ID}
	if got := storyOf(story); !equal(got, wantStory) {
		t.Fatalf("events %q, want %q", got, wantStory)
	}
	if ev := story[1]; ev.ExitCode == nil || *ev.ExitCode != 3 || ev.Reason != second.Reason {
		t.Errorf("restarting event %+v, want exit code 3 and the restart's reason", ev)
	}
	if story[2].Restart != 1 || story[3].Restart != 1 {
		t.Errorf("restart's events %+v, want restart 1", story[2:])
	}
	m, err := metrics.New(metrics.Options{JS: e.js, Client: operator.New(e.nc, e.js, "s1"), Name: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range story {
		m.Observe(&story[i])
	}
	text := scrapeMetrics(t, m)
	for _, w := range []string{`jetcron_runs_total{job="flaky",outcome="complete"} 1`, `jetcron_run_start_delay_seconds_count 1`} {
		if !strings.Contains(text, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	if strings.Contains(text, `outcome="failed"`) || strings.Contains(text, `outcome="restarting"`) {
		t.Errorf("a restarted run that completed counted as failed or restarting")
	}
}

// A run whose executions all fail ends failed once its restarts are spent: three
// allocations under restart {attempts: 2}, each failed with its error, one final
// failed event after two restarting ones. A start error (a work_dir missing on the
// node) is restarted like any failure. Without a work_dir, the restarts run in the
// run's fresh directory, removed when the run ends.
func TestRestartsSpentEndTheRunFailed(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	out := t.TempDir()
	prog := script(t, `pwd >> "`+out+`/dirs"; exit 3`+"\n")
	missing := filepath.Join(t.TempDir(), "gone")
	noDir := rawTask(prog)
	noDir.WorkDir = missing
	cases := []struct {
		name, errIs string
		task        job.Task
		exitCode    int // -1: none
		executions  int
	}{
		{"exit code", "exit code 3", rawTask(prog), 3, 3},
		{"work_dir missing", "work_dir " + missing + " does not exist on node n1", noDir, -1, 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(out + "/dirs")
			evs := e.events(t, "failing")
			l := e.launchRestart(t, opts.Name, "failing", tick(i), c.task, subjects.Restart{Attempts: 2, Delay: 200})
			run := e.waitState(t, l, subjects.StateFailed, 30*time.Second)
			if len(run.Allocations) != 3 || run.Restarts != 2 {
				t.Fatalf("record %+v, want 3 allocations, 2 restarts", run)
			}
			for j, a := range run.Allocations {
				if a.State != subjects.StateFailed || a.Error != c.errIs || a.Restart != j ||
					(c.exitCode < 0) != (a.ExitCode == nil) || a.ExitCode != nil && *a.ExitCode != c.exitCode {
					t.Errorf("allocation %d %+v, want failed with %q, restart %d", j, a, c.errIs, j)
				}
			}
			story := e.story(t, evs, l.RunID, 6)
			ids := []string{run.Allocations[0].ID, run.Allocations[1].ID, run.Allocations[2].ID}
			want := []string{"running " + ids[0], "restarting " + ids[0], "running " + ids[1], "restarting " + ids[1],
				"running " + ids[2], "failed " + ids[2]}
			if got := storyOf(story); !equal(got, want) {
				t.Errorf("events %q, want %q", got, want)
			}
			dirs := lines(t, out+"/dirs")
			if len(dirs) != c.executions {
				t.Fatalf("%d executions, want %d", len(dirs), c.executions)
			}
			for _, d := range dirs {
				if d != dirs[0] {
					t.Errorf("restarts ran in %q, want the run's one directory %s", dirs, dirs[0])
				}
			}
			if len(dirs) > 0 {
				if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the run's directory %s outlived it: %v", dirs[0], err)
				}
			}
		})
	}
}

// The fence: when the ticker declares the run lost while its restart waits for its
// delay (this host was paused, say), the restart's start is a revision-checked write
// that conflicts, and nothing starts: the program ran once, and the record stays as
// the ticker wrote it.
func TestRestartNotStartedOnceDeclaredLostDuringItsDelay(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	evs := e.events(t, "fenced")
	count := filepath.Join(t.TempDir(), "count")
	prog := script(t, `echo x >> "`+count+`"; exit 3`+"\n")
	l := e.launchRestart(t, opts.Name, "fenced", tick(1), rawTask(prog), subjects.Restart{Attempts: 2, Delay: 3000})

	var run subjects.Run
	var rev uint64
	waitFor(t, 20*time.Second, func() error {
		var err error
		run, rev, err = e.record(t, l)
		if cur := run.Current(); err == nil && (cur == nil || cur.Restart != 1 || cur.State != subjects.StateQueued) {
			err = fmt.Errorf("record %+v: no queued restart yet", run)
		}
		return err
	})
	// Play the ticker's sweep: the node missed its heartbeats.
	now := time.Now().UTC()
	cur := run.Current()
	cur.State, cur.Error, cur.Finished = subjects.StateLost, "node n1 stopped heartbeating", &now
	run.State = subjects.StateLost
	data, _ := json.Marshal(&run)
	lostRev, err := e.b.Runs.Update(ctxT(t), subjects.RunKey("fenced", tick(1)), data, rev)
	if err != nil {
		t.Fatal(err)
	}
	due := run.Allocations[0].Finished.Add(3 * time.Second)
	time.Sleep(time.Until(due.Add(2 * time.Second)))

	if n := len(lines(t, count)); n != 1 {
		t.Errorf("the program ran %d times, want once: the restart started on a run declared lost", n)
	}
	after, afterRev, err := e.record(t, l)
	if err != nil || afterRev != lostRev || after.State != subjects.StateLost {
		t.Errorf("record after the delay: %+v (revision %d, want %d, lost) %v", after, afterRev, lostRev, err)
	}
	for _, ev := range evs() {
		if ev.RunID == l.RunID && ev.Restart > 0 {
			t.Errorf("an event of the restart that must not start: %+v", ev)
		}
	}
}

// The write that schedules a restart is fenced too: when the ticker declared the run
// lost between the end of its execution and that write (this host paused right
// then), the write conflicts, no restart is appended, and the end is published as
// finished after being declared lost. The program hands over through two FIFOs so
// that the test declares the run lost while it is still running but about to exit,
// between two fence checks (heartbeats every 10 s).
func TestRestartNotScheduledOnceDeclaredLost(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	opts.HeartbeatInterval, opts.HeartbeatTTL = 10*time.Second, 30*time.Second
	startRunner(t, opts)
	evs := e.events(t, "late")
	dir := t.TempDir()
	ready, proceed := filepath.Join(dir, "ready"), filepath.Join(dir, "go")
	for _, f := range []string{ready, proceed} {
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	prog := script(t, `echo x >> "`+dir+`/count"; echo ready > "`+ready+`"; read x < "`+proceed+`"; exit 3`+"\n")
	l := e.launchRestart(t, opts.Name, "late", tick(1), rawTask(prog), subjects.Restart{Attempts: 2, Delay: 100})

	if b, err := os.ReadFile(ready); err != nil || strings.TrimSpace(string(b)) != "ready" {
		t.Fatalf("read %s: %q %v", ready, b, err)
	}
	lostRev := e.declareLost(t, l)
	if err := os.WriteFile(proceed, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, evs, l.RunID, subjects.StateFailed)
	if want := ReasonFinishedLost + ": exit code 3"; ev.Reason != want {
		t.Fatalf("final event reason %q, want %q (the program must exit on its own, not be killed by the fence)", ev.Reason, want)
	}
	time.Sleep(500 * time.Millisecond) // five restart delays
	run, rev, err := e.record(t, l)
	if err != nil || rev != lostRev || run.State != subjects.StateLost || len(run.Allocations) != 1 {
		t.Errorf("record %+v (revision %d, want %d): want it as the ticker left it, lost, no restart", run, rev, lostRev)
	}
	if n := len(lines(t, dir+"/count")); n != 1 {
		t.Errorf("the program ran %d times, want once", n)
	}
}

// A run killed because it was declared lost, or by the agent's shutdown grace, is
// not restarted, whatever its restart policy.
func TestNotRestartedWhenKilled(t *testing.T) {
	cases := []struct {
		name  string
		kill  func(t *testing.T, e *testEnv, tr *testRunner, l *subjects.Launch)
		state subjects.RunState
		err   string
	}{
		{"declared lost", func(t *testing.T, e *testEnv, _ *testRunner, l *subjects.Launch) { _ = e.declareLost(t, l) },
			subjects.StateLost, "node n1 stopped heartbeating"},
		{"killed by the shutdown grace", func(t *testing.T, _ *testEnv, tr *testRunner, _ *subjects.Launch) { tr.stop(t) },
			subjects.StateFailed, "agent shut down: still running after the 1s shutdown grace"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 1)
			opts := e.options(t, "n1")
			opts.ShutdownGrace = time.Second
			tr := startRunner(t, opts)
			dir := t.TempDir()
			prog := script(t, `echo $$ >> "`+dir+`/pids"; while :; do sleep 0.05; done`+"\n")
			l := e.launchRestart(t, opts.Name, "killed", tick(1), rawTask(prog), subjects.Restart{Attempts: 2, Delay: 100})
			e.waitState(t, l, subjects.StateRunning, 10*time.Second)
			pid := readPID(t, dir+"/pids")
			killGroupOnCleanup(t, pid)

			c.kill(t, e, tr, l)
			waitGone(t, 10*time.Second, pid)
			time.Sleep(time.Second) // ten restart delays
			run, _, err := e.record(t, l)
			if err != nil {
				t.Fatal(err)
			}
			if cur := run.Current(); len(run.Allocations) != 1 || run.State != c.state || cur.Error != c.err {
				t.Errorf("record %+v, want one allocation, %s with %q", run, c.state, c.err)
			}
			if n := len(lines(t, dir+"/pids")); n != 1 {
				t.Errorf("the program ran %d times, want once", n)
			}
		})
	}
}

// An agent that stops while a restart waits for its delay ends the run failed at
// once, without starting the restart: its allocation, never started, says why.
func TestStopDuringRestartDelayEndsTheRunFailed(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	opts.ShutdownGrace = graceLong
	tr := startRunner(t, opts)
	evs := e.events(t, "pending")
	count := filepath.Join(t.TempDir(), "count")
	prog := script(t, `echo x >> "`+count+`"; exit 3`+"\n")
	l := e.launchRestart(t, opts.Name, "pending", tick(1), rawTask(prog), subjects.Restart{Attempts: 2, Delay: 60_000})
	waitFor(t, 20*time.Second, func() error {
		run, _, err := e.record(t, l)
		if cur := run.Current(); err == nil && (cur == nil || cur.Restart != 1) {
			err = fmt.Errorf("record %+v: no restart yet", run)
		}
		return err
	})

	stopped := time.Now()
	if err := tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(stopped); d > 15*time.Second {
		t.Errorf("the stop took %s: it waited for the restart", d)
	}
	const reason = "agent shut down before restart 1 of 2"
	run, _, err := e.record(t, l)
	if err != nil {
		t.Fatal(err)
	}
	if cur := run.Current(); run.State != subjects.StateFailed || len(run.Allocations) != 2 ||
		cur.State != subjects.StateFailed || cur.Error != reason || cur.Started != nil || cur.Restart != 1 {
		t.Errorf("record %+v (current %+v), want failed, the restart's allocation failed with %q, never started", run, cur, reason)
	}
	if n := len(lines(t, count)); n != 1 {
		t.Errorf("the program ran %d times, want once", n)
	}
	if ev := waitEvent(t, evs, l.RunID, subjects.StateFailed); ev.Reason != reason {
		t.Errorf("final event %+v, want failed with %q", ev, reason)
	}
}

// An execution that fails on its own while the agent stops is not restarted: the
// stopping node takes no new work. Its error says which restart it did not get.
func TestFailureWhileStoppingIsNotRestarted(t *testing.T) {
	e := newEnv(t, 1)
	opts := e.options(t, "n1")
	opts.ShutdownGrace = graceLong
	tr := startRunner(t, opts)
	dir := t.TempDir()
	g := gate{pid: filepath.Join(dir, "pid"), flag: filepath.Join(dir, "go")}
	prog := script(t, `echo $$ > "`+g.pid+`"
while [ ! -e "`+g.flag+`" ]; do sleep 0.05; done
exit 3
`)
	l := e.launchRestart(t, opts.Name, "stopping", tick(1), rawTask(prog), subjects.Restart{Attempts: 2, Delay: 100})
	e.waitState(t, l, subjects.StateRunning, 10*time.Second)
	killGroupOnCleanup(t, readPID(t, g.pid))

	tr.cancel()
	e.waitStoppingHeartbeats(t, opts.Name)
	g.open(t)
	if err := tr.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	run, _, err := e.record(t, l)
	if err != nil {
		t.Fatal(err)
	}
	const want = "exit code 3; agent shut down before restart 1 of 2"
	if cur := run.Current(); run.State != subjects.StateFailed || len(run.Allocations) != 1 || cur.Error != want {
		t.Errorf("record %+v, want one allocation, failed with %q", run, want)
	}
}

// launchRestart places a run with the restart policy and publishes its launch.
func (e *testEnv) launchRestart(t *testing.T, node, jobName string, tick time.Time, task job.Task, r subjects.Restart) *subjects.Launch {
	t.Helper()
	l := e.place(t, node, jobName, tick, task)
	l.Restart = r
	e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc))
	return l
}

// declareLost plays the ticker's sweep on a running run: its current allocation is
// lost, with a revision-checked update. It returns the revision written.
func (e *testEnv) declareLost(t *testing.T, l *subjects.Launch) uint64 {
	t.Helper()
	run, rev, err := e.record(t, l)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	cur := run.Current()
	cur.State, cur.Error, cur.Finished = subjects.StateLost, "node n1 stopped heartbeating", &now
	run.State = subjects.StateLost
	data, _ := json.Marshal(&run)
	key, _ := subjects.RunKeyOf(l.RunID)
	lostRev, err := e.b.Runs.Update(ctxT(t), key, data, rev)
	if err != nil {
		t.Fatal(err)
	}
	return lostRev
}

// story waits for n events of the run and returns them in the order published.
func (e *testEnv) story(t *testing.T, got func() []subjects.Event, runID string, n int) []subjects.Event {
	t.Helper()
	var evs []subjects.Event
	waitFor(t, 10*time.Second, func() error {
		evs = evs[:0]
		for _, ev := range got() {
			if ev.RunID == runID {
				evs = append(evs, ev)
			}
		}
		if len(evs) < n {
			return fmt.Errorf("%d events of %s, want %d: %q", len(evs), runID, n, storyOf(evs))
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // an event too many would come now
	evs = evs[:0]
	for _, ev := range got() {
		if ev.RunID == runID {
			evs = append(evs, ev)
		}
	}
	return evs
}

// storyOf is each event's state and allocation.
func storyOf(evs []subjects.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = string(ev.State) + " " + ev.AllocID
	}
	return out
}

// scrapeMetrics returns the text of one scrape of m.
func scrapeMetrics(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
