package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// testEnv is a provisioned cluster and a client of it.
type testEnv struct {
	cluster *embedtest.Cluster
	nc      *nats.Conn
	js      jetstream.JetStream
	b       *subjects.Buckets
}

// newEnv starts n servers, connects, and provisions jetcron's buckets and stream.
func newEnv(t *testing.T, n int) *testEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs embedded NATS servers")
	}
	c := embedtest.NewCluster(t, n)
	nc := c.Connect(t)
	return bindEnv(t, c, nc, n)
}

func bindEnv(t *testing.T, c *embedtest.Cluster, nc *nats.Conn, n int) *testEnv {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// Right after a cluster is ready, R3 placement may still find a peer offline
	// (10005) for a moment under load: retry.
	waitFor(t, 30*time.Second, func() error {
		return subjects.Provision(ctxT(t), js, subjects.DefaultLayout(n, 2*time.Second))
	})
	b, err := subjects.Bind(ctxT(t), js)
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	return &testEnv{cluster: c, nc: nc, js: js, b: b}
}

// connectTo connects to server i alone (with the test's cleanup).
func (e *testEnv) connectTo(t *testing.T, i int) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(e.cluster.ConnectTo(t, i))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel).With().Timestamp().Logger()
}

// options are a test node's runner options: raw_exec on, fast heartbeats.
func (e *testEnv) options(t *testing.T, name string) Options {
	return Options{
		JS:                e.js,
		Name:              name,
		Datacenter:        "dc1",
		Class:             "batch",
		Meta:              map[string]string{"rack": "r1"},
		ClientOptions:     map[string]string{RawExecOption: "1"},
		DataDir:           t.TempDir(),
		HeartbeatInterval: 200 * time.Millisecond,
		HeartbeatTTL:      2 * time.Second,
		Version:           "test",
		Logger:            testLogger(t),
	}
}

// testRunner is a runner running in the background; t.Cleanup stops it.
type testRunner struct {
	r      *Runner
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startRunner starts a runner and waits until its node is registered: its consumer
// exists then, and launches published from then on reach it (as the ticker places
// runs only on registered nodes).
func startRunner(t *testing.T, opts Options) *testRunner {
	t.Helper()
	tr := startRunnerNoWait(t, opts)
	js, err := jetstream.New(opts.JS.Conn())
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := js.KeyValue(ctxT(t), subjects.NodesBucket)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-time.Second)
	waitFor(t, 20*time.Second, func() error {
		entry, err := nodes.Get(ctxT(t), subjects.Token(opts.Name))
		if err != nil {
			return err
		}
		var m subjects.Member
		if err := json.Unmarshal(entry.Value(), &m); err != nil {
			return err
		}
		if m.Left || m.Heartbeat.Before(started) {
			return fmt.Errorf("node %s not registered yet: %+v", opts.Name, m)
		}
		return nil
	})
	return tr
}

