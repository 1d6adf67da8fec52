package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// TestEveryRemoteCommandPrintsJSON proves the commands that print a sentence (stop,
// drain, logs) also answer -json, with the data a script needs.
func TestEveryRemoteCommandPrintsJSON(t *testing.T) {
	e := newTestEnv(t)
	putNodes(t, e, seedNodes...)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	tick := time.Unix(1476824400, 0)
	if _, err := e.b.Logs.Put(ctxT(t), subjects.RunKey("mysql-backup", tick), []byte("done\n")); err != nil {
		t.Fatal(err)
	}
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateFailed,
		Allocations: []subjects.Allocation{{ID: "a1", State: subjects.StateFailed, ExitCode: ptr(2), Error: "exit status 2"}}})

	decode := func(args []string, fn cmdFunc, v any) {
		t.Helper()
		stdout, stderr, code := e.run(fn, args...)
		if code != exitOK {
			t.Fatalf("%v: code %d stderr %q", args, code, stderr)
		}
		if err := json.Unmarshal([]byte(stdout), v); err != nil {
			t.Fatalf("%v: %v in %q", args, err, stdout)
		}
	}

	var logs operator.RunOutput
	decode([]string{"-json", "mysql-backup/periodic-1476824400"}, cmdRunLogs, &logs)
	if logs.Output != "done\n" || logs.Run == nil || logs.Run.Current().Error != "exit status 2" {
		t.Errorf("run logs -json = %+v", logs)
	}

	var node operator.MemberView
	decode([]string{"-json", "-enable", "NODE-1-mysql-backup"}, cmdNodeDrain, &node)
	if node.Name != "NODE-1-mysql-backup" || !node.Drain {
		t.Errorf("node drain -json = %+v, want the node, drained", node)
	}

	var stop struct {
		Job     string `json:"job"`
		Stopped bool   `json:"stopped"`
	}
	decode([]string{"-json", "mysql-backup"}, cmdJobStop, &stop)
	if stop.Job != "mysql-backup" || !stop.Stopped {
		t.Errorf("job stop -json = %+v", stop)
	}
}
