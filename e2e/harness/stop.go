package harness

import (
	"context"
	"fmt"
	"time"
)

// RunnerStop SIGTERMs the runner host of a long job's run, as `systemctl stop` does
// before an upgrade: the agent takes no new launch, lets the run end within
// client.shutdown_grace (the default, 30s, longer than the run), then exits by
// itself. The checker then finds the run complete, executed once.
func RunnerStop(secs int) Scenario {
	return Scenario{
		Name:   "runner-stop",
		What:   fmt.Sprintf("a %ds job's runner host gets SIGTERM 3s in (systemctl stop): it takes no new launch, the run ends complete within the shutdown grace, the agent exits by itself; restart it", secs),
		Settle: time.Duration(secs+20) * time.Second,
		Run: func(ctx context.Context, e *Env) error {
			x, h, err := startLongRun(ctx, e, secs)
			if err != nil {
				return err
			}
			t := time.Now()
			if err := h.Term(time.Duration(secs+40) * time.Second); err != nil {
				e.Violate("%s: %v", x.Run, err)
				return nil
			}
			stopped := time.Now()
			e.Note("%s's agent exited %s after SIGTERM", h.Name, stopped.Sub(t).Round(100*time.Millisecond))
			es, err := e.Execs()
			if err != nil {
				return err
			}
			for _, z := range es {
				switch {
				case z.Alloc == x.Alloc && !z.Ended():
					e.Violate("%s: the run on %s did not end before its agent exited: %s", x.Run, h.Name, z)
				case z.Alloc == x.Alloc && z.Term:
					e.Violate("%s: the run on %s was killed by the stop instead of ending: %s", x.Run, h.Name, z)
				case z.Node == h.Name && z.Start.After(t):
					e.Violate("%s: %s took a launch after its SIGTERM: %s", z.Run, h.Name, z)
				}
			}
			if err := h.Start(); err != nil {
				return err
			}
			// The next tick of the long job runs somewhere: launching went on.
			_, err = e.WaitExec(ctx, 30*time.Second, func(z *Exec) bool { return z.Job == "long" && z.Start.After(stopped) })
			if err != nil {
				e.Violate("long: no run after %s's restart: %v", h.Name, err)
			}
			return nil
		},
	}
}
