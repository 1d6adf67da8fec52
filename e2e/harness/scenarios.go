package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetcron/jetcron/configs"
	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/subjects"
)

// maxResume is how long after a ticker leader's death, pause or partition launching
// may take to resume (guarantee 6: "within a few seconds"; bounded by the lock TTL,
// 800ms by default, and by the 4-9s Raft election of a stream whose leader died).
const maxResume = 12 * time.Second

// background are the jobs every fault scenario runs: per-second ticks, a job that
// overlaps its next tick (prohibit_overlap skips every other tick), and a 2s one.
var background = map[string]JobSpec{
	"tick-1s":    {Every: time.Second},
	"overlap-1s": {Every: time.Second, Overlap: true, Steps: 3, Step: 500 * time.Millisecond},
	"tick-2s":    {Every: 2 * time.Second, Step: 300 * time.Millisecond},
}

// backgroundKeys are the keys of background, in the order putBackground puts them.
var backgroundKeys = []string{"tick-1s", "overlap-1s", "tick-2s"}

func putBackground(ctx context.Context, e *Env) error {
	for _, k := range backgroundKeys {
		if err := e.PutJob(ctx, k, background[k]); err != nil {
			return err
		}
	}
	return nil
}

// Scenarios returns the scenarios of the short mode, in order. Those needing network
// namespaces are left out (with the reason) when netnsErr is not nil.
func Scenarios(netnsErr error) []Scenario {
	sc := []Scenario{
		LeaderKill(3),
		LeaderPause(2),
		JobPause(),
		Partition(netnsErr),
		RunnerKill(20),
		RunnerPause(20),
		RunnerStop(8),
		RestartPause(),
		ClusterRestart(),
		Churn(30 * time.Second),
		BadInputs(),
		Observe(),
		Sysbatch(),
	}
	return sc
}

// resumeAfter waits until job executes again after t, and reports a violation of
// guarantee 6 if that took longer than maxResume.
func (e *Env) resumeAfter(ctx context.Context, what, job string, t time.Time) {
	x, err := e.WaitExec(ctx, maxResume+20*time.Second, func(x *Exec) bool { return x.Job == job && x.Start.After(t) })
	if err != nil {
		e.Violate("%s: %s never executed again: %v", what, job, err)
		return
	}
	d := x.Start.Sub(t)
	e.Note("%s: %s executed again %s later", what, job, d.Round(100*time.Millisecond))
	if d > maxResume {
		e.Violate("%s: launching resumed only %s later (want <= %s)", what, d.Round(100*time.Millisecond), maxResume)
	}
}

// LeaderKill SIGKILLs the ticker's server rounds times, restarting it after 3s.
func LeaderKill(rounds int) Scenario {
	return Scenario{
		Name: "leader-kill",
		What: fmt.Sprintf("SIGKILL the ticker leader's server %d times, restart it after 3s; launching resumes within %s, no tick twice, none missed", rounds, maxResume),
		Run:  leaderFaults(rounds, "kill", 3*time.Second, 5*time.Second, (*cluster.Proc).Kill, (*cluster.Proc).Start),
	}
}

// LeaderPause SIGSTOPs the ticker's server past the lock TTL, then SIGCONTs it: its
// stale leadership must not produce one extra launch.
func LeaderPause(rounds int) Scenario {
	return Scenario{
		Name: "leader-pause",
		What: fmt.Sprintf("SIGSTOP the ticker leader's server for 6s (%.1fx the lock TTL) then SIGCONT, %d times; no extra launch from the stale leader",
			float64(6*time.Second)/float64(configs.DefaultLockTTL), rounds),
		Run: leaderFaults(rounds, "pause", 6*time.Second, 6*time.Second, (*cluster.Proc).Stop, (*cluster.Proc).Cont),
	}
}

// leaderFaults runs the background jobs and, rounds times, applies fault to the ticker
// leader's server, checks that launching resumes, undoes the fault after lasting, and
// lets the cluster settle for settle.
func leaderFaults(rounds int, what string, lasting, settle time.Duration, fault, undo func(*cluster.Proc) error) func(context.Context, *Env) error {
	return func(ctx context.Context, e *Env) error {
		if err := putBackground(ctx, e); err != nil {
			return err
		}
		if err := e.Sleep(ctx, 4*time.Second); err != nil {
			return err
		}
		for i := range rounds {
			l, err := e.Leader(ctx)
			if err != nil {
				return err
			}
			t := time.Now()
			if err := fault(l); err != nil {
				return err
			}
			e.resumeAfter(ctx, fmt.Sprintf("%s %d of %s", what, i+1, l.Name), "tick-1s", t)
			if err := e.Sleep(ctx, time.Until(t.Add(lasting))); err != nil {
				return err
			}
			if err := undo(l); err != nil {
				return err
			}
			if err := e.Sleep(ctx, settle); err != nil {
				return err
			}
		}
		return nil
	}
}

