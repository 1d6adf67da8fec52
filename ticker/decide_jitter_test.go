package ticker

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/placement"
)

// TestDecideHoldsEachTickUntilItsJitterOffset proves the jitter rule: a tick is due
// at its tick plus the offset job.JitterOffset gives for (job, tick); until then it
// waits as a tick after the horizon does, and the catch-up window counts from then.
func TestDecideHoldsEachTickUntilItsJitterOffset(t *testing.T) {
	var p planner
	nodes := []placement.Node{node("a", true, false, 0)}
	off := func(sec float64, jitter time.Duration) time.Duration { return job.JitterOffset("j", at(sec), jitter) }
	for _, row := range []struct {
		name    string
		extra   string
		horizon func() time.Time // the decision's horizon, which is also now
		want    string           // the action on tick 10: "launch", "skip ..." or "" (none)
		wake    func() time.Time
	}{
		{
			name:    "a tick whose offset has not passed waits, and the job wakes at it",
			extra:   "  jitter: 5s",
			horizon: func() time.Time { return at(10).Add(off(10, 5*time.Second) - time.Millisecond) },
			want:    "",
			wake:    func() time.Time { return at(10).Add(off(10, 5*time.Second)) },
		},
		{
			name:    "a tick is launched once its offset has passed, and the job wakes at the next tick's",
			extra:   "  jitter: 5s",
			horizon: func() time.Time { return at(10).Add(off(10, 5*time.Second)) },
			want:    "launch",
			wake:    func() time.Time { return at(20).Add(off(20, 5*time.Second)) },
		},
		{
			name:    "the catch-up window counts from when the tick was due",
			extra:   "  jitter: 5s\n  catchup_window: 1s",
			horizon: func() time.Time { return at(10).Add(off(10, 5*time.Second) + 1500*time.Millisecond) },
			want:    "skip outside the catch-up window",
			wake:    func() time.Time { return at(20).Add(off(20, 5*time.Second)) },
		},
	} {
		t.Run(row.name, func(t *testing.T) {
			f := jobFacts{key: "j", settled: at(5), versions: []version{{rev: 1, stored: at(0), plan: mustPlan(t, &p, "j", jobYAML("@every 10s", row.extra))}}}
			h := row.horizon()
			d := decide(&f, nil, nodes, h, h)
			var got []string
			for _, a := range d.actions {
				switch a.kind {
				case actLaunch:
					got = append(got, fmt.Sprintf("%v launch", a.tick.Sub(start)))
				case actSkip:
					got = append(got, fmt.Sprintf("%v skip %s", a.tick.Sub(start), a.reason))
				}
			}
			want := []string{}
			if row.want != "" {
				want = append(want, "10s "+row.want)
			}
			if len(got) != len(want) || len(want) == 1 && got[0][:min(len(got[0]), len(want[0]))] != want[0] {
				t.Fatalf("actions %q, want %q", got, want)
			}
			if !d.wake.Equal(row.wake()) {
				t.Fatalf("wakes at %v, want %v", d.wake.Sub(start), row.wake().Sub(start))
			}
			if row.want == "" && !d.settled.Before(at(10)) {
				t.Fatalf("settled at %v: a tick still held by its jitter must stay unsettled", d.settled.Sub(start))
			}
		})
	}
}

// TestDecideWithAJitterLongerThanThePeriod proves that ticks may fall due out of
// order: each is launched once its own offset has passed, one held longer waits
// however many later ticks go first, and the job wakes at the soonest still to come.
func TestDecideWithAJitterLongerThanThePeriod(t *testing.T) {
	var p planner
	const jitter = 30 * time.Second
	f := jobFacts{key: "j", settled: at(5), versions: []version{{rev: 1, stored: at(0), plan: mustPlan(t, &p, "j", jobYAML("@every 10s", "  jitter: 30s"))}}}
	const horizon = 30.5 // tick 20 is due at 30.22 s, tick 10 only at 30.87 s
	h := at(horizon)
	var want []time.Duration
	var wake time.Time
	for tick := 10.0; tick <= horizon+30; tick += 10 {
		due := at(tick).Add(job.JitterOffset("j", at(tick), jitter))
		switch {
		case tick <= horizon && !due.After(h):
			want = append(want, at(tick).Sub(start))
		case wake.IsZero() || due.Before(wake):
			wake = due
		}
	}
	if fmt.Sprint(want) != "[20s]" {
		t.Fatalf("the offsets make %v due by the horizon, not tick 20 alone: pick another horizon for a row that proves the order", want)
	}
	d := decide(&f, nil, []placement.Node{node("a", true, false, 0)}, h, h)
	var got []time.Duration
	for _, a := range d.actions {
		if a.kind != actLaunch {
			t.Fatalf("unexpected action %+v", a)
		}
		got = append(got, a.tick.Sub(start))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("launched %v, want %v", got, want)
	}
	if !d.wake.Equal(wake) {
		t.Fatalf("wakes at %v, want %v", d.wake.Sub(start), wake.Sub(start))
	}
}

// TestDecideReadsAgainARunConfirmedActiveOnlyBeforeAJitteredTickWasDue proves that
// prohibit_overlap counts from when the tick is due: a run seen active after the tick
// but before its offset passed may have ended since, so it is read again.
func TestDecideReadsAgainARunConfirmedActiveOnlyBeforeAJitteredTickWasDue(t *testing.T) {
	var p planner
	f := jobFacts{key: "j", settled: at(5), versions: []version{{rev: 1, stored: at(0), plan: mustPlan(t, &p, "j", jobYAML("@every 10s", "  jitter: 5s\n  prohibit_overlap: true"))}}}
	due := at(10).Add(job.JitterOffset("j", at(10), 5*time.Second))
	if due.Sub(at(10)) < 100*time.Millisecond {
		t.Fatalf("offset %s too short for this test", due.Sub(at(10)))
	}
	for _, row := range []struct {
		confirmed time.Time
		want      actionKind
	}{
		{at(10).Add(time.Millisecond), actConfirm}, // after the tick, before it was due
		{due, actSkip},
	} {
		active := []activeRun{{id: "j/periodic-1", key: "j.1", confirmed: row.confirmed}}
		d := decide(&f, active, []placement.Node{node("a", true, false, 0)}, due, due)
		if len(d.actions) != 1 || d.actions[0].kind != row.want {
			t.Fatalf("confirmed at %v: actions %+v, want one of kind %d", row.confirmed.Sub(start), d.actions, row.want)
		}
	}
}
