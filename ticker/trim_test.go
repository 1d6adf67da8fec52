package ticker

import (
	"testing"
	"time"
)

// With a cap of 100 records a job, a job every second keeps between its newest 100
// records and about a tenth more; a run still open is never dropped, however many
// records were made after it: with runs of 150s, the newest 150 are all kept.
func TestAJobKeepsItsNewestRecordsUpToTheCapAndEveryOpenRun(t *testing.T) {
	for _, c := range []struct {
		name     string
		runs     time.Duration
		min, max int
	}{
		{"short runs", 100 * time.Millisecond, 100, 112},
		// Records are dropped by their last write: one ends 150s after it was made.
		{"runs of 150s", 150 * time.Second, 150, 320},
	} {
		t.Run(c.name, func(t *testing.T) {
			simulate(t, start, func(t *testing.T, s *sim) {
				s.runsPerJob = 100
				s.node("a", c.runs)
				s.putJob("j", jobYAML("@every 1s", ""))
				s.leadFor(600 * time.Second)
				runs := s.byTick("j")
				ticks := ticksOf(runs)
				if len(ticks) < c.min || len(ticks) > c.max {
					t.Errorf("%d records kept, want %d to %d", len(ticks), c.min, c.max)
				}
				if len(s.store.trimmed) == 0 {
					t.Fatal("no record dropped")
				}
				newest := ticks[len(ticks)-1]
				for i := newest; i > newest-int64(c.min); i-- {
					if _, ok := runs[i]; !ok {
						t.Fatalf("the record of tick %ds was dropped, though among the newest %d", i, c.min)
					}
				}
				for _, key := range s.store.trimmed {
					if r, _, ok := s.store.run(key); ok {
						t.Fatalf("dropped %s is still there: %+v", key, r)
					}
				}
			})
		})
	}
}
