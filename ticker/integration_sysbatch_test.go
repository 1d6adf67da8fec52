package ticker_test

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// ledgerStarts reads the ledger: the nodes each run ID started on, once a start.
func (cl *cluster) ledgerStarts() map[string][]string {
	f, err := os.Open(cl.ledger)
	if err != nil {
		return map[string][]string{}
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 && fields[2] == "start" {
			out[fields[0]] = append(out[fields[0]], fields[1])
		}
	}
	return out
}

// nodeRun reads the record of job's run on node for tick.
func (cl *cluster) nodeRun(job string, tick int64, node string) (subjects.Run, bool) {
	cl.t.Helper()
	e, err := cl.b.Runs.Get(cl.t.Context(), subjects.NodeRunKey(job, time.Unix(tick, 0), node))
	if err != nil {
		return subjects.Run{}, false
	}
	var r subjects.Run
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		cl.t.Fatal(err)
	}
	return r, true
}

// waitRegistered waits for node's record in the nodes bucket.
func (cl *cluster) waitRegistered(node string) {
	cl.t.Helper()
	waitFor(cl.t, 10*time.Second, node+" registered", func() bool {
		_, err := cl.b.Nodes.Get(cl.t.Context(), subjects.Token(node))
		return err == nil
	})
}

// On a 3-server cluster with 3 runner nodes, each tick of a sysbatch job runs once on
// each node, under a run ID that names the node; a 4th node that joins runs only the
// ticks after it; a node killed mid-run leaves its run lost, and no other node runs
// it.
func TestSysbatchRunsEachTickOnceOnEveryNodeAndNeverMovesALostRun(t *testing.T) {
	cl := newCluster(t, 3)
	for i := range 3 {
		cl.startTicker(i)
	}
	nodes := []string{"r1", "r2.example.com", "r3"}
	ncs := map[string]interface{ Close() }{}
	for _, n := range nodes {
		ncs[n] = cl.startRunner(n)
	}
	// Every tick from the first is on all three: each is registered before the job.
	for _, n := range nodes {
		cl.waitRegistered(n)
	}
	cl.putJob("sb", "type: sysbatch\n"+cl.jobFile("@every 2s", ""))
	first := time.Now().Unix()/2*2 + 2
	waitFor(t, 20*time.Second, "three ticks on every node", func() bool {
		r, ok := cl.run("sb", first+4)
		return ok && r.State == subjects.StateLaunched
	})
	before := time.Now()
	cl.startRunner("r4")
	cl.waitRegistered("r4")
	seen := time.Now()
	time.Sleep(7 * time.Second)
	last := time.Now().Unix()/2*2 - 2
	waitFor(t, 20*time.Second, "the last tick to end", func() bool {
		r, ok := cl.nodeRun("sb", last, "r4")
		return ok && r.State.Terminal()
	})
	starts := cl.ledgerStarts()
	sawR4 := false
	for tick := first; tick <= last; tick += 2 {
		tr, ok := cl.run("sb", tick)
		if !ok || tr.State != subjects.StateLaunched {
			t.Fatalf("tick %d: %+v (found %v), want launched", tick, tr, ok)
		}
		want := nodes
		switch at := time.Unix(tick, 0); {
		case !at.After(before):
			// Before r4 started: not r4's tick.
		case at.After(seen.Add(2 * time.Second)):
			want = append(slices.Clone(nodes), "r4")
		default:
			// Decided as r4's record reached the ticker: either way.
			if slices.Contains(tr.Nodes, "r4") {
				want = append(slices.Clone(nodes), "r4")
			}
		}
		if !slices.Equal(tr.Nodes, want) {
			t.Fatalf("tick %d (r4 started at %s, registered by %s) placed on %v, want %v", tick,
				before.Format("15:04:05.000"), seen.Format("15:04:05.000"), tr.Nodes, want)
		}
		for _, n := range want {
			id := subjects.NodeRunID("sb", time.Unix(tick, 0), n)
			r, ok := cl.nodeRun("sb", tick, n)
			if !ok || r.ID != id || r.Node != n || r.State != subjects.StateComplete {
				t.Fatalf("%s: %+v (found %v), want complete", id, r, ok)
			}
			if got := starts[id]; !slices.Equal(got, []string{n}) {
				t.Fatalf("%s started on %v, want once on %s", id, got, n)
			}
			sawR4 = sawR4 || n == "r4"
		}
		if id := subjects.NodeRunID("sb", time.Unix(tick, 0), "r4"); !slices.Contains(want, "r4") && len(starts[id]) > 0 {
			t.Fatalf("%s ran, but r4 joined after the tick", id)
		}
	}
	if !sawR4 {
		t.Fatal("r4 ran no tick after it joined")
	}

	// A 30 s run on every node; r2's node dies mid-run.
	cl.putJob("long", "type: sysbatch\n"+strings.Replace(cl.jobFile("0 0 1 1 *", "reschedule: {attempts: 2, delay: 1s}"),
		"command: "+cl.script, "command: "+cl.script+"\n    args: [\"30\"]", 1))
	waitFor(t, 10*time.Second, "the long job to be loaded", func() bool {
		e, err := cl.b.JobState.Get(t.Context(), "long")
		return err == nil && strings.Contains(string(e.Value()), `"valid":true`) && strings.Contains(string(e.Value()), "30")
	})
	msg, err := cl.c.Connect(t).Request(subjects.ForceSubject("long"), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var reply subjects.ForceReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil || reply.RunID == "" {
		t.Fatalf("force: %s %v", msg.Data, err)
	}
	_, tick, _ := subjects.ParseRunID(reply.RunID)
	victim := "r2.example.com"
	lostID := subjects.NodeRunID("long", tick, victim)
	waitFor(t, 15*time.Second, "the long run to start on every node", func() bool {
		s := cl.ledgerStarts()
		for _, n := range append(slices.Clone(nodes), "r4") {
			if len(s[subjects.NodeRunID("long", tick, n)]) == 0 {
				return false
			}
		}
		return true
	})
	// Its connection goes first, so it records nothing on the way out.
	ncs[victim].Close()
	cl.stop("runner-" + victim)
	waitFor(t, 30*time.Second, lostID+" to be declared lost", func() bool {
		r, _ := cl.nodeRun("long", tick.Unix(), victim)
		return r.State == subjects.StateLost
	})
	time.Sleep(5 * time.Second) // past the reschedule delay: a batch run would be relaunched by now
	r, _ := cl.nodeRun("long", tick.Unix(), victim)
	if r.State != subjects.StateLost || len(r.Allocations) != 1 || r.Allocations[0].Node != victim || r.Attempts != 0 {
		t.Fatalf("%s: %+v, want lost on its one allocation, on %s", lostID, r, victim)
	}
	if got := cl.ledgerStarts()[lostID]; !slices.Equal(got, []string{victim}) {
		t.Fatalf("%s started on %v, want once, on %s only", lostID, got, victim)
	}
	for _, n := range []string{"r1", "r3", "r4"} {
		if r, _ := cl.nodeRun("long", tick.Unix(), n); r.State != subjects.StateRunning || len(r.Allocations) != 1 {
			t.Fatalf("%s's long run: %+v, want still running on its one allocation", n, r)
		}
	}
}
