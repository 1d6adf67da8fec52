package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/runner"
	"github.com/jetcron/jetcron/subjects"
	"github.com/jetcron/jetcron/ticker"
)

// tickerCluster is a real 3-server cluster with R3 buckets, a ticker on each server
// (connected to it alone, so it dies with it) and one runner host.
type tickerCluster struct {
	t      *testing.T
	c      *embedtest.Cluster
	b      *subjects.Buckets
	op     *operator.Client
	ledger string
	script string
	stops  map[string]func()
}

func newTickerCluster(t *testing.T) *tickerCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a 3-server cluster")
	}
	c := embedtest.NewCluster(t, 3)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := subjects.Provision(ctx, js, subjects.DefaultLayout(3, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := subjects.Bind(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tc := &tickerCluster{t: t, c: c, b: b, op: operator.New(nc, js, c.AllURLs()),
		ledger: filepath.Join(dir, "ledger"), script: filepath.Join(dir, "job.sh"), stops: map[string]func(){}}
	script := "#!/bin/sh\necho \"$JETCRON_RUN_ID start\" >> " + tc.ledger + "\n"
	if err := os.WriteFile(tc.script, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	for i := range 3 {
		nc, err := nats.Connect(c.Servers[i].ClientURL(), nats.MaxReconnects(0))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		tk, err := ticker.New(ticker.Options{Conn: nc, JS: js, Name: c.Servers[i].Name(), Logger: &log, StepDown: true})
		if err != nil {
			t.Fatal(err)
		}
		tc.start("ticker-"+c.Servers[i].Name(), tk.Run)
	}
	rnc := c.Connect(t)
	rjs, _ := jetstream.New(rnc)
	r, err := runner.New(runner.Options{
		JS: rjs, Conn: rnc, Name: "host-1", DataDir: t.TempDir(), ClientOptions: map[string]string{"driver.raw_exec.enable": "1"},
		HeartbeatInterval: 500 * time.Millisecond, HeartbeatTTL: 2 * time.Second, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.start("runner", r.Run)
	waitUntil(t, 30*time.Second, "the runner host to register", func() bool {
		nodes, err := tc.op.Nodes(t.Context(), time.Now(), nil)
		return err == nil && len(nodes) == 1 && nodes[0].Status == subjects.StatusReady
	})
	return tc
}

// start runs fn until stop(name) or the test's end.
func (tc *tickerCluster) start(name string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = fn(ctx) }()
	tc.stops[name] = func() { cancel(); <-done }
	tc.t.Cleanup(func() { tc.stop(name) })
}

func (tc *tickerCluster) stop(name string) {
	if stop := tc.stops[name]; stop != nil {
		delete(tc.stops, name)
		stop()
	}
}

// cli runs a command against the servers that are up, and fails the test unless it
// exits 0.
func (tc *tickerCluster) cli(fn cmdFunc, args ...string) string {
	tc.t.Helper()
	stdout, stderr, code := runCmd(fn, append([]string{"-address", tc.c.URLs()}, args...)...)
	if code != exitOK {
		tc.t.Fatalf("%v: code %d stderr %q", args, code, stderr)
	}
	return stdout
}

// lockHolder is the name of the server whose ticker holds the lock, "" for none.
func (tc *tickerCluster) lockHolder() string {
	l, err := tc.op.Lock(tc.t.Context())
	if err != nil || l == nil {
		return ""
	}
	return l.Holder
}

// executions reads the ledger: how many times each run ID started.
func (tc *tickerCluster) executions() map[string]int {
	data, _ := os.ReadFile(tc.ledger)
	out := map[string]int{}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			out[f[0]]++
		}
	}
	return out
}

// record reads the run record of job's tick, false while it has none.
func (tc *tickerCluster) record(name string, tick int64) (subjects.Run, bool) {
	ctx, cancel := context.WithTimeout(tc.t.Context(), 5*time.Second)
	defer cancel()
	e, err := tc.b.Runs.Get(ctx, subjects.RunKey(name, time.Unix(tick, 0)))
	if err != nil {
		return subjects.Run{}, false
	}
	var r subjects.Run
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		tc.t.Fatal(err)
	}
	return r, true
}

func waitUntil(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAPauseSurvivesTheLeadersDeathAndResumingLaunchesOnlyTheTicksAfterIt pauses a
// per-second job on a 3-server cluster, kills the server whose ticker holds the lock
// while it is paused, and resumes it: every tick of the paused span is recorded
// skipped with the note, by the old holder and by the new one, none of them ever
// executes, and the ticks after the resume launch.
func TestAPauseSurvivesTheLeadersDeathAndResumingLaunchesOnlyTheTicksAfterIt(t *testing.T) {
	tc := newTickerCluster(t)
	const name, note = "every-second", "db migration"
	file := fmt.Sprintf("datacenters: [dc1]\n# runs the ledger script\nperiodic: {cron: \"@every 1s\"}\ntask: {driver: raw_exec, config: {command: %s}}\n", tc.script)
	tc.cli(cmdJobRun, "-count", "0", writeFile(t, name+".yaml", file))
	first := time.Now().Unix() + 1
	waitUntil(t, 30*time.Second, "the job to run", func() bool { return len(tc.executions()) >= 2 })

	pauseSent := time.Now()
	tc.cli(cmdJobPause, "-note", note, name)
	pauseAcked := time.Now()
	time.Sleep(2500 * time.Millisecond) // ticks skipped by the first holder

	holder := tc.lockHolder()
	killed := tc.c.Index(holder)
	if killed < 0 {
		t.Fatalf("lock holder %q is not a server", holder)
	}
	killedAt := time.Now()
	tc.c.Kill(killed)
	tc.stop("ticker-" + holder)
	waitUntil(t, 30*time.Second, "a new lock holder", func() bool { h := tc.lockHolder(); return h != "" && h != holder })
	newHolder := tc.lockHolder()
	time.Sleep(3 * time.Second) // ticks skipped by the new holder

	// The pause is in the stored file, which the new holder read.
	stored, err := tc.b.Jobs.Get(t.Context(), name)
	if err != nil || !strings.Contains(string(stored.Value()), "paused: true\npause_note: db migration\n") || !strings.Contains(string(stored.Value()), "# runs the ledger script") {
		t.Fatalf("stored file %v:\n%s", err, stored.Value())
	}
	resumeSent := time.Now()
	tc.cli(cmdJobResume, name)
	resumeAcked := time.Now()
	time.Sleep(5 * time.Second)
	last := time.Now().Unix() - 2

	waitUntil(t, 20*time.Second, "the last tick's run to end", func() bool {
		r, ok := tc.record(name, last)
		return ok && r.State.Terminal()
	})
	execs := tc.executions()
	var skippedByNew, launchedAfter int
	for tick := first; tick <= last; tick++ {
		r, ok := tc.record(name, tick)
		for deadline := time.Now().Add(15 * time.Second); !ok && time.Now().Before(deadline); r, ok = tc.record(name, tick) {
			time.Sleep(100 * time.Millisecond) // a catch-up may still be under way
		}
		at := time.Unix(tick, 0)
		paused := r.State == subjects.StateSkipped && r.Reason == "paused: "+note
		ran := execs[subjects.RunID(name, at)]
		switch {
		case !ok:
			t.Errorf("tick %d has no record: a silent miss", tick)
		case ran > 1:
			t.Errorf("tick %d executed %d times", tick, ran)
		case at.Before(pauseSent.Truncate(time.Second)) && (paused || ran != 1):
			t.Errorf("tick %d before the pause: %s %q, executed %d times", tick, r.State, r.Reason, ran)
		case at.After(pauseAcked) && at.Before(resumeSent.Truncate(time.Second)) && (!paused || ran != 0):
			t.Errorf("tick %d of the paused span: %s %q, executed %d times; want skipped %q, never executed", tick, r.State, r.Reason, ran, "paused: "+note)
		case at.After(resumeAcked) && (r.State != subjects.StateComplete || ran != 1):
			t.Errorf("tick %d after the resume: %s %q, executed %d times; want complete, once", tick, r.State, r.Reason, ran)
		case !paused && ran == 0 && r.State != subjects.StateSkipped:
			t.Errorf("tick %d at a boundary: %s %q, yet never executed", tick, r.State, r.Reason)
		}
		if paused && at.After(killedAt) {
			skippedByNew++
		}
		if at.After(resumeAcked) && ran == 1 {
			launchedAfter++
		}
	}
	t.Logf("paused %s..%s, lock holder %s killed at %s, %s took over; resumed %s..%s; %d ticks skipped after the kill, %d launched after the resume",
		pauseSent.Format("15:04:05.000"), pauseAcked.Format("15:04:05.000"), holder, killedAt.Format("15:04:05.000"), newHolder,
		resumeSent.Format("15:04:05.000"), resumeAcked.Format("15:04:05.000"), skippedByNew, launchedAfter)
	if skippedByNew < 2 {
		t.Errorf("%d ticks of the pause after the leader's death were skipped: the new holder did not keep the pause", skippedByNew)
	}
	if launchedAfter < 2 {
		t.Errorf("%d ticks launched after the resume", launchedAfter)
	}
}
