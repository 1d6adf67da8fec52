package runner

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// On a 3-server cluster, with two nodes each connected to its own server, a run
// that keeps failing under restart {attempts: 2, delay: 500ms} runs three times,
// all on the node it was placed on (the other node runs nothing), each restart at
// least the delay after the previous execution ended, and never two executions at
// once: each one's start follows the previous one's end, as the program itself saw
// them. The run then ends failed, with one restarting event per restart.
func TestRestartOnAThreeServerClusterStaysOnItsNodeOneAttemptAtATime(t *testing.T) {
	e := newEnv(t, 3)
	const delay = 500 * time.Millisecond
	n1, n2 := e.options(t, "n1"), e.options(t, "n2")
	n1.JS, n2.JS = e.connectTo(t, 1), e.connectTo(t, 2)
	startRunner(t, n1)
	startRunner(t, n2)
	evs := e.events(t, "flaky")
	dir := t.TempDir()
	// Each execution logs its start and end with the time, and holds a lock
	// directory while it runs: a second execution at once would find it taken.
	prog := script(t, `cd "`+dir+`"
echo "start $JETCRON_NODE $(date +%s.%N)" >> log
mkdir running || echo overlap >> log
sleep 0.2
rmdir running
echo "end $JETCRON_NODE $(date +%s.%N)" >> log
exit 3
`)
	l := e.launchRestart(t, n1.Name, "flaky", tick(1), rawTask(prog), subjects.Restart{Attempts: 2, Delay: subjects.MillisOf(delay)})

	run := e.waitState(t, l, subjects.StateFailed, 30*time.Second)
	if len(run.Allocations) != 3 || run.Restarts != 2 {
		t.Fatalf("record %+v, want 3 allocations, 2 restarts", run)
	}
	first := run.Allocations[0]
	for i, a := range run.Allocations {
		if a.Node != n1.Name || a.Session != first.Session || a.State != subjects.StateFailed || a.Error != "exit code 3" || a.Restart != i {
			t.Errorf("allocation %d %+v, want failed with exit code 3 on n1 (session %s), restart %d", i, a, first.Session, i)
		}
		if i == 0 {
			continue
		}
		prev := run.Allocations[i-1]
		if prev.Finished == nil || a.Started == nil || a.Started.Sub(*prev.Finished) < delay {
			t.Errorf("restart %d started %v, %v after the previous execution ended at %v: want at least %s", i, a.Started, a.Started.Sub(*prev.Finished), prev.Finished, delay)
		}
	}

	log := lines(t, dir+"/log")
	if len(log) != 6 {
		t.Fatalf("program log %q: want 3 executions, a start and an end each", log)
	}
	var lastEnd float64
	for i, line := range log {
		f := strings.Fields(line)
		want := [2]string{"start", "end"}[i%2]
		if len(f) != 3 || f[0] != want || f[1] != n1.Name {
			t.Fatalf("program log %q: line %d is %q, want %q on n1 (never two executions at once, none on n2)", log, i, line, want)
		}
		at, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			t.Fatalf("program log line %q: %v", line, err)
		}
		if want == "start" && i > 0 && at-lastEnd < delay.Seconds() {
			t.Errorf("program log %q: execution %d started %.3fs after the previous one ended, want at least %s", log, i/2+1, at-lastEnd, delay)
		}
		lastEnd = at
	}

	ids := []string{run.Allocations[0].ID, run.Allocations[1].ID, run.Allocations[2].ID}
	want := []string{"running " + ids[0], "restarting " + ids[0], "running " + ids[1], "restarting " + ids[1], "running " + ids[2], "failed " + ids[2]}
	if got := storyOf(e.story(t, evs, l.RunID, 6)); !equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