// Partition cuts the ticker leader's server off: first from the other servers only
// (runner hosts still reach it), then from everything; each time for 10s, then heals.
func Partition(netnsErr error) Scenario {
	sc := Scenario{
		Name:  "partition",
		What:  "network namespaces + veth + bridge + nftables: the leader's server cut off from the other servers (clients still reach it) for 10s, healed; then cut off from everything for 10s, healed",
		Netns: true,
		Run: func(ctx context.Context, e *Env) error {
			if err := putBackground(ctx, e); err != nil {
				return err
			}
			if err := e.Sleep(ctx, 4*time.Second); err != nil {
				return err
			}
			for _, all := range []bool{false, true} {
				l, err := e.Leader(ctx)
				if err != nil {
					return err
				}
				t := time.Now()
				if err := e.C.Partition(ctx, l, all); err != nil {
					return err
				}
				what := map[bool]string{false: "from its peers", true: "from everything"}[all]
				e.resumeAfter(ctx, fmt.Sprintf("%s cut off %s", l.Name, what), "tick-1s", t)
				if err := e.Sleep(ctx, time.Until(t.Add(10*time.Second))); err != nil {
					return err
				}
				if err := e.C.Heal(ctx); err != nil {
					return err
				}
				if err := e.Sleep(ctx, 8*time.Second); err != nil {
					return err
				}
			}
			return nil
		},
	}
	if netnsErr != nil {
		sc.Run = func(ctx context.Context, e *Env) error {
			return fmt.Errorf("network namespaces unavailable: %w", netnsErr)
		}
		sc.Netns = false
	}
	return sc
}

