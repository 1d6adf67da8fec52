package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// restartJob fails (exit 1 after 1 s) on the first two executions of each tick, and
// is restarted on its node twice, 2 s after each failure: a tick runs three times,
// the third completes. Every 5 s with prohibit_overlap, so the ticks that come while
// a run waits for a restart are skipped (the run stays running).
var restartJob = JobSpec{
	Every: 5 * time.Second, Overlap: true, Steps: 1, Step: time.Second,
	RestartAttempts: 2, RestartDelay: 2 * time.Second, FailFirst: 2,
	RescheduleAttempts: 1, RescheduleDelay: time.Second,
}

// restartFreeze is how long the nemesis keeps a runner host frozen: three times the
// harness's 2 s heartbeat TTL, so the ticker declares its run lost meanwhile.
const restartFreeze = 6 * time.Second

// RestartPause freezes (SIGSTOP) the runner host of a run with restarts, first while
// a restart waits for its delay, then while a restart executes, each time past the
// heartbeat TTL, and thaws it. The ticker declares the run lost and reschedules it on
// another host; the thawed host must start nothing for the run (the restart's start
// is a revision-checked write that conflicts) and kill what it was running. The
// checker then finds no two executions of a tick at once, every execution accounted
// for, and the restarts in the records.
func RestartPause() Scenario {
	var fenced *Exec // the failed execution whose restart delay the first freeze hit
	return Scenario{
		Name:   "restart-pause",
		What:   fmt.Sprintf("a job every 5s failing (exit 1 after 1s) on each tick's first 2 executions, restart {attempts: 2, delay: 2s}: its host SIGSTOPped for %s during a restart delay, then during a restart, and woken; the restart of a run declared lost meanwhile never starts, the orphan is killed, no two executions of a tick overlap, restarts show in the records", restartFreeze),
		Settle: 60 * time.Second,
		Run: func(ctx context.Context, e *Env) error {
			if err := e.PutJob(ctx, "tick-1s", background["tick-1s"]); err != nil {
				return err
			}
			if err := e.PutJob(ctx, "flaky", restartJob); err != nil {
				return err
			}
			// 1. A failure just written: its runner is in the restart delay.
			x, err := e.WaitExec(ctx, 30*time.Second, func(x *Exec) bool {
				return x.Job == "flaky" && x.Fail && time.Since(x.End) < 500*time.Millisecond
			})
			if err != nil {
				return fmt.Errorf("no failed execution to restart: %w", err)
			}
			fenced = x
			if err := e.freeze(ctx, x, "its restart delay"); err != nil {
				return err
			}
			if err := e.Sleep(ctx, 4*time.Second); err != nil {
				return err
			}
			// 2. A restart executing.
			y, err := e.WaitExec(ctx, 40*time.Second, func(y *Exec) bool {
				if y.Job != "flaky" || y.Ended() || time.Since(y.Start) > 400*time.Millisecond {
					return false
				}
				a := e.watch.alloc(y.Run, y.Alloc)
				return a != nil && a.Restart > 0
			})
			if err != nil {
				return fmt.Errorf("no restart executing: %w", err)
			}
			h := e.C.Proc(y.Node)
			if h == nil {
				return fmt.Errorf("no host %q", y.Node)
			}
			t := time.Now()
			if err := h.Stop(); err != nil {
				return err
			}
			e.Note("%s: %s frozen %s into restart %s", y.Run, h.Name, t.Sub(y.Start).Round(10*time.Millisecond), y.Alloc)
			if err := wakeAndKillOrphan(ctx, e, h, y, t); err != nil {
				return err
			}
			return e.Sleep(ctx, 10*time.Second)
		},
		After: func(e *Env, in CheckInput) {
			if fenced != nil {
				judgeFence(e, in, fenced)
			}
			expectLost(e, in, "flaky", 2)
			restarted, completed := 0, 0
			for _, o := range in.Final {
				if o.Run.Job != "flaky" || o.Run.Restarts == 0 {
					continue
				}
				restarted++
				if o.Run.State == subjects.StateComplete {
					completed++
				}
			}
			e.Note("flaky: %d runs restarted, %d of them complete", restarted, completed)
			if completed == 0 {
				e.Violate("flaky: no run restarted to completion: restarts do not show in the records")
			}
		},
	}
}

// freeze SIGSTOPs the host of x for restartFreeze, what being when it hit, then
// wakes it.
func (e *Env) freeze(ctx context.Context, x *Exec, what string) error {
	h := e.C.Proc(x.Node)
	if h == nil {
		return fmt.Errorf("no host %q", x.Node)
	}
	if err := h.Stop(); err != nil {
		return err
	}
	e.Note("%s: %s frozen %s after its execution %s failed (%s)", x.Run, h.Name, time.Since(x.End).Round(10*time.Millisecond), x.Alloc, what)
	err := e.Sleep(ctx, restartFreeze)
	if cerr := h.Cont(); cerr != nil {
		return cerr
	}
	return err
}

// judgeFence checks what became of the restart of x, frozen with its host during
// the restart's delay: declared lost, it must never have started; or, if the host
// froze before the restart was scheduled, x's own allocation was declared lost (the
// write that schedules a restart is fenced the same way). A run that was not
// declared lost at all did not test the fence.
func judgeFence(e *Env, in CheckInput, x *Exec) {
	key, err := subjects.RunKeyOf(x.Run)
	if err != nil {
		e.Violate("%s: %v", x.Run, err)
		return
	}
	r := in.Final[key].Run
	i := -1
	for j := range r.Allocations {
		if r.Allocations[j].ID == x.Alloc {
			i = j
		}
	}
	switch {
	case i < 0:
		e.Violate("%s: the record has no allocation %s", x.Run, x.Alloc)
	case r.Allocations[i].State == subjects.StateLost:
		e.Note("%s: the host froze before the restart was scheduled; %s declared lost, no restart scheduled from it", x.Run, x.Alloc)
	case i+1 < len(r.Allocations) && r.Allocations[i+1].Restart > 0 && r.Allocations[i+1].State == subjects.StateLost:
		next := r.Allocations[i+1]
		for _, z := range in.Execs {
			if z.Alloc == next.ID {
				e.Violate("%s: restart %s was declared lost during its delay, yet it executed: %s", x.Run, next.ID, z)
				return
			}
		}
		e.Note("%s: restart %s (%d of %d) declared lost during its delay, never started", x.Run, next.ID, next.Restart, next.RestartOf)
	default:
		e.Violate("%s: the freeze during the restart delay did not get the run declared lost (allocations %+v): the fence was not tested", x.Run, r.Allocations)
	}
}
