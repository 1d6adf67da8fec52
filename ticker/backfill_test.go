package ticker

import (
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// TestBackfillTicksListsThePastRangeAndRefusesBadOnes proves backfill's range rule.
func TestBackfillTicksListsThePastRangeAndRefusesBadOnes(t *testing.T) {
	var p planner
	everyMinute := mustPlan(t, &p, "j", jobYAML("* * * * *", "")).schedule
	everySecond := mustPlan(t, &p, "j", jobYAML("@every 1s", "")).schedule
	now := start.Add(30 * 24 * time.Hour)
	for _, row := range []struct {
		name     string
		sched    *schedule
		from, to time.Time
		force    bool
		want     int    // ticks listed
		err      string // part of the error, when refused
	}{
		{"both ends are included", everyMinute, start.Add(time.Minute), start.Add(3 * time.Minute), false, 3, ""},
		{"a range between ticks holds none", everyMinute, start.Add(time.Second), start.Add(59 * time.Second), false, 0, ""},
		{"-from after -to is refused", everyMinute, start.Add(time.Hour), start, false, 0, "-from 2026-03-02T01:00:00Z is after -to 2026-03-02T00:00:00Z"},
		{"a range into the future is refused", everyMinute, start, now.Add(time.Minute), false, 0, "is in the future"},
		{"the limit is 10,000 ticks", everySecond, start.Add(time.Second), start.Add(10_000 * time.Second), false, 10_000, ""},
		{"one more is refused, naming -force", everySecond, start.Add(time.Second), start.Add(10_001 * time.Second), false, 0, "more than 10000 ticks: narrow -from and -to, or add -force (up to 100000)"},
		{"-force allows more", everySecond, start.Add(time.Second), start.Add(10_001 * time.Second), true, 10_001, ""},
		{"-force has its own limit", everySecond, start, start.Add(200_000 * time.Second), true, 0, "more than 100000 ticks, the limit even with -force"},
	} {
		t.Run(row.name, func(t *testing.T) {
			ticks, err := backfillTicks(row.sched, subjects.BackfillRequest{From: row.from.Unix(), To: row.to.Unix(), Force: row.force}, now)
			switch {
			case row.err != "" && (err == nil || !strings.Contains(err.Error(), row.err)):
				t.Fatalf("error %v, want one saying %q", err, row.err)
			case row.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case len(ticks) != row.want:
				t.Fatalf("%d ticks, want %d", len(ticks), row.want)
			}
			if len(ticks) > 0 && (ticks[0].Before(row.from) || ticks[len(ticks)-1].After(row.to)) {
				t.Fatalf("ticks %s..%s outside the range", ticks[0], ticks[len(ticks)-1])
			}
		})
	}
}

// TestBackfillLaunchesEachTickWithoutARecordOnceAndOverlappingOnesInTurn proves the
// shell: the first backfill launches every tick of the range that has no record
// (leaving a tick that has one alone), a second launches nothing; with
// prohibit_overlap the backfilled runs run one after another, oldest first.
func TestBackfillLaunchesEachTickWithoutARecordOnceAndOverlappingOnesInTurn(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		simulate(t, start.Add(2*time.Hour), func(t *testing.T, s *sim) {
			s.node("a", 10*time.Second)
			s.node("b", 10*time.Second)
			extra := ""
			if overlap {
				extra = "  prohibit_overlap: true"
			}
			s.putJob("j", jobYAML("*/10 * * * *", extra))
			// The 00:20 tick ran before: its record exists.
			done := subjects.Run{ID: subjects.RunID("j", start.Add(20*time.Minute)), Job: "j", Scheduled: start.Add(20 * time.Minute).Unix(), State: subjects.StateComplete}
			if _, err := s.store.CreateRun(s.ctx, subjects.RunKey("j", start.Add(20*time.Minute)), &done); err != nil {
				t.Fatal(err)
			}
			request, stop := s.leadAnswering()
			defer stop()
			ask := func() *subjects.BackfillReply {
				r := request("j", &subjects.BackfillRequest{From: start.Unix(), To: start.Add(time.Hour).Unix()})
				if r.Backfill == nil {
					t.Fatalf("backfill refused: %+v", r)
				}
				return r.Backfill
			}
			time.Sleep(time.Second)
			first := ask()
			if first.Ticks != 7 || first.Launched != 6 || first.Existing != 1 || first.First != subjects.RunID("j", start) || first.Last != subjects.RunID("j", start.Add(time.Hour)) {
				t.Fatalf("first backfill %+v: want 7 ticks, 6 launched from 00:00 to 01:00, the 00:20 one existing", first)
			}
			if again := ask(); again.Launched != 0 || again.Existing != 7 {
				t.Fatalf("second backfill %+v: want nothing launched, all 7 existing", again)
			}
			time.Sleep(2 * time.Minute)
			var runs []subjects.Run
			for m := 0; m <= 60; m += 10 {
				r, _, ok := s.store.run(subjects.RunKey("j", start.Add(time.Duration(m)*time.Minute)))
				if !ok || r.State != subjects.StateComplete || len(r.Allocations) > 1 {
					t.Fatalf("minute %d: %+v, want one complete execution", m, r)
				}
				if m != 20 {
					if !r.Backfill {
						t.Fatalf("minute %d not marked backfill", m)
					}
					runs = append(runs, r)
				}
			}
			for i := 1; overlap && i < len(runs); i++ {
				if prev, cur := runs[i-1].Allocations[0], runs[i].Allocations[0]; cur.Started.Before(*prev.Finished) {
					t.Fatalf("with prohibit_overlap %s started at %s, before %s ended at %s", runs[i].ID, cur.Started, runs[i-1].ID, prev.Finished)
				}
			}
			if execs := s.executions(); len(execs) != 6 {
				t.Fatalf("%d runs executed, want the 6 backfilled: %v", len(execs), execs)
			}
		})
	}
}

// TestBackfillTallyCountsEachTickOnce proves a backfill's reply adds up: each tick is
// launched, existing or failed, never two of them (createRecord answers a failed write
// with its error and then reports it failed).
func TestBackfillTallyCountsEachTickOnce(t *testing.T) {
	for _, c := range []struct {
		name    string
		answers []subjects.ForceReply
		fails   int
		want    subjects.BackfillReply
	}{
		{"made", []subjects.ForceReply{{RunID: "j/periodic-20"}, {RunID: "j/periodic-10"}}, 0,
			subjects.BackfillReply{Ticks: 2, Launched: 2, First: "j/periodic-10", Last: "j/periodic-20"}},
		{"known before the write", []subjects.ForceReply{{}}, 0, subjects.BackfillReply{Ticks: 1, Existing: 1}},
		{"refused as existing", []subjects.ForceReply{{Error: errRunExists}}, 0, subjects.BackfillReply{Ticks: 1, Existing: 1}},
		{"write failed", []subjects.ForceReply{{Error: "create run record: timeout"}}, 1, subjects.BackfillReply{Ticks: 1, Failed: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tally := &backfillTally{BackfillReply: subjects.BackfillReply{Ticks: len(c.answers)}}
			for _, a := range c.answers {
				tally.count(a)
			}
			for range c.fails {
				tally.fail()
			}
			if got := *tally.reply().Backfill; got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}
