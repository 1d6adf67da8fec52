package harness

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jetcron/jetcron/e2e/cluster"
	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// pauseReason is the reason jetcron records for each tick of a paused job.
func pauseReason(s *JobSpec) string {
	if s.PauseNote == "" {
		return "paused"
	}
	return "paused: " + s.PauseNote
}

// checkPause judges job's paused spans. A tick that only a paused definition can own
// (after the pause was acknowledged, up to a second before the next write) must be
// recorded skipped with the pause's reason, and never execute; a tick skipped for a
// pause must be one that a paused definition may own (from a second before the pause
// was sent to a second after the next write was acknowledged). A missing record is
// the silent miss checkJob reports.
func checkPause(res *Result, in CheckInput, ix *index, job string) {
	defs := in.Book.Defs(job)
	byTick := map[int64]subjects.Run{}
	for _, r := range ix.runsByJob[job] {
		if !r.Forced {
			byTick[r.Scheduled] = r
		}
	}
	for i, d := range defs {
		if !d.OK() || d.Raw || d.Spec == nil || !d.Spec.Paused {
			continue
		}
		to, next := in.End, "the scenario's end"
		for _, n := range defs[i+1:] {
			if n.Raw && n.Invalid && n.OK() {
				continue
			}
			to, next = minTime(to, n.Sent.Add(-time.Second)), "the next write at "+n.Sent.Format("15:04:05.000")
			break
		}
		want := pauseReason(d.Spec)
		for _, t := range d.Spec.Ticks(d.Acked, to) {
			id := subjects.RunID(job, time.Unix(t, 0))
			if r, ok := byTick[t]; ok && (r.State != subjects.StateSkipped || r.Reason != want) {
				res.violate("%s (%s): a tick of the paused span (pause acknowledged %s, until %s) was %s (%q), want skipped %q",
					id, clock(t), d.Acked.Format("15:04:05.000"), next, r.State, r.Reason, want)
			}
			if n := len(ix.execsByRun[id]); n > 0 {
				res.violate("%s (%s): executed %d time(s) while the job was paused (pause acknowledged %s, until %s)",
					id, clock(t), n, d.Acked.Format("15:04:05.000"), next)
			}
		}
	}
	for _, t := range sortedTicks(byTick) {
		if r := byTick[t]; r.State == subjects.StateSkipped && reasonClass(r.Reason) == "paused" && !mayBePaused(defs, t) {
			res.violate("%s (%s): skipped %q, but no pause of the job may own this tick", r.ID, clock(t), r.Reason)
		}
	}
}

// mayBePaused reports whether a paused definition may own tick (mayOwn).
func mayBePaused(defs []*Def, tick int64) bool {
	return mayOwn(defs, tick, func(d *Def) bool { return d.Spec.Paused })
}

// PauseJob pauses key with `jetcron job pause KEY -note NOTE` (as the admin), and
// books the pause as a write of the key's last job with paused and the note.
func (e *Env) PauseJob(ctx context.Context, key, note string) error {
	return e.setPause(ctx, key, true, note, "job", "pause", key, "-note", note)
}

// ResumeJob resumes key with `jetcron job resume KEY`, booked as a write of the key's
// last job without the pause.
func (e *Env) ResumeJob(ctx context.Context, key string) error {
	return e.setPause(ctx, key, false, "", "job", "resume", key)
}

// setPause runs the pause or resume command args and books its write: the key's
// last job with the pause set, whose value (for the read back after healing) is
// the last acknowledged value edited as the command edits it.
func (e *Env) setPause(ctx context.Context, key string, paused bool, note string, args ...string) error {
	defs := e.Book.Defs(key)
	last := lastSpec(defs)
	var prev string
	for _, d := range defs {
		if d.OK() && d.Spec != nil {
			prev = d.Value
		}
	}
	if last == nil || prev == "" {
		return fmt.Errorf("%s %s: the key has no job booked", strings.Join(args[:2], " "), key)
	}
	value, err := job.SetPause([]byte(prev), paused, note)
	if err != nil {
		return fmt.Errorf("%s %s: %w", strings.Join(args[:2], " "), key, err)
	}
	spec := *last
	spec.Paused, spec.PauseNote = paused, note
	d := &Def{Spec: &spec, Value: string(value), Sent: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := e.C.JetcronAs(ctx, cluster.Admin, args...)
	d.Err = err
	if err == nil {
		d.Acked = time.Now()
		e.Logf("jetcron %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
	} else {
		e.Logf("jetcron %s: %v", strings.Join(args, " "), err)
	}
	e.Book.add(key, d)
	return err
}

// JobPause pauses a per-second job with a note through `jetcron job pause`, SIGKILLs the
// ticker leader's server while it is paused (restarted 3s later), and resumes the
// job through `jetcron job resume`.
func JobPause() Scenario {
	const key, note = "paused-1s", "e2e: leader killed while paused"
	var killed, resumed time.Time
	var leader string
	return Scenario{
		Name: "pause",
		What: "jetcron job pause with a note, SIGKILL the ticker leader's server while paused (restart after 3s), jetcron job resume: every tick of the paused span recorded skipped with the note, by the old leader and the new, none executed; the ticks after the resume launch",
		Run: func(ctx context.Context, e *Env) error {
			if err := e.PutJob(ctx, "tick-1s", background["tick-1s"]); err != nil {
				return err
			}
			if err := e.PutJob(ctx, key, JobSpec{Every: time.Second}); err != nil {
				return err
			}
			if err := e.Sleep(ctx, 4*time.Second); err != nil {
				return err
			}
			if err := e.PauseJob(ctx, key, note); err != nil {
				return err
			}
			if err := e.Sleep(ctx, 3*time.Second); err != nil {
				return err
			}
			l, err := e.Leader(ctx)
			if err != nil {
				return err
			}
			leader, killed = l.Name, time.Now()
			if err := l.Kill(); err != nil {
				return err
			}
			e.resumeAfter(ctx, "kill of "+l.Name+" while "+key+" is paused", "tick-1s", killed)
			if err := e.Sleep(ctx, time.Until(killed.Add(3*time.Second))); err != nil {
				return err
			}
			if err := l.Start(); err != nil {
				return err
			}
			if err := e.Sleep(ctx, 5*time.Second); err != nil {
				return err
			}
			if err := e.ResumeJob(ctx, key); err != nil {
				return err
			}
			resumed = time.Now()
			return e.Sleep(ctx, 6*time.Second)
		},
		After: func(e *Env, in CheckInput) {
			var afterKill, afterResume int
			for _, o := range in.Final {
				r := o.Run
				tick := time.Unix(r.Scheduled, 0)
				switch {
				case r.Job != key:
				case tick.After(killed) && tick.Before(resumed.Add(-time.Second)) && r.Reason == "paused: "+note:
					afterKill++
				case tick.After(resumed) && r.State == subjects.StateComplete:
					afterResume++
				}
			}
			e.Note("%s: %d ticks skipped for the pause after %s was killed, %d launched after the resume", key, afterKill, leader, afterResume)
			if afterKill == 0 {
				e.Violate("%s: no tick after the kill of %s was skipped for the pause: the new leader did not keep it", key, leader)
			}
			if afterResume == 0 {
				e.Violate("%s: no tick after the resume launched", key)
			}
		},
	}
}
