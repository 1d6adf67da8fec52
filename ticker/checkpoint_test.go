package ticker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// A ticker that starts after a runs checkpoint reads the run records the job states
// list as open and the changes after the checkpoint, not the history: here 1,000 old
// records are not sent again, yet the new leader knows the run still running from
// before it started, and prohibit_overlap skips the ticks it would overlap.
func TestAStartingTickerReadsTheListedOpenRunsInsteadOfTheHistory(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		for i := range 1000 {
			tick := start.Add(-time.Duration(i+1) * time.Minute)
			old := subjects.Run{ID: subjects.RunID("old", tick), Job: "old", Scheduled: tick.Unix(), State: subjects.StateComplete}
			data, _ := json.Marshal(old)
			s.store.set(RunChanged, subjects.RunKey("old", tick), data)
		}
		s.node("a", 30*time.Minute)
		s.putJob("long", jobYAML("@every 1m", "  prohibit_overlap: true"))
		s.leadFor(90 * time.Second) // launches the tick at 1m, which runs for 30m
		first := subjects.RunKey("long", start.Add(time.Minute))
		if st, _ := s.store.jobState("long"); len(st.Open) != 1 || st.Open[0] != first {
			t.Fatalf("the stored job state lists open runs %v, want [%s]", st.Open, first)
		}
		if s.store.checkpoint == 0 {
			t.Fatal("no runs checkpoint stored")
		}

		s.leadFor(5 * time.Minute)
		if s.store.initialRuns > 10 {
			t.Errorf("the second ticker was sent %d run records at start, want only the changes after the checkpoint", s.store.initialRuns)
		}
		runs := s.byTick("long")
		if r := runs[60]; r.State != subjects.StateRunning {
			t.Fatalf("the first run is %s, want still running", r.State)
		}
		for tick := int64(120); tick <= 360; tick += 60 {
			r, ok := runs[tick]
			if !ok || r.State != subjects.StateSkipped || !strings.Contains(r.Reason, "prohibit_overlap") {
				t.Errorf("tick %ds: %s %q, want skipped for prohibit_overlap (the ticker knows the open run)", tick, r.State, r.Reason)
			}
		}
	})
}

// A job state stored by an older version lists no open runs: it voids the checkpoint,
// and a starting ticker reads every run record, so it still knows the open run.
func TestAJobStateOfAnOlderVersionMakesAStartingTickerReadEveryRecord(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.node("a", 30*time.Minute)
		s.putJob("long", jobYAML("@every 1m", "  prohibit_overlap: true"))
		s.putJob("other", jobYAML("@every 1h", ""))
		s.leadFor(90 * time.Second)
		old, _ := s.store.jobState("long")
		old.Open, old.ListsOpen = nil, false
		if err := s.store.PutJobState(s.ctx, "long", &old); err != nil {
			t.Fatal(err)
		}
		records := len(s.store.runs())
		s.leadFor(3 * time.Minute)
		if s.store.initialRuns < records {
			t.Errorf("the second ticker was sent %d run records at start, want every one of the %d", s.store.initialRuns, records)
		}
		for tick := int64(120); tick <= 180; tick += 60 {
			if r := s.byTick("long")[tick]; r.State != subjects.StateSkipped {
				t.Errorf("tick %ds: %s, want skipped for prohibit_overlap", tick, r.State)
			}
		}
		if st, _ := s.store.jobState("long"); !st.ListsOpen || len(st.Open) != 1 {
			t.Error("the new leader did not store the old state again with its open runs")
		}
	})
}

func TestSameStateIgnoresOnlyTheTimeOfTheWrite(t *testing.T) {
	base := subjects.JobState{Job: "j", Valid: true, Spec: "s", Revision: 3, LastTick: 60, Open: []string{"j.60"}, ListsOpen: true, Updated: start}
	for _, c := range []struct {
		name string
		edit func(*subjects.JobState)
		same bool
	}{
		{"identical", func(*subjects.JobState) {}, true},
		{"written later", func(s *subjects.JobState) { s.Updated = start.Add(time.Hour) }, true},
		{"a run more open", func(s *subjects.JobState) { s.Open = append(s.Open, "j.120") }, false},
		{"no run open", func(s *subjects.JobState) { s.Open = nil }, false},
		{"a later tick", func(s *subjects.JobState) { s.LastTick = 120 }, false},
		{"invalid", func(s *subjects.JobState) { s.Valid, s.Error = false, "bad" }, false},
		{"removed", func(s *subjects.JobState) { s.Removed = true }, false},
		{"deleted", func(s *subjects.JobState) { s.Deleted = start }, false},
		{"stored by an older version", func(s *subjects.JobState) { s.ListsOpen = false }, false},
		{"another version", func(s *subjects.JobState) { s.Revision, s.Spec = 4, "t" }, false},
	} {
		b := base
		b.Open = append([]string(nil), base.Open...)
		c.edit(&b)
		if got := sameState(base, b); got != c.same {
			t.Errorf("%s: sameState %v, want %v", c.name, got, c.same)
		}
	}
}
