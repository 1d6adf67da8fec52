package runner

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// TestAnOutcomeIsRecordedAfterAnOutageLongerThanItsOldBound: a run that ends while
// the cluster has no quorum for longer than outcomeTimeout still gets its outcome
// once the cluster is back. Given up, it would stay running on a live node forever
// (nothing declares the runs of a heartbeating node lost), and hold a
// prohibit_overlap job for good (found by task e2e's observe scenario).
func TestAnOutcomeIsRecordedAfterAnOutageLongerThanItsOldBound(t *testing.T) {
	e := newEnv(t, 3)
	opts := e.options(t, "n1")
	startRunner(t, opts)
	done := filepath.Join(t.TempDir(), "done")
	prog := script(t, `while [ ! -e "`+done+`" ]; do sleep 0.1; done`)
	l := e.launch(t, opts.Name, "patient", tick(1), rawTask(prog))
	e.waitState(t, l, subjects.StateRunning, 30*time.Second)

	e.cluster.Kill(1)
	e.cluster.Kill(2)
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(outcomeTimeout + 10*time.Second) // the run ended; its outcome cannot be written
	e.cluster.Restart(t, 1)
	e.cluster.Restart(t, 2)
	e.cluster.WaitReady(t)
	run := e.waitState(t, l, subjects.StateComplete, 60*time.Second)
	if a := run.Current(); a == nil || a.ExitCode == nil || *a.ExitCode != 0 {
		t.Fatalf("run %+v: want its execution's end recorded", run)
	}
}
