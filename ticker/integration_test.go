package ticker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/jetcron/jetcron/embed/embedtest"
	"github.com/jetcron/jetcron/runner"
	"github.com/jetcron/jetcron/subjects"
	"github.com/jetcron/jetcron/ticker"
)

// cluster is a real 3-server cluster with a ticker per server and runner nodes, for
// the ticker's integration tests.
type cluster struct {
	t      *testing.T
	c      *embedtest.Cluster
	js     jetstream.JetStream
	b      *subjects.Buckets
	ledger string
	script string
	mu     sync.Mutex
	stops  map[string]context.CancelFunc
}

func newCluster(t *testing.T, servers int) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts NATS servers")
	}
	c := embedtest.NewCluster(t, servers)
	nc := c.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	replicas := 1
	if servers >= 3 {
		replicas = 3
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := subjects.Provision(ctx, js, subjects.DefaultLayout(replicas, 2*time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := subjects.Bind(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cl := &cluster{t: t, c: c, js: js, b: b, ledger: filepath.Join(dir, "ledger"), script: filepath.Join(dir, "job.sh"), stops: map[string]context.CancelFunc{}}
	// The job under test appends "<run ID> <node> start|end" to a ledger of its own.
	script := "#!/bin/sh\necho \"$JETCRON_RUN_ID $JETCRON_NODE start\" >> " + cl.ledger + "\nsleep \"${1:-0}\"\necho \"$JETCRON_RUN_ID $JETCRON_NODE end\" >> " + cl.ledger + "\n"
	if err := os.WriteFile(cl.script, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return cl
}

// connectTo connects to server i only, so the client dies with that server.
func (cl *cluster) connectTo(i int) *nats.Conn {
	nc, err := nats.Connect(cl.c.Servers[i].ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.t.Cleanup(nc.Close)
	return nc
}

// startTicker runs a ticker named for server i, connected to it alone.
func (cl *cluster) startTicker(i int) {
	nc := cl.connectTo(i)
	js, _ := jetstream.New(nc)
	name := cl.c.Servers[i].Name()
	log := zerolog.New(zerolog.NewTestWriter(cl.t)).Level(zerolog.InfoLevel)
	tk, err := ticker.New(ticker.Options{Conn: nc, JS: js, Name: name, Logger: &log, StepDown: true})
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.start("ticker-"+name, tk.Run)
}

// startRunner runs a runner node named name, connected to every server, and returns
// its connection.
func (cl *cluster) startRunner(name string) *nats.Conn {
	nc := cl.c.Connect(cl.t)
	js, _ := jetstream.New(nc)
	r, err := runner.New(runner.Options{
		JS: js, Conn: nc, Name: name, DataDir: cl.t.TempDir(), ClientOptions: map[string]string{"driver.raw_exec.enable": "1"},
		HeartbeatInterval: 500 * time.Millisecond, HeartbeatTTL: 2 * time.Second,
		Logger: zerolog.New(zerolog.NewTestWriter(cl.t)).Level(zerolog.WarnLevel),
	})
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.start("runner-"+name, r.Run)
	return nc
}

// start runs fn in the background; stop(name) or the test's end stops it and waits.
func (cl *cluster) start(name string, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = fn(ctx) }()
	stop := func() { cancel(); <-done }
	cl.mu.Lock()
	cl.stops[name] = stop
	cl.mu.Unlock()
	cl.t.Cleanup(func() { cl.stop(name) })
}

func (cl *cluster) stop(name string) {
	cl.mu.Lock()
	stop := cl.stops[name]
	delete(cl.stops, name)
	cl.mu.Unlock()
	if stop != nil {
		stop()
	}
}

func (cl *cluster) putJob(name, spec string) {
	if _, err := cl.b.Jobs.Put(cl.t.Context(), name, []byte(spec)); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *cluster) lockHolder() string {
	e, err := cl.b.Lock.Get(cl.t.Context(), subjects.LockKey)
	if err != nil {
		return ""
	}
	var l subjects.Lock
	_ = json.Unmarshal(e.Value(), &l)
	return l.Holder
}

// run reads the record of the job's run for tick (Unix seconds). KV gets are direct
// gets, answered by any replica, so they work while a leader is being elected.
func (cl *cluster) run(job string, tick int64) (subjects.Run, bool) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(cl.t.Context(), 5*time.Second)
	defer cancel()
	e, err := cl.b.Runs.Get(ctx, subjects.RunKey(job, time.Unix(tick, 0)))
	if err != nil {
		return subjects.Run{}, false
	}
	var r subjects.Run
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		cl.t.Fatal(err)
	}
	return r, true
}

// starts reads the ledger: how many executions started per run ID.
func (cl *cluster) starts() map[string]int {
	f, err := os.Open(cl.ledger)
	if err != nil {
		return map[string]int{}
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 && fields[2] == "start" {
			out[fields[0]]++
		}
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (cl *cluster) jobFile(cron string, extra string) string {
	return fmt.Sprintf(`datacenters: [dc1]
periodic:
  cron: %q
%s
task:
  name: t
  driver: raw_exec
  config:
    command: %s
`, cron, extra, cl.script)
}

// checkTicks asserts that every tick from first to last has a record, each launched
// tick executed exactly once, and none twice; it returns the number of executions.
func (cl *cluster) checkTicks(job string, first, last int64) int {
	cl.t.Helper()
	starts := cl.starts()
	execs := 0
	deadline := time.Now().Add(15 * time.Second) // catch-up may still be under way
	for tick := first; tick <= last; tick++ {
		r, ok := cl.run(job, tick)
		for !ok && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			r, ok = cl.run(job, tick)
		}
		if !ok {
			cl.t.Fatalf("tick %d has no record: missed", tick)
		}
		if r.State == subjects.StateSkipped {
			if r.Reason == "" {
				cl.t.Fatalf("tick %d skipped without a reason", tick)
			}
			continue
		}
		execs += starts[r.ID]
	}
	for id, n := range starts {
		if n > 1 {
			cl.t.Fatalf("run %s started %d times", id, n)
		}
	}
	return execs
}

func TestTickerServerKilledMidStreamLaunchesEachTickOnce(t *testing.T) {
	cl := newCluster(t, 3)
	for i := range 3 {
		cl.startTicker(i)
	}
	cl.startRunner("r1-mysql-backup")
	cl.startRunner("r2-mysql-backup")
	cl.putJob("every-second", cl.jobFile("@every 1s", ""))
	// Ticks are due from when the put was stored, which is before now: the first
	// tick checked is surely one of the job's.
	firstTick := time.Now().Unix() + 1
	waitFor(t, 20*time.Second, "runs", func() bool { return len(cl.starts()) >= 3 })
	holder := cl.lockHolder()
	killed := cl.c.Index(holder)
	if killed < 0 {
		t.Fatalf("lock holder %q is not a server", holder)
	}
	first := time.Now().Unix()
	cl.c.Kill(killed)
	cl.stop("ticker-" + holder)
	waitFor(t, 30*time.Second, "a new lock holder", func() bool { h := cl.lockHolder(); return h != "" && h != holder })
	time.Sleep(3 * time.Second) // let a few more ticks run under the new holder
	last := time.Now().Unix() - 2
	waitFor(t, 20*time.Second, "the last ticks to run", func() bool {
		r, ok := cl.run("every-second", last)
		return ok && (r.State.Terminal() || r.State == subjects.StateRunning)
	})
	if n := cl.checkTicks("every-second", max(firstTick, first-3), last); n == 0 {
		t.Fatal("nothing executed")
	}
}

func TestTwoTickersThatBothBelieveTheyLeadLaunchEachTickOnce(t *testing.T) {
	cl := newCluster(t, 3)
	cl.startRunner("r1")
	// Two tickers share one name, so each renews the lock as its own: both lead.
	for i := range 2 {
		nc := cl.connectTo(i)
		js, _ := jetstream.New(nc)
		tk, err := ticker.New(ticker.Options{Conn: nc, JS: js, Name: "same"})
		if err != nil {
			t.Fatal(err)
		}
		cl.start(fmt.Sprintf("ticker-%d", i), tk.Run)
	}
	cl.putJob("j", cl.jobFile("@every 1s", ""))
	first := time.Now().Unix() + 1
	time.Sleep(8 * time.Second)
	last := time.Now().Unix() - 2
	waitFor(t, 20*time.Second, "the last tick to run", func() bool {
		r, ok := cl.run("j", last)
		return ok && r.State.Terminal()
	})
	if n := cl.checkTicks("j", first, last); n != int(last-first+1) {
		t.Fatalf("%d executions for %d ticks", n, last-first+1)
	}
}

func TestRunnerKilledMidRunIsLostAndRelaunchedElsewhere(t *testing.T) {
	cl := newCluster(t, 1)
	cl.startTicker(0)
	ncA := cl.startRunner("a")
	// A run that takes 30 s.
	cl.putJob("long", strings.Replace(cl.jobFile("0 0 1 1 *", "reschedule: {attempts: 1, delay: 1s}"), "command: "+cl.script, "command: "+cl.script+"\n    args: [\"30\"]", 1))
	nc := cl.c.Connect(t)
	waitFor(t, 10*time.Second, "the job to be loaded", func() bool {
		e, err := cl.b.JobState.Get(t.Context(), "long")
		return err == nil && strings.Contains(string(e.Value()), `"valid":true`) && strings.Contains(string(e.Value()), "30")
	})
	var reply subjects.ForceReply
	msg, err := nc.Request(subjects.ForceSubject("long"), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(msg.Data, &reply); err != nil || reply.RunID == "" {
		t.Fatalf("force: %s %v", msg.Data, err)
	}
	waitFor(t, 10*time.Second, "the run to start on a", func() bool { return cl.starts()[reply.RunID] == 1 })
	// Node a dies: its connection goes first, so it records nothing on the way out
	// and its heartbeat lapses.
	cl.startRunner("b")
	ncA.Close()
	cl.stop("runner-a")
	_, tick, _ := subjects.ParseRunID(reply.RunID)
	waitFor(t, 30*time.Second, "the run to be relaunched on b", func() bool {
		r, _ := cl.run("long", tick.Unix())
		return len(r.Allocations) == 2 && r.Allocations[1].Node == "b" && r.Allocations[1].State == subjects.StateRunning
	})
	r, _ := cl.run("long", tick.Unix())
	if a := r.Allocations[0]; a.Node != "a" || (a.State != subjects.StateLost && a.State != subjects.StateFailed) {
		t.Fatalf("first allocation %+v: want a, lost or failed", a)
	}
}

func TestTickerHandsItsServersLeadershipToTheHealthyReplicaWhileAPeerIsDown(t *testing.T) {
	cl := newCluster(t, 3)
	stream := "KV_" + subjects.LockBucket
	leader := func() string {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		s, err := cl.js.Stream(ctx, stream)
		if err != nil || s.CachedInfo().Cluster == nil {
			return ""
		}
		return s.CachedInfo().Cluster.Leader
	}
	first, healthy := cl.c.Servers[0].Name(), cl.c.Servers[1].Name()
	// The ticker's server leads the lock bucket, and a third peer is down.
	waitFor(t, 30*time.Second, first+" leading "+stream, func() bool {
		if leader() == first {
			return true
		}
		body := fmt.Sprintf(`{"placement":{"preferred":%q}}`, first)
		_, _ = cl.js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(body), 2*time.Second)
		time.Sleep(500 * time.Millisecond)
		return leader() == first
	})
	cl.c.Kill(2)
	cl.startTicker(0)
	waitFor(t, 30*time.Second, "the lock", func() bool { return cl.lockHolder() == first })
	waitFor(t, 30*time.Second, stream+" led by "+healthy, func() bool { return leader() == healthy })
}
