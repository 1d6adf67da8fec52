package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/subjects"
)

// sysbatchJobs are the sysbatch scenario's jobs: a short one every 2 s, one every
// 3 s that runs 4 s under prohibit_overlap (every other tick is skipped while a
// node's run of the one before still runs), and a long one every 10 s that runs 8 s,
// for the runner faults to hit mid-run.
var sysbatchJobs = map[string]JobSpec{
	"sys-2s":         {Every: 2 * time.Second, Step: 300 * time.Millisecond, Sysbatch: true},
	"sys-overlap-3s": {Every: 3 * time.Second, Overlap: true, Steps: 4, Step: time.Second, Sysbatch: true},
	"sys-long-10s":   {Every: 10 * time.Second, Steps: 8, Step: time.Second, Sysbatch: true},
}

// sysbatchKeys are the keys of sysbatchJobs, in the order they are put.
var sysbatchKeys = []string{"sys-2s", "sys-overlap-3s", "sys-long-10s"}

// Sysbatch runs sysbatch jobs on the three runner hosts while the ticker leader's
// server is SIGKILLed twice, and a runner host is SIGKILLed and another SIGSTOPped
// while each runs a tick of the long job. The checker judges every (tick, node):
// at most one execution, on the node it was placed on, a lost run never moved, and
// every tick recorded with the nodes it ran on or skipped with the reason.
func Sysbatch() Scenario {
	var hit []string // the node runs a runner fault hit mid-run
	return Scenario{
		Name: "sysbatch",
		What: "sysbatch jobs (every 2s; every 3s running 4s under prohibit_overlap; every 10s running 8s) on 3 runner hosts: " +
			"SIGKILL the ticker leader's server, SIGKILL a host mid-run (restart it 4s later), SIGSTOP another mid-run for 7s, " +
			"SIGKILL the leader again; each tick at most once per node, only on the nodes it was placed on, lost runs never moved, no silent miss",
		Settle: 40 * time.Second,
		Run: func(ctx context.Context, e *Env) error {
			for _, k := range sysbatchKeys {
				if err := e.PutJob(ctx, k, sysbatchJobs[k]); err != nil {
					return err
				}
			}
			if err := e.Sleep(ctx, 5*time.Second); err != nil {
				return err
			}
			r := e.fork()
			steps := []func() error{
				func() error { return e.inject(ctx, r, faultLeaderKill) },
				func() error {
					id, err := e.hitMidRun(ctx, "killed", 4*time.Second, (*cluster.Proc).Kill, (*cluster.Proc).Start, "")
					hit = append(hit, id)
					return err
				},
				func() error {
					id, err := e.hitMidRun(ctx, "paused", 7*time.Second, (*cluster.Proc).Stop, (*cluster.Proc).Cont, hostOf(hit[0]))
					hit = append(hit, id)
					return err
				},
				func() error { return e.inject(ctx, r, faultLeaderKill) },
			}
			for _, step := range steps {
				if err := step(); err != nil {
					return err
				}
				if err := e.Sleep(ctx, 3*time.Second); err != nil {
					return err
				}
			}
			return e.Sleep(ctx, 5*time.Second)
		},
		After: func(e *Env, in CheckInput) {
			expectSysbatchLost(e, in, hit)
			expectEveryHostRan(e, in)
		},
	}
}

// hitMidRun waits for a run of the long sysbatch job to be under way on some host
// other than avoid, hits that host (fault), undoes it (undo) after lasting, and
// returns the run's ID: its run must end lost, on that host alone.
func (e *Env) hitMidRun(ctx context.Context, verb string, lasting time.Duration, fault, undo func(*cluster.Proc) error, avoid string) (string, error) {
	x, err := e.WaitExec(ctx, 20*time.Second, func(x *Exec) bool {
		return x.Job == "sys-long-10s" && x.Node != avoid && !x.Ended() && time.Since(x.Start) > time.Second && time.Since(x.Start) < 4*time.Second
	})
	if err != nil {
		return "", fmt.Errorf("no run of sys-long-10s under way to hit: %w", err)
	}
	h := e.C.Proc(x.Node)
	if h == nil {
		return "", fmt.Errorf("no host %q", x.Node)
	}
	e.Logf("%s's host %s %s mid-run", x.Run, x.Node, verb)
	if err := fault(h); err != nil {
		return "", err
	}
	if err := e.Sleep(ctx, lasting); err != nil {
		return x.Run, err
	}
	return x.Run, undo(h)
}

// hostOf is the node a sysbatch run ID names ("" if none).
func hostOf(runID string) string {
	_, _, node, _ := subjects.SplitRunID(runID)
	return node
}

// expectSysbatchLost reports a violation unless each node run a runner fault hit
// mid-run ended lost, on its one allocation (the checker judges that it ran nowhere
// else).
func expectSysbatchLost(e *Env, in CheckInput, ids []string) {
	for _, id := range ids {
		key, err := subjects.RunKeyOf(id)
		if err != nil {
			e.Violate("%s: %v", id, err)
			continue
		}
		o, ok := in.Final[key]
		switch {
		case !ok:
			e.Violate("%s: hit mid-run, but it has no record", id)
		case o.Run.State != subjects.StateLost || len(o.Run.Allocations) != 1:
			e.Violate("%s: its host was hit mid-run, yet it is %s with %d allocations (want lost, on its one)", id, o.Run.State, len(o.Run.Allocations))
		default:
			e.Note("%s: lost with its host (%s), not moved", id, o.Run.Current().Error)
		}
	}
}

// expectEveryHostRan reports a violation unless every runner host ran some tick of
// the short sysbatch job: a tick runs on every eligible node.
func expectEveryHostRan(e *Env, in CheckInput) {
	ran := map[string]int{}
	for _, x := range in.Execs {
		if x.Job == "sys-2s" {
			ran[x.Node]++
		}
	}
	for _, h := range e.C.Hosts() {
		if ran[h.Name] == 0 {
			e.Violate("sys-2s: host %s ran none of its ticks", h.Name)
		}
	}
	e.Note("sys-2s executions per host: %v", ran)
}