func startRunnerNoWait(t *testing.T, opts Options) *testRunner {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &testRunner{r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { tr.done <- r.Run(ctx) }()
	t.Cleanup(func() { tr.stop(t) })
	return tr
}

// stop cancels the runner and waits for Run to return; it returns Run's error.
func (tr *testRunner) stop(t *testing.T) error {
	t.Helper()
	tr.once.Do(func() {
		tr.cancel()
		select {
		case tr.err = <-tr.done:
		case <-time.After(60 * time.Second):
			tr.err = errors.New("runner did not stop within 60s")
			t.Error(tr.err)
		}
	})
	return tr.err
}

// waitFor polls fn every 20ms until it returns nil, and fails the test with fn's
// last error after timeout.
func waitFor(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newAllocID(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// place plays the ticker's first half: it creates the run record with one queued
// allocation on node, and returns the launch to publish.
func (e *testEnv) place(t *testing.T, node, jobName string, tick time.Time, task job.Task) *subjects.Launch {
	t.Helper()
	runID := subjects.RunID(jobName, tick)
	alloc := newAllocID(t)
	run := subjects.Run{
		ID: runID, Job: jobName, Scheduled: tick.Unix(), State: subjects.StateQueued,
		Allocations: []subjects.Allocation{{ID: alloc, Node: node, State: subjects.StateQueued, Created: time.Now().UTC()}},
	}
	data, err := json.Marshal(&run)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := e.b.Runs.Create(ctxT(t), subjects.RunKey(jobName, tick), data)
	if err != nil {
		t.Fatalf("create run record: %v", err)
	}
	taskJSON, err := json.Marshal(&task)
	if err != nil {
		t.Fatal(err)
	}
	return &subjects.Launch{
		RunID: runID, Job: jobName, Scheduled: tick.Unix(), Alloc: 1, AllocID: alloc, Node: node,
		Revision: rev, Run: data, Task: taskJSON, Late: 12,
	}
}

// publish plays the ticker's second half: the launch message, with msgID.
func (e *testEnv) publish(t *testing.T, l *subjects.Launch, msgID string) {
	t.Helper()
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(subjects.LaunchSubject(l.Node, l.Job))
	msg.Header.Set(subjects.MsgIDHeader, msgID)
	msg.Data = data
	ack, err := e.js.PublishMsg(ctxT(t), msg)
	if err != nil {
		t.Fatalf("publish launch: %v", err)
	}
	if ack.Duplicate {
		t.Fatalf("launch %s stored as a duplicate", msgID)
	}
}

// launch places a run and publishes its launch, as the ticker does.
func (e *testEnv) launch(t *testing.T, node, jobName string, tick time.Time, task job.Task) *subjects.Launch {
	t.Helper()
	l := e.place(t, node, jobName, tick, task)
	e.publish(t, l, subjects.MsgID(l.RunID, l.Alloc))
	return l
}

// record reads a run record.
func (e *testEnv) record(t *testing.T, l *subjects.Launch) (subjects.Run, uint64, error) {
	key, err := subjects.RunKeyOf(l.RunID)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := e.b.Runs.Get(ctxT(t), key)
	if err != nil {
		return subjects.Run{}, 0, err
	}
	var run subjects.Run
	if err := json.Unmarshal(entry.Value(), &run); err != nil {
		return subjects.Run{}, 0, err
	}
	return run, entry.Revision(), nil
}

// waitState waits until the run and its current allocation are in state want.
func (e *testEnv) waitState(t *testing.T, l *subjects.Launch, want subjects.RunState, timeout time.Duration) subjects.Run {
	t.Helper()
	var run subjects.Run
	waitFor(t, timeout, func() error {
		var err error
		run, _, err = e.record(t, l)
		if err != nil {
			return err
		}
		if cur := run.Current(); run.State != want || cur == nil || cur.State != want {
			return fmt.Errorf("run %s is %s (alloc %+v), want %s", l.RunID, run.State, cur, want)
		}
		return nil
	})
	return run
}

// waitDrained waits until node's consumer has every launch delivered and acked.
func (e *testEnv) waitDrained(t *testing.T, node string) {
	t.Helper()
	e.waitPending(t, node, 0)
}

// waitPending waits until node's consumer has n launches not delivered to any
// runner yet, and every launch it delivered acked.
func (e *testEnv) waitPending(t *testing.T, node string, n uint64) {
	t.Helper()
	waitFor(t, 20*time.Second, func() error {
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

// member reads a node record.
func (e *testEnv) member(t *testing.T, name string) (subjects.Member, uint64, error) {
	return memberIn(t, e.b, name)
}

// memberIn reads a node's record from the buckets b.
func memberIn(t *testing.T, b *subjects.Buckets, name string) (subjects.Member, uint64, error) {
	entry, err := b.Nodes.Get(ctxT(t), subjects.Token(name))
	if err != nil {
		return subjects.Member{}, 0, err
	}
	var m subjects.Member
	if err := json.Unmarshal(entry.Value(), &m); err != nil {
		return subjects.Member{}, 0, err
	}
	return m, entry.Revision(), nil
}

// events subscribes to a job's events; the returned func returns those received.
func (e *testEnv) events(t *testing.T, jobName string) func() []subjects.Event {
	t.Helper()
	var mu sync.Mutex
	var evs []subjects.Event
	sub, err := e.nc.Subscribe(subjects.EventSubject(jobName), func(m *nats.Msg) {
		var ev subjects.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Errorf("bad event %q: %v", m.Data, err)
			return
		}
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() []subjects.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]subjects.Event(nil), evs...)
	}
}

// waitEvent waits for an event of the run in state want and returns it.
func waitEvent(t *testing.T, got func() []subjects.Event, runID string, want subjects.RunState) subjects.Event {
	t.Helper()
	var found subjects.Event
	waitFor(t, 10*time.Second, func() error {
		for _, ev := range got() {
			if ev.RunID == runID && ev.State == want {
				found = ev
				return nil
			}
		}
		return fmt.Errorf("no %s event for %s among %+v", want, runID, got())
	})
	return found
}

// script writes an executable shell script (tests may use a shell; the runner
// never does) and returns its absolute path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prog.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func rawTask(command string, args ...string) job.Task {
	return job.Task{Name: "t", Driver: DriverRawExec, Config: job.TaskConfig{Command: command, Args: args}}
}

// tick returns a distinct tick per i.
func tick(i int) time.Time { return time.Unix(1_700_000_000+int64(i)*60, 0).UTC() }

// readPID waits for a pid file and returns its pid.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 10*time.Second, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	})
	return pid
}

// processGone reports whether pid no longer runs (it does not exist, or is a
// zombie waiting for a parent that is not us to reap it).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// Format: pid (comm) state ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X')
}

func waitGone(t *testing.T, timeout time.Duration, pids ...int) {
	t.Helper()
	waitFor(t, timeout, func() error {
		for _, pid := range pids {
			if !processGone(pid) {
				return fmt.Errorf("process %d still runs", pid)
			}
		}
		return nil
	})
}

// killGroupOnCleanup makes sure a test's process group dies even when the test
// fails: it kills the group pgid if its leader or one of pids is still in it.
func killGroupOnCleanup(t *testing.T, pgid int, pids ...int) {
	t.Cleanup(func() {
		for _, pid := range append([]int{pgid}, pids...) {
			if g, err := syscall.Getpgid(pid); err == nil && g == pgid {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				return
			}
		}
	})
}

// lines reads a file's lines; a missing file has none.
func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