// ClusterRestart stops every server and host (SIGKILL) across several ticks and
// starts them again: catch-up follows catchup_window and catchup.
func ClusterRestart() Scenario {
	var down, up time.Time
	return Scenario{
		Name: "cluster-restart",
		What: "SIGKILL every server and host, 10s down, start them all: catchup all launches every missed tick late, catchup latest only the newest, ticks older than catchup_window 3s are recorded skipped",
		Run: func(ctx context.Context, e *Env) error {
			jobs := map[string]JobSpec{
				"all-2s":    {Every: 2 * time.Second},
				"latest-2s": {Every: 2 * time.Second, Catchup: "latest"},
				"window-1s": {Every: time.Second, CatchupWindow: 3 * time.Second},
			}
			for _, k := range []string{"all-2s", "latest-2s", "window-1s"} {
				if err := e.PutJob(ctx, k, jobs[k]); err != nil {
					return err
				}
			}
			if err := e.Sleep(ctx, 5*time.Second); err != nil {
				return err
			}
			down = time.Now()
			for _, p := range e.C.All() {
				if err := p.Kill(); err != nil {
					return err
				}
			}
			if err := e.Sleep(ctx, 10*time.Second); err != nil {
				return err
			}
			for _, p := range e.C.All() {
				if err := p.Start(); err != nil {
					return err
				}
			}
			if err := e.C.WaitReady(ctx, 60*time.Second); err != nil {
				return err
			}
			up = time.Now()
			e.Note("cluster down %s, ready again after %s", down.Format("15:04:05"), up.Sub(down).Round(100*time.Millisecond))
			return e.Sleep(ctx, 6*time.Second)
		},
		After: func(e *Env, in CheckInput) {
			var allLate, latestLaunched, latestSkipped, windowSkipped int
			// When latest-2s was caught up: its skipped records are never rewritten, so
			// tick + late is when the catch-up made them. A launch of a tick due by
			// then is a catch-up; a later one was on time, even if it then waited for
			// a node to come back (the record's late then counts up to its placement).
			var caughtUp time.Time
			for _, o := range in.Final {
				if r := o.Run; r.Job == "latest-2s" && r.State == subjects.StateSkipped && reasonClass(r.Reason) == "catchup-latest" {
					if made := time.Unix(r.Scheduled, 0).Add(r.Late.Duration()); made.After(caughtUp) {
						caughtUp = made
					}
				}
			}
			for _, o := range in.Final {
				r := o.Run
				tick := time.Unix(r.Scheduled, 0)
				outage := tick.After(down) && tick.Before(up)
				switch r.Job {
				case "all-2s":
					if outage && r.State == subjects.StateSkipped {
						e.Violate("%s: catchup all (window 10m), but a tick missed in the outage was skipped: %s", r.ID, r.Reason)
					}
					if outage && r.Late.Duration() > time.Second {
						allLate++
					}
				case "latest-2s":
					if outage && r.State != subjects.StateSkipped && !tick.After(caughtUp) {
						latestLaunched++
					}
					if r.State == subjects.StateSkipped && reasonClass(r.Reason) == "catchup-latest" {
						latestSkipped++
					}
				case "window-1s":
					// Late is the current allocation's. A run that was running when
					// everything died is lost with its node and relaunched per
					// reschedule (not a catch-up): its tick launched with the first.
					late := r.Late.Duration()
					if len(r.Allocations) > 1 && r.Allocations[0].State == subjects.StateLost {
						late = r.Allocations[0].Created.Sub(tick)
						e.Note("%s: lost in the outage, relaunched %s after its tick (reschedule)", r.ID, r.Late.Duration())
					}
					if r.State != subjects.StateSkipped && late > 4*time.Second {
						e.Violate("%s: launched %s late, beyond its catchup_window of 3s", r.ID, late)
					}
					if r.State == subjects.StateSkipped {
						switch reasonClass(r.Reason) {
						case "no-node":
							// Hosts restart too: a tick that found no ready node within
							// its window is skipped for that reason.
						case "outside-window":
							if r.Late.Duration() < 2*time.Second {
								e.Violate("%s: skipped as outside the 3s catch-up window, but only %s late", r.ID, r.Late.Duration())
							}
						default:
							e.Violate("%s: skipped for %q, want outside the catch-up window", r.ID, r.Reason)
						}
						windowSkipped++
					}
				}
			}
			e.Note("outage ticks: all-2s launched %d late; latest-2s launched %d late, skipped %d (catchup latest); window-1s skipped %d (outside window)", allLate, latestLaunched, latestSkipped, windowSkipped)
			if allLate == 0 {
				e.Violate("all-2s: no tick of the outage was launched late (catch-up did not happen)")
			}
			if latestLaunched > 1 {
				e.Violate("latest-2s: catchup latest, but %d missed ticks launched late (want 1)", latestLaunched)
			}
			if latestSkipped == 0 {
				e.Violate("latest-2s: catchup latest, but no missed tick was recorded skipped")
			}
			if windowSkipped == 0 {
				e.Violate("window-1s: catchup_window 3s and a 10s outage, but no tick was recorded skipped")
			}
		},
	}
}

// Churn creates, changes and deletes jobs while the leader is killed every 7s and a
// runner host is killed and restarted.
func Churn(d time.Duration) Scenario {
	return Scenario{
		Name: "churn",
		What: fmt.Sprintf("for %s, jobs created, changed and deleted every 0.5-1.5s through nats kv put/del, while every 4-7s the leader's server (2 in 3) or a runner host (1 in 3) is SIGKILLed and restarted; every acknowledged definition reads back", d),
		Run: func(ctx context.Context, e *Env) error {
			if err := e.PutJob(ctx, "tick-1s", background["tick-1s"]); err != nil {
				return err
			}
			nctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			r := e.fork()
			go func() {
				done <- e.nemesis(nctx, r, []fault{faultLeaderKill, faultLeaderKill, faultRunnerKill}, 4*time.Second, 7*time.Second, false)
			}()
			err := e.churn(ctx, time.Now().Add(d), 6)
			stop()
			return errors.Join(err, <-done)
		},
	}
}

// churn writes random job definitions to keys churn-0..n-1 until deadline.
func (e *Env) churn(ctx context.Context, deadline time.Time, n int) error {
	alive := map[int]bool{}
	for time.Now().Before(deadline) {
		i := e.Rand.IntN(n)
		key := fmt.Sprintf("churn-%d", i)
		if alive[i] && e.Rand.IntN(3) == 0 {
			if e.DelJob(ctx, key) == nil {
				alive[i] = false
			}
		} else {
			spec := JobSpec{Every: time.Duration(1+e.Rand.IntN(3)) * time.Second, Overlap: i%2 == 0, Step: time.Duration(100+e.Rand.IntN(1500)) * time.Millisecond}
			if e.PutJob(ctx, key, spec) == nil {
				alive[i] = true
			}
		}
		if err := e.Sleep(ctx, time.Duration(500+e.Rand.IntN(1000))*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
