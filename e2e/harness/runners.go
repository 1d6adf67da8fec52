package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/subjects"
)

// longJob is a job that runs for secs seconds, every 5s, with prohibit_overlap.
func longJob(secs int) JobSpec {
	return JobSpec{Every: 5 * time.Second, Overlap: true, Steps: secs, Step: time.Second, RescheduleAttempts: 1, RescheduleDelay: time.Second}
}

// runnerFault is a fault of the runner host of a long job's run: the run must be
// declared lost and relaunched on another host within relaunchWithin.
type runnerFault struct {
	what           string
	verb           string // "killed", "paused"
	relaunchWithin time.Duration
	hit            func(h *cluster.Proc) error
	// recover undoes the fault (t is when it hit) and checks what follows at once.
	recover func(ctx context.Context, e *Env, h *cluster.Proc, x *Exec, t time.Time) error
	// check, if set, judges the first execution once the relaunched one ended.
	check func(e *Env, x *Exec)
}

// runnerFaults are the runner-host scenarios, by name.
var runnerFaults = map[string]runnerFault{
	"runner-kill": {
		what:           "a %ds job's runner host is SIGKILLed (agent and runs) 3s in: the run is marked lost and relaunched on another host; restart the host",
		verb:           "killed",
		relaunchWithin: 20 * time.Second,
		hit:            (*cluster.Proc).Kill,
		recover: func(_ context.Context, _ *Env, h *cluster.Proc, _ *Exec, _ time.Time) error {
			return h.Start()
		},
	},
	"runner-pause": {
		what:           "a %ds job's runner host is SIGSTOPped (agent and runs) for 6s: lost, relaunched elsewhere; on SIGCONT the host kills its orphaned run within 3s",
		verb:           "paused",
		relaunchWithin: 6 * time.Second,
		hit:            (*cluster.Proc).Stop,
		recover:        wakeAndKillOrphan,
		check: func(e *Env, x *Exec) {
			es, _ := e.Execs()
			for _, z := range es {
				if z.Alloc == x.Alloc && z.Ended() {
					e.Violate("%s: the orphaned run on %s ran to its end (%s) instead of being killed", x.Run, x.Node, z)
				}
			}
		},
	},
}

// RunnerKill SIGKILLs the runner host (agent and its runs) of a long job: the run is
// declared lost and relaunched on another host.
func RunnerKill(secs int) Scenario { return runnerScenario("runner-kill", secs) }

// RunnerPause SIGSTOPs the runner host of a long job past its heartbeat TTL: the run is
// declared lost and relaunched elsewhere, and when the host wakes it kills its orphan.
func RunnerPause(secs int) Scenario { return runnerScenario("runner-pause", secs) }

// runnerScenario is the scenario of runnerFaults[name] on a job of secs seconds.
func runnerScenario(name string, secs int) Scenario {
	f := runnerFaults[name]
	return Scenario{
		Name:   name,
		What:   fmt.Sprintf(f.what, secs),
		Settle: time.Duration(secs+20) * time.Second,
		Run: func(ctx context.Context, e *Env) error {
			x, h, err := startLongRun(ctx, e, secs)
			if err != nil {
				return err
			}
			t := time.Now()
			if err := f.hit(h); err != nil {
				return err
			}
			y := awaitRelaunch(ctx, e, x, t, f.relaunchWithin, f.verb)
			if err := f.recover(ctx, e, h, x, t); err != nil {
				return err
			}
			awaitEnd(ctx, e, y, secs)
			if f.check != nil {
				f.check(e, x)
			}
			return nil
		},
		After: func(e *Env, in CheckInput) {
			expectLost(e, in, "long", 1)
		},
	}
}

// wakeAndKillOrphan wakes the host paused at t, 6 s after t, and checks that it
// kills the orphaned process of x within 3 s.
func wakeAndKillOrphan(ctx context.Context, e *Env, h *cluster.Proc, x *Exec, t time.Time) error {
	if err := e.Sleep(ctx, time.Until(t.Add(6*time.Second))); err != nil {
		return err
	}
	woke := time.Now()
	if err := h.Cont(); err != nil {
		return err
	}
	for cluster.Alive(x.PID) && time.Since(woke) < 10*time.Second {
		if err := e.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	if cluster.Alive(x.PID) {
		e.Violate("%s: the orphaned run (pid %d) on %s still runs 10s after its host woke", x.Run, x.PID, x.Node)
		return nil
	}
	d := time.Since(woke)
	e.Note("orphan pid %d on %s gone %s after SIGCONT", x.PID, x.Node, d.Round(10*time.Millisecond))
	if d > 3*time.Second {
		e.Violate("%s: the orphaned run on %s was killed only %s after its host woke", x.Run, x.Node, d.Round(100*time.Millisecond))
	}
	return nil
}

// awaitRelaunch waits up to within for another allocation of x's run to start after
// its host was killed or paused (what) at t, and notes how long that took.
func awaitRelaunch(ctx context.Context, e *Env, x *Exec, t time.Time, within time.Duration, what string) *Exec {
	y, err := e.WaitExec(ctx, within, func(y *Exec) bool { return y.Run == x.Run && y.Alloc != x.Alloc })
	if err != nil {
		e.Violate("%s: not relaunched after its host %s was %s: %v", x.Run, x.Node, what, err)
		return nil
	}
	e.Note("%s relaunched on %s %s after its host was %s", x.Run, y.Node, y.Start.Sub(t).Round(100*time.Millisecond), what)
	return y
}

// awaitEnd waits for the relaunched execution y, if any, to end.
func awaitEnd(ctx context.Context, e *Env, y *Exec, secs int) {
	if y == nil {
		return
	}
	if _, err := e.WaitExec(ctx, time.Duration(secs+10)*time.Second, func(z *Exec) bool { return z.Alloc == y.Alloc && z.Ended() }); err != nil {
		e.Violate("%s: the relaunched run on %s did not end: %v", y.Run, y.Node, err)
	}
}

// startLongRun puts the background job and a long job of secs seconds, and returns
// the long job's first execution 3 s after it started, with its runner host.
func startLongRun(ctx context.Context, e *Env, secs int) (*Exec, *cluster.Proc, error) {
	if err := e.PutJob(ctx, "tick-1s", background["tick-1s"]); err != nil {
		return nil, nil, err
	}
	if err := e.PutJob(ctx, "long", longJob(secs)); err != nil {
		return nil, nil, err
	}
	x, err := e.WaitExec(ctx, 15*time.Second, func(x *Exec) bool { return x.Job == "long" })
	if err != nil {
		return nil, nil, err
	}
	if err := e.Sleep(ctx, time.Until(x.Start.Add(3*time.Second))); err != nil {
		return nil, nil, err
	}
	h := e.C.Proc(x.Node)
	if h == nil {
		return nil, nil, fmt.Errorf("no host %q", x.Node)
	}
	return x, h, nil
}

// expectLost reports a violation unless job has at least n lost allocations, each
// followed by another allocation.
func expectLost(e *Env, in CheckInput, job string, n int) {
	lost := 0
	for _, o := range in.Final {
		if o.Run.Job != job {
			continue
		}
		for i, a := range o.Run.Allocations {
			if a.State == subjects.StateLost {
				lost++
				if i == len(o.Run.Allocations)-1 {
					e.Violate("%s: allocation %s lost, but never rescheduled (attempts 1)", o.Run.ID, a.ID)
				}
			}
		}
	}
	if lost < n {
		e.Violate("%s: %d lost allocations recorded, want at least %d", job, lost, n)
	}
}
