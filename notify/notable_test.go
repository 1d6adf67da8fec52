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
		{subjects.StateQueued, "", false},
		{subjects.StateLaunched, "", false}, // a sysbatch tick's record: its node runs are notified
	} {
		if got := notable(&subjects.Event{State: row.state, Reason: row.reason}); got != row.want {
			t.Errorf("%s %q: notable = %v, want %v", row.state, row.reason, got, row.want)
		}
	}
}
