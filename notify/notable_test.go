package notify

import (
	"testing"

	"github.com/jetcron/jetcron/subjects"
)

func TestNotableEventsAreEndsAndSkipsButNotPausedTicks(t *testing.T) {
	for _, row := range []struct {
		state  subjects.RunState
		reason string
		want   bool
	}{
		{subjects.StateFailed, "exit code 1", true},
		{subjects.StateLost, "node a stopped heartbeating", true},
		{subjects.StateComplete, "", true},
		{subjects.StateSkipped, "prohibit_overlap: j/periodic-1 is still running", true},
		{subjects.StateSkipped, "outside the catch-up window of 10m", true},
		{subjects.StateSkipped, "paused: db migration", false},
		{subjects.StateSkipped, "paused", false},
		{subjects.StateSkipped, "pausedness is not a pause", true},
		{subjects.StateRunning, "", false},
		// A failed execution its runner starts again: the run has not ended, and a run
		// that completes on its restart must fire no failed webhook.
		{subjects.StateRestarting, "restart 1 of 2 at 2026-11-25T12:00:15Z after exit code 3", false},
		{subjects.StateQueued, "", false},
		{subjects.StateLaunched, "", false}, // a sysbatch tick's record: its node runs are notified
	} {
		if got := notable(&subjects.Event{State: row.state, Reason: row.reason}); got != row.want {
			t.Errorf("%s %q: notable = %v, want %v", row.state, row.reason, got, row.want)
		}
	}
}
