package ticker

import (
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// awaitsReschedule reports whether a run that ended is to run again, by its job's
// reschedule policy (p, nil when the job has no valid version): a lost run, or a
// failed one when the policy asks (on_failure), with attempts left. owns tells
// whether the run is of the job as it is now (its tick came after the job was last
// deleted): a run of a deleted job has no policy left. A sysbatch job's run on one
// node never is: it is that node's (pinned), and runs there or nowhere.
func awaitsReschedule(run *subjects.Run, p *policy, owns bool) bool {
	if p == nil || !owns || pinned(run) || run.Attempts >= p.attempts {
		return false
	}
	return run.State == subjects.StateLost || run.State == subjects.StateFailed && p.onFailure
}

// rescheduleAt is when a run that awaits its reschedule launches again: the delay
// after its last allocation ended. ok is false while that end is not recorded.
func rescheduleAt(run *subjects.Run, p *policy) (at time.Time, ok bool) {
	a := run.Current()
	if a == nil || a.Finished == nil {
		return time.Time{}, false
	}
	return a.Finished.Add(p.delay), true
}
