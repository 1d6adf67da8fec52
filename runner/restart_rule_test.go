package runner

import (
	"testing"

	"github.com/jetcron/jetcron/subjects"
)

// TestNextRestartByThePolicy proves the restart rule row by row.
func TestNextRestartByThePolicy(t *testing.T) {
	failedRun := outcome{state: subjects.StateFailed, err: "exit code 3"}
	two := subjects.Restart{Attempts: 2, Delay: 1000}
	for _, row := range []struct {
		name     string
		out      outcome
		done     int
		pol      subjects.Restart
		stopping bool
		want     restartVerdict
	}{
		{"a failed execution with restarts left is restarted", failedRun, 0, two, false, restartNext},
		{"the last restart left is made", failedRun, 1, two, false, restartNext},
		{"restarts spent: the run ends failed", failedRun, 2, two, false, restartNone},
		{"no restart policy: the run ends failed", failedRun, 0, subjects.Restart{}, false, restartNone},
		{"a complete execution is not restarted", outcome{state: subjects.StateComplete}, 0, two, false, restartNone},
		{"one killed as lost is not (the ticker may have placed it elsewhere)", outcome{state: subjects.StateFailed, lost: true}, 0, two, false, restartNone},
		{"one stopped by the agent's shutdown is not", outcome{state: subjects.StateFailed, shutdown: true}, 0, two, false, restartNone},
		{"a stopping runner takes no restart, and says so", failedRun, 0, two, true, restartStopping},
		{"restarts spent while stopping: ended as spent", failedRun, 2, two, true, restartNone},
	} {
		t.Run(row.name, func(t *testing.T) {
			if got := nextRestart(row.out, row.done, row.pol, row.stopping); got != row.want {
				t.Fatalf("nextRestart = %d, want %d", got, row.want)
			}
		})
	}
}
