package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// sysbatchSeed is the seed job as a sysbatch job: each tick on every backup host.
var sysbatchSeed = strings.Replace(strings.Replace(seedJob, "type: batch", "type: sysbatch", 1), "prohibit_overlap: true", "prohibit_overlap: false", 1)

// putSysbatchTick stores a sysbatch tick's record, launched on nodes, and each node's
// run in state (with an exit code once it ended).
func putSysbatchTick(t *testing.T, e *testEnv, job string, tick int64, state subjects.RunState, nodes ...string) {
	t.Helper()
	at := time.Unix(tick, 0).UTC()
	putRun(t, e, subjects.Run{ID: subjects.RunID(job, at), Job: job, Scheduled: tick, State: subjects.StateLaunched, Nodes: nodes})
	for i, n := range nodes {
		r := subjects.Run{ID: subjects.NodeRunID(job, at, n), Job: job, Scheduled: tick, Node: n, State: state,
			Allocations: []subjects.Allocation{{ID: "a" + n[len(n)-1:], Node: n, State: state, Created: at, Started: ptr(at)}}}
		if state.Terminal() {
			code := 0
			if state == subjects.StateFailed && i == 0 {
				code = 2
			} else if state == subjects.StateFailed {
				r.State, r.Allocations[0].State = subjects.StateComplete, subjects.StateComplete
			}
			r.Allocations[0].ExitCode, r.Allocations[0].Finished = ptr(code), ptr(at.Add(3*time.Second))
		}
		putJSON(t, e.b.Runs, subjects.NodeRunKey(job, at, n), r)
	}
}

func TestJobStatusOfASysbatchJobListsItsRunsPerNodeAndATickItsNodeRuns(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "backup", []byte(sysbatchSeed)); err != nil {
		t.Fatal(err)
	}
	const t1, t2, t3 = 1476824400, 1476828000, 1476831600
	putRun(t, e, subjects.Run{ID: subjects.RunID("backup", time.Unix(t1, 0)), Job: "backup", Scheduled: t1,
		State: subjects.StateSkipped, Reason: "no eligible node: no node is ready"})
	putSysbatchTick(t, e, "backup", t2, subjects.StateFailed, "n1", "n2.example.com")
	putSysbatchTick(t, e, "backup", t3, subjects.StateRunning, "n1", "n2.example.com")
	if _, err := e.b.Logs.Put(ctxT(t), subjects.NodeRunKey("backup", time.Unix(t2, 0), "n2.example.com"), []byte("backed up n2\n")); err != nil {
		t.Fatal(err)
	}

	// The job lists each node's run of a launched tick, and a skipped tick as itself.
	stdout, stderr, code := e.run(cmdJobStatus, "backup")
	if code != exitOK || stderr != "" {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	want := "" +
		"Previously launched runs:\n" +
		"ID                                         Status    Reason\n" +
		"backup/periodic-1476824400                 skipped   no eligible node: no node is ready\n" +
		"backup/periodic-1476828000/n1              failed    -\n" +
		"backup/periodic-1476828000/n2.example.com  complete  -\n" +
		"backup/periodic-1476831600/n1              running   -\n" +
		"backup/periodic-1476831600/n2.example.com  running   -\n"
	if !strings.Contains(stdout, "Type                 = sysbatch\n") || !strings.HasSuffix(stdout, want) {
		t.Fatalf("got\n%s\nwant it to end with\n%s", stdout, want)
	}

	// The list of jobs shows the newest tick that ended on every node, by its worst run.
	stdout, _, _ = e.run(cmdJobStatus, "-json")
	var rows []operator.JobRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 1 || rows[0].LastResult != "failed" ||
		rows[0].LastRun != "backup/periodic-1476828000/n1" || rows[0].Type != "sysbatch" {
		t.Fatalf("-json: %v %+v", err, rows)
	}

	// A tick shows the nodes it was placed on and each node's run.
	tick := subjects.RunID("backup", time.Unix(t2, 0))
	stdout, stderr, code = e.run(cmdJobStatus, tick)
	if code != exitOK || stderr != "" {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	for _, want := range []string{
		"Status      = launched\n",
		"Nodes       = n1,n2.example.com\n",
		"run-mysql-backup  0       0         0        1       1         0     0\n",
		"backup/periodic-1476828000/n1              n1              failed    2016-10-18T22:00:00Z  2          3s",
		"backup/periodic-1476828000/n2.example.com  n2.example.com  complete  2016-10-18T22:00:00Z  0          3s        -\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in\n%s", want, stdout)
		}
	}
	stdout, _, _ = e.run(cmdJobStatus, "-json", tick)
	var st operator.RunStatus
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.State != subjects.StateLaunched || len(st.NodeRuns) != 2 ||
		st.NodeRuns[1].ID != "backup/periodic-1476828000/n2.example.com" {
		t.Fatalf("-json: %v %+v", err, st)
	}

	// A node's run is a run: its status and its output.
	nodeRun := subjects.NodeRunID("backup", time.Unix(t2, 0), "n2.example.com")
	stdout, _, code = e.run(cmdJobStatus, nodeRun)
	if code != exitOK || !strings.Contains(stdout, "ID          = "+nodeRun+"\n") || !strings.Contains(stdout, "Status      = complete\n") {
		t.Fatalf("code %d\n%s", code, stdout)
	}
	stdout, stderr, code = e.run(cmdRunLogs, nodeRun)
	if code != exitOK || stdout != "backed up n2\n" || stderr != "" {
		t.Fatalf("run logs %s: code %d stdout %q stderr %q", nodeRun, code, stdout, stderr)
	}
	stdout, stderr, code = e.run(cmdRunLogs, tick)
	if code != exitOK || stdout != "" || !strings.Contains(stderr, "is a sysbatch tick") || !strings.Contains(stderr, "run logs "+tick+"/n1") {
		t.Fatalf("run logs %s: code %d stdout %q stderr %q", tick, code, stdout, stderr)
	}
}

func TestJobPlanShowsEveryNodeASysbatchTickWouldRunOn(t *testing.T) {
	e := newTestEnv(t)
	for _, n := range seedNodes {
		n.Attributes = map[string]string{"attr.unique.hostname": n.Name, "driver.raw_exec": "1"}
		putNodes(t, e, n)
	}
	if _, err := e.b.Jobs.Put(ctxT(t), "backup", []byte(sysbatchSeed)); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(cmdJobPlan, "-json", "-from", "2030-01-01T00:00:00Z", "-next", "1h", "backup")
	if code != exitOK {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	var p operator.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil || len(p.Ticks) != 1 {
		t.Fatalf("%v in %s", err, stdout)
	}
	want := "NODE-1-mysql-backup,NODE-2-mysql-backup,NODE-3-mysql-backup" // by name, as the ticker lists them
	if pt := p.Ticks[0]; strings.Join(pt.Nodes, ",") != want || pt.Node != "" || pt.Blocked != "" {
		t.Fatalf("tick %+v, want every backup host in nodes", pt)
	}
	stdout, _, _ = e.run(cmdJobPlan, "-from", "2030-01-01T00:00:00Z", "-next", "1h", "backup")
	if !strings.Contains(stdout, "every eligible: "+want) {
		t.Fatalf("plan:\n%s", stdout)
	}
}
