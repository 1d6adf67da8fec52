package main

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/subjects"
)

func TestRunLogsPrintsCapturedOutput(t *testing.T) {
	e := newTestEnv(t)
	tick := time.Unix(1476824400, 0)
	out := "dumping galera...\nwarning: slow\ndone\n"
	if _, err := e.b.Logs.Put(ctxT(t), subjects.RunKey("mysql-backup", tick), []byte(out)); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(cmdRunLogs, "mysql-backup/periodic-1476824400")
	if code != exitOK || stdout != out || stderr != "" {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestRunLogsWithoutOutputSaysWhy(t *testing.T) {
	e := newTestEnv(t)
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateRunning})
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476828000", Job: "mysql-backup", Scheduled: 1476828000, State: subjects.StateComplete})
	for _, tc := range []struct {
		run    string
		code   int
		stderr string
	}{
		{"mysql-backup/periodic-1476824400", exitOK, "Run \"mysql-backup/periodic-1476824400\" is running: no output captured yet\n"},
		{"mysql-backup/periodic-1476828000", exitOK, "Run \"mysql-backup/periodic-1476828000\" (complete) left no captured output\n"},
		{"mysql-backup/periodic-1476831600", exitError, "Error: run \"mysql-backup/periodic-1476831600\" not found\n"},
		{"mysql-backup", exitError, "Error: run ID \"mysql-backup\": want <job>/periodic-<unix seconds>[/<node>]: malformed name\n"},
	} {
		stdout, stderr, code := e.run(cmdRunLogs, tc.run)
		if code != tc.code || stdout != "" || stderr != tc.stderr {
			t.Errorf("%s: code %d stdout %q stderr %q", tc.run, code, stdout, stderr)
		}
	}
}

func TestRunLogsOfAFailedRunSayExitCodeAndError(t *testing.T) {
	e := newTestEnv(t)
	tick := time.Unix(1476824400, 0)
	out := "connecting...\n"
	if _, err := e.b.Logs.Put(ctxT(t), subjects.RunKey("mysql-backup", tick), []byte(out)); err != nil {
		t.Fatal(err)
	}
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateFailed,
		Allocations: []subjects.Allocation{{ID: "a1", State: subjects.StateFailed, ExitCode: ptr(2), Error: "exit status 2"}}})
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476828000", Job: "mysql-backup", Scheduled: 1476828000, State: subjects.StateFailed,
		Allocations: []subjects.Allocation{{ID: "a2", State: subjects.StateFailed, Error: "timed out after 3s"}}})

	stdout, stderr, code := e.run(cmdRunLogs, "mysql-backup/periodic-1476824400")
	if code != exitOK || stdout != out || stderr != "Run \"mysql-backup/periodic-1476824400\" failed: exit code 2: exit status 2\n" {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = e.run(cmdRunLogs, "mysql-backup/periodic-1476828000")
	if code != exitOK || stdout != "" || stderr != "Run \"mysql-backup/periodic-1476828000\" failed: no exit code: timed out after 3s\n" {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestRunLogsFollowWaitsForTheRunToEndAndPrintsItsOutput(t *testing.T) {
	e := newTestEnv(t)
	id := "mysql-backup/periodic-1476824400"
	running := subjects.Run{ID: id, Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateRunning,
		Allocations: []subjects.Allocation{{ID: "a1", State: subjects.StateRunning}}}
	putRun(t, e, running)

	type result struct {
		stdout, stderr string
		code           int
	}
	done := make(chan result, 1)
	go func() {
		stdout, stderr, code := e.run(cmdRunLogs, "-f", id)
		done <- result{stdout, stderr, code}
	}()
	// The end below must reach the follower as a change: wait until it watches.
	waitWatched(t, e)
	select {
	case r := <-done:
		t.Fatalf("run logs -f returned while the run runs: %+v", r)
	default:
	}
	if _, err := e.b.Logs.Put(ctxT(t), subjects.RunKey("mysql-backup", time.Unix(1476824400, 0)), []byte("connecting...\n")); err != nil {
		t.Fatal(err)
	}
	failed := running
	failed.State = subjects.StateFailed
	failed.Allocations = []subjects.Allocation{{ID: "a1", State: subjects.StateFailed, ExitCode: ptr(2), Error: "exit status 2"}}
	putRun(t, e, failed)

	select {
	case r := <-done:
		if r.code != exitOK || r.stdout != "connecting...\n" || r.stderr != "Run \""+id+"\" failed: exit code 2: exit status 2\n" {
			t.Fatalf("code %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run logs -f did not return after the run ended")
	}
}

// waitWatched waits until a follower watches a run record (a consumer on the runs
// bucket's stream): it subscribed to the run's live output before.
func waitWatched(t *testing.T, e *testEnv) {
	t.Helper()
	stream, err := e.js.Stream(ctxT(t), subjects.KVStream(subjects.RunStateBucket))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if info, err := stream.Info(ctxT(t)); err == nil && info.State.Consumers > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("run logs -f never watched the run")
		}
	}
}

// run logs -f prints a line of a running run as the runner publishes it live, then
// only what the stored output adds once the run ended: nothing twice.
func TestRunLogsFollowPrintsALineOfARunningRunBeforeItEnds(t *testing.T) {
	e := newTestEnv(t)
	id := "mysql-backup/periodic-1476824400"
	key := subjects.RunKey("mysql-backup", time.Unix(1476824400, 0))
	running := subjects.Run{ID: id, Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateRunning,
		Allocations: []subjects.Allocation{{ID: "a1", State: subjects.StateRunning}}}
	putRun(t, e, running)

	var stdout, stderr embedtest.LogBuffer
	done := make(chan int, 1)
	go func() { done <- cmdRunLogs([]string{"-address", e.url, "-f", id}, &stdout, &stderr) }()
	waitWatched(t, e)
	// The runner's live publish: the line, at its offset in the run's output.
	m := nats.NewMsg(subjects.OutputSubject(key))
	m.Header.Set(subjects.OutputOffsetHeader, "0")
	m.Data = []byte("connecting...\n")
	if err := e.js.Conn().PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); stdout.String() != "connecting...\n"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("run logs -f printed %q while the run runs, want its live line", stdout.String())
		}
	}
	select {
	case code := <-done:
		t.Fatalf("run logs -f returned %d while the run runs", code)
	default:
	}
	if _, err := e.b.Logs.Put(ctxT(t), key, []byte("connecting...\ndone\n")); err != nil {
		t.Fatal(err)
	}
	complete := running
	complete.State = subjects.StateComplete
	complete.Allocations = []subjects.Allocation{{ID: "a1", State: subjects.StateComplete, ExitCode: ptr(0)}}
	putRun(t, e, complete)
	select {
	case code := <-done:
		if code != exitOK || stdout.String() != "connecting...\ndone\n" || stderr.String() != "" {
			t.Fatalf("code %d stdout %q stderr %q", code, stdout.String(), stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run logs -f did not return after the run ended")
	}
}
