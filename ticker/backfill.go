package ticker

import (
	"fmt"
	"sync"
	"time"

	"github.com/jetcron/jetcron/placement"
	"github.com/jetcron/jetcron/subjects"
)

// backfillTicks lists the ticks of sched in [From, To] of a `job backfill` request.
// It refuses, naming the argument, a range whose start is after its end, one that
// reaches into the future (a tick still to come is the schedule's to launch), and
// one with more ticks than subjects.BackfillLimit (BackfillForcedLimit when forced).
func backfillTicks(sched *schedule, req subjects.BackfillRequest, now time.Time) ([]time.Time, error) {
	from, to := time.Unix(req.From, 0).UTC(), time.Unix(req.To, 0).UTC()
	switch {
	case from.After(to):
		return nil, fmt.Errorf("-from %s is after -to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case to.After(now):
		return nil, fmt.Errorf("-to %s is in the future (it is %s): backfill launches past ticks only", to.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	limit := subjects.BackfillLimit
	if req.Force {
		limit = subjects.BackfillForcedLimit
	}
	var ticks []time.Time
	for t := sched.Next(from.Add(-time.Nanosecond)); !t.IsZero() && !t.After(to); t = sched.Next(t) {
		if len(ticks) == limit {
			if req.Force {
				return nil, fmt.Errorf("the range holds more than %d ticks, the limit even with -force: split it", limit)
			}
			return nil, fmt.Errorf("the range holds more than %d ticks: narrow -from and -to, or add -force (up to %d)", limit, subjects.BackfillForcedLimit)
		}
		ticks = append(ticks, t)
	}
	return ticks, nil
}

// backfill launches each tick of a `job backfill` request that has no run record,
// once: records are created only where none exists, so asking twice launches
// nothing new. A prohibit_overlap job's runs are queued behind each other (and
// behind the job's active runs) and placed one at a time, oldest first (sweep.go).
// It answers once every record was written or found.
func (d *dispatcher) backfill(f forceRequest) {
	je := d.requested(f)
	if je == nil {
		return
	}
	now := d.clock.Now()
	ticks, err := backfillTicks(je.plan.schedule, *f.backfill, now)
	if err != nil {
		f.reply(subjects.ForceReply{Error: err.Error()})
		return
	}
	tally := &backfillTally{BackfillReply: subjects.BackfillReply{Ticks: len(ticks)}}
	behind := je.plan.overlap && len(d.activeOf(f.job)) > 0
	view, load := d.nodeView(now), map[string]int{}
	pending := 0
	for _, tick := range ticks {
		key := subjects.RunKey(f.job, tick)
		if _, known := d.runs[key]; known || je.facts.records[tick.Unix()] != 0 {
			tally.count(subjects.ForceReply{}) // existing; under its lock, as writes answer meanwhile
			continue
		}
		run := subjects.Run{ID: subjects.RunID(f.job, tick), Job: f.job, Scheduled: tick.Unix(), Backfill: true, State: subjects.StateQueued}
		if je.plan.sysbatch {
			backfillTick(&run, je.plan, view, now)
		} else {
			var node *placement.Node
			why := "backfill: waits for the job's earlier runs to end (prohibit_overlap)"
			if !behind {
				if node, why = place(je.plan, view, load, f.job, tick); node != nil {
					load[node.Name]++
				}
				behind = je.plan.overlap
			}
			run.Allocations = []subjects.Allocation{allocation(node, why, now, &run)}
		}
		d.track(key, run, 0)
		d.runs[key].busy = true
		pending++
		d.createRecord(key, run, je.plan, tally.count, func(ok bool) {
			if e := d.runs[key]; !ok && e != nil && e.rev == 0 {
				d.untrack(key)
			}
			if !ok {
				tally.fail()
			} else {
				d.placeTick(key) // a sysbatch tick: its node runs
			}
			if pending--; pending == 0 {
				f.reply(tally.reply())
			}
		})
	}
	if pending == 0 {
		f.reply(tally.reply())
	}
}

// backfillTally counts a backfill's records as their writes answer, off the loop.
type backfillTally struct {
	mu sync.Mutex
	subjects.BackfillReply
}

// count takes createRecord's answer for one tick: made, or found existing. A failed
// write is counted by fail alone, so Launched + Existing + Failed stays Ticks.
func (t *backfillTally) count(r subjects.ForceReply) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case r.RunID != "":
	case r.Error == "" || r.Error == errRunExists:
		t.Existing++
		return
	default:
		return
	}
	t.Launched++
	if t.First == "" || runTick(r.RunID) < runTick(t.First) {
		t.First = r.RunID
	}
	if runTick(r.RunID) > runTick(t.Last) {
		t.Last = r.RunID
	}
}

func (t *backfillTally) fail() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Failed++
}

func (t *backfillTally) reply() subjects.ForceReply {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.BackfillReply
	return subjects.ForceReply{Backfill: &r}
}

// runTick is the tick of a run ID in Unix seconds, 0 if it has none.
func runTick(id string) int64 {
	_, tick, err := subjects.ParseRunID(id)
	if err != nil {
		return 0
	}
	return tick.Unix()
}
