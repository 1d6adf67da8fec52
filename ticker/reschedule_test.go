package ticker

import (
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// TestAwaitsRescheduleByTheJobsPolicy proves which ended runs run again: lost ones
// with attempts left, failed ones only when the policy asks, none of a deleted job.
func TestAwaitsRescheduleByTheJobsPolicy(t *testing.T) {
	lostOnly := &policy{attempts: 1}
	onFailure := &policy{attempts: 2, onFailure: true}
	for _, row := range []struct {
		name     string
		state    subjects.RunState
		attempts int
		p        *policy
		owns     bool
		want     bool
	}{
		{"a lost run with attempts left runs again", subjects.StateLost, 0, lostOnly, true, true},
		{"a lost run whose attempts are spent does not", subjects.StateLost, 1, lostOnly, true, false},
		{"a failed run does not by default", subjects.StateFailed, 0, lostOnly, true, false},
		{"a failed run does when on_failure asks", subjects.StateFailed, 1, onFailure, true, true},
		{"a failed run whose attempts are spent does not", subjects.StateFailed, 2, onFailure, true, false},
		{"a complete run never does", subjects.StateComplete, 0, onFailure, true, false},
		{"a skipped run never does", subjects.StateSkipped, 0, onFailure, true, false},
		{"a run of a job deleted since its tick does not", subjects.StateLost, 0, lostOnly, false, false},
		{"a run of a job with no valid version does not", subjects.StateLost, 0, nil, true, false},
	} {
		t.Run(row.name, func(t *testing.T) {
			run := &subjects.Run{State: row.state, Attempts: row.attempts}
			if got := awaitsReschedule(run, row.p, row.owns); got != row.want {
				t.Fatalf("awaitsReschedule = %v, want %v", got, row.want)
			}
		})
	}
}

// TestASysbatchRunNeverAwaitsReschedule proves that a sysbatch job's run on one node,
// lost or failed, runs nowhere else: it is that node's.
func TestASysbatchRunNeverAwaitsReschedule(t *testing.T) {
	p := &policy{attempts: 2, onFailure: true}
	for _, state := range []subjects.RunState{subjects.StateLost, subjects.StateFailed} {
		if awaitsReschedule(&subjects.Run{State: state, Node: "a"}, p, true) {
			t.Fatalf("a sysbatch run %s on node a awaits a reschedule", state)
		}
		if !awaitsReschedule(&subjects.Run{State: state}, p, true) {
			t.Fatalf("the same run of a batch job, %s, does not await its reschedule", state)
		}
	}
}

func TestRescheduleIsDueTheDelayAfterTheLastAllocationEnded(t *testing.T) {
	p := &policy{attempts: 1, delay: 5 * time.Second}
	ended := start.Add(10 * time.Second)
	run := &subjects.Run{State: subjects.StateFailed, Allocations: []subjects.Allocation{{Finished: &ended}}}
	if at, ok := rescheduleAt(run, p); !ok || !at.Equal(ended.Add(5*time.Second)) {
		t.Fatalf("rescheduleAt = %v, %v; want %v", at, ok, ended.Add(5*time.Second))
	}
	run.Allocations[0].Finished = nil
	if _, ok := rescheduleAt(run, p); ok {
		t.Fatalf("a run whose end is not recorded has no reschedule time")
	}
}
