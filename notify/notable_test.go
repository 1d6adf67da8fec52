package notify

import (
	"testing"

	"github.com/jetcron/jetcron/subjects"
)

// Only a run's outcome is notified: not its start, nor the restarting event of an
// execution that failed and starts again (a restarted run is notified once, with
// the outcome of its last execution, so a run that completes on its restart fires
// no failed webhook).
func TestOnlyARunsOutcomeIsNotable(t *testing.T) {
	for state, want := range map[subjects.RunState]bool{
		subjects.StateComplete: true, subjects.StateFailed: true, subjects.StateLost: true, subjects.StateSkipped: true,
		subjects.StateQueued: false, subjects.StateRunning: false, subjects.StateRestarting: false,
	} {
		if got := notable(state); got != want {
			t.Errorf("notable(%s) = %v, want %v", state, got, want)
		}
	}
}
