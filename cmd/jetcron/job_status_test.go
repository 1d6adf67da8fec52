package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// `job status RUN` shows every allocation of a run its runner restarted, which of
// them is a restart (restart n of the policy's attempts), how many restarts it had,
// and the reason of a restart waiting for its delay.
func TestRunStatusShowsRestarts(t *testing.T) {
	v := operator.NewJobView("mysql-backup", entry{"mysql-backup", []byte(seedJob), 1, seedNow}, nil, nil)
	sched := time.Unix(1476824400, 0).UTC()
	failedAlloc := subjects.Allocation{
		ID: "aaaa0001", Node: "n1", NodeID: "11111111ffff", Session: "s1", State: subjects.StateFailed, Created: sched,
		Started: ptr(sched.Add(time.Second)), Finished: ptr(sched.Add(3 * time.Second)), ExitCode: ptr(3), Error: "exit code 3",
	}
	const reason = "restart 1 of 2 at 2016-10-18T21:00:18Z after exit code 3"
	for _, tc := range []struct {
		name      string
		run       subjects.Run
		want      []string
		wantLines []string
	}{
		{"restarted to completion", subjects.Run{
			ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: sched.Unix(), State: subjects.StateComplete,
			Restarts: 1, Allocations: []subjects.Allocation{failedAlloc, {
				ID: "aaaa0002", Node: "n1", NodeID: "11111111ffff", Session: "s1", State: subjects.StateComplete,
				Created: sched.Add(3 * time.Second), Started: ptr(sched.Add(18 * time.Second)), Finished: ptr(sched.Add(20 * time.Second)),
				ExitCode: ptr(0), Restart: 1, RestartOf: 2, Reason: reason,
			}},
		}, []string{"Restarts    = 1\n"}, []string{
			"ID        Node ID   Node  Task Group        Desired  Status    Created At            Exit Code  Duration  Restart",
			"aaaa0001  11111111  n1    run-mysql-backup  stop     failed    2016-10-18T21:00:00Z  3          2s        -",
			"aaaa0002  11111111  n1    run-mysql-backup  run      complete  2016-10-18T21:00:03Z  0          2s        1 of 2",
		}},
		{"a restart waiting for its delay", subjects.Run{
			ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: sched.Unix(), State: subjects.StateRunning,
			Restarts: 1, Allocations: []subjects.Allocation{failedAlloc, {
				ID: "aaaa0002", Node: "n1", NodeID: "11111111ffff", Session: "s1", State: subjects.StateQueued,
				Created: sched.Add(3 * time.Second), Restart: 1, RestartOf: 2, Reason: reason,
			}},
		}, []string{"Status      = running\n", "Restarts    = 1\n", "Restarting  = " + reason + "\n"}, []string{
			"run-mysql-backup  1       0         0        1       0         0",
			"aaaa0002  11111111  n1    run-mysql-backup  run      queued  2016-10-18T21:00:03Z  -          -         1 of 2",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writeRunStatus(&b, tc.run.ID, &tc.run, v, seedNow)
			out := b.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			lines := strings.Split(out, "\n")
			for _, w := range tc.wantLines {
				found := false
				for _, l := range lines {
					found = found || strings.TrimRight(l, " ") == w
				}
				if !found {
					t.Errorf("output lacks the line %q:\n%s", w, out)
				}
			}
		})
	}
}
