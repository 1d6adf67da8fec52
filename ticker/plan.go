package ticker

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"
	"weak"

	"github.com/robfig/cron/v3"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/subjects"
)

// jobPlan is what the dispatcher keeps of a job's running version: the schedule, the
// settings it applies, what placement checks and the task that launches carry. Every
// server keeps one per job (the target is 100,000 jobs in a few hundred MB), so it
// keeps no more of the parsed file than that, and jobs with the same schedule or the
// same placement constraints share one copy of it.
type jobPlan struct {
	schedule  *schedule
	placement *job.Job // only what Eligible reads: datacenters, constraints, task driver
	task      []byte   // job.Task as JSON, for launches
	*policy
}

// policy is what a job's version asks of its ticks and runs beyond its schedule and
// placement; most jobs have the same, and share one copy.
type policy struct {
	window    time.Duration // periodic.catchup_window
	delay     time.Duration // reschedule.delay
	attempts  int           // reschedule.attempts
	onFailure bool          // reschedule.on_failure
	latest    bool          // periodic.catchup: latest
	overlap   bool          // periodic.prohibit_overlap
	jitter    time.Duration // periodic.jitter
	restart   subjects.Restart
	// sysbatch: each tick runs on every eligible node (type: sysbatch).
	sysbatch bool
	// paused holds the reason of the ticks a paused version skips; empty if not paused.
	paused string
}

// schedule is a job's parsed cron expression: Next(t) is its first tick strictly
// after t, or the zero time if none.
type schedule struct{ cron.Schedule }

// scheduleKey identifies a schedule: its expressions, one a line, read in its time
// zone.
type scheduleKey struct{ cron, zone string }

// planner makes plans, sharing the parts jobs have in common. Only the dispatcher's
// loop uses it.
type planner struct {
	schedules  sharedCache[scheduleKey, schedule]
	policies   sharedCache[policy, policy]
	placements sharedCache[string, job.Job]
}

// plan makes the plan of a parsed job.
func (p *planner) plan(j *job.Job) (*jobPlan, error) {
	task, err := json.Marshal(j.Task)
	if err != nil {
		return nil, fmt.Errorf("encode task: %w", err)
	}
	place := &job.Job{Datacenters: j.Datacenters, Constraints: j.Constraints, Task: job.Task{Driver: j.Task.Driver}}
	placeKey, err := json.Marshal(place)
	if err != nil {
		return nil, fmt.Errorf("encode placement: %w", err)
	}
	pol := policy{
		window:    time.Duration(j.Periodic.CatchupWindow),
		delay:     time.Duration(j.Reschedule.Delay),
		attempts:  j.Reschedule.Attempts,
		onFailure: j.Reschedule.OnFailure,
		latest:    j.Periodic.Catchup == "latest",
		overlap:   j.Periodic.ProhibitOverlap,
		jitter:    time.Duration(j.Periodic.Jitter),
		restart:   subjects.Restart{Attempts: j.Restart.Attempts, Delay: subjects.MillisOf(time.Duration(j.Restart.Delay))},
		paused:    j.PauseReason(),
		sysbatch:  j.Sysbatch(),
	}
	return &jobPlan{
		schedule:  p.schedules.share(scheduleKey{strings.Join(j.Expressions(), "\n"), j.Periodic.TimeZone}, &schedule{j.Schedule()}),
		placement: p.placements.share(string(placeKey), place),
		task:      task,
		policy:    p.policies.share(pol, &pol),
	}, nil
}

// dueAt is when the tick of the plan's job (named key) is due: the tick delayed by
// its jitter offset, the same on every ticker.
func (p *jobPlan) dueAt(key string, tick time.Time) time.Time {
	if p.jitter == 0 {
		return tick
	}
	return tick.Add(job.JitterOffset(key, tick, p.jitter))
}

// sharedCache keeps one copy of a value that many jobs have in common, for as long as
// a job uses it: plans hold the value, the cache only a weak pointer to it.
type sharedCache[K comparable, V any] struct {
	m     map[K]weak.Pointer[V]
	prune int // size of m at which entries whose value is gone are dropped
}

// share returns the value kept under k if a plan still uses it, else keeps v.
func (c *sharedCache[K, V]) share(k K, v *V) *V {
	if kept := c.m[k].Value(); kept != nil {
		return kept
	}
	if c.m == nil {
		c.m = map[K]weak.Pointer[V]{}
	}
	if len(c.m) >= c.prune {
		maps.DeleteFunc(c.m, func(_ K, w weak.Pointer[V]) bool { return w.Value() == nil })
		c.prune = max(2*len(c.m), 1024)
	}
	c.m[k] = weak.Make(v)
	return v
}
