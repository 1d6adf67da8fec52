package ui

import (
	"math"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

func TestTimelinePlacesEachRunByTickAndStartDelay(t *testing.T) {
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(4 * 24 * time.Hour)
	run := func(at time.Time, state subjects.RunState, delay time.Duration) subjects.Run {
		r := subjects.Run{ID: subjects.RunID("j", at), Scheduled: at.Unix(), State: state}
		if delay >= 0 {
			started := at.Add(delay)
			r.Allocations = []subjects.Allocation{{State: state, Started: &started}}
		}
		return r
	}
	runs := []subjects.Run{
		run(from, subjects.StateComplete, 0),
		run(from.Add(2*24*time.Hour), subjects.StateFailed, 9*time.Second),
		run(to.Add(-time.Second), subjects.StateComplete, 99*time.Second), // the largest delay: full height
		run(from.Add(24*time.Hour), subjects.StateSkipped, -1),            // never started
		run(from.Add(-time.Second), subjects.StateFailed, 0),              // before the window
		run(to, subjects.StateFailed, 0),                                  // the window's end is out
	}
	tl := newTimeline(runs, from, to)
	if tl.MaxDelay != 99*time.Second || tl.W != timelineW || tl.H != plotH+axisH {
		t.Fatalf("scale %s, size %vx%v", tl.MaxDelay, tl.W, tl.H)
	}
	plotW := timelineW - markW
	for i, want := range []struct {
		x, h  float64
		class string
	}{
		{0, minMarkH, "ok"},
		{plotW / 2, minMarkH + (plotH-minMarkH)*math.Log1p(9)/math.Log1p(99), "bad"},
		{plotW * (1 - 1/(4*86400.0)), plotH, "ok"},
		{plotW / 4, minMarkH, "muted"},
	} {
		if i >= len(tl.Marks) {
			t.Fatalf("%d marks, want 4: %+v", len(tl.Marks), tl.Marks)
		}
		m := tl.Marks[i]
		if math.Abs(m.X-want.x) > 1e-6 || math.Abs(m.H-want.h) > 1e-6 || math.Abs(m.Y-(plotH-m.H)) > 1e-6 || m.Class != want.class {
			t.Errorf("mark %d: %+v, want x %.2f h %.2f class %s", i, m, want.x, want.h, want.class)
		}
	}
	if len(tl.Marks) != 4 {
		t.Errorf("%d marks, want 4 (the runs outside the window left out)", len(tl.Marks))
	}
	if m := tl.Marks[1]; m.Title != "j/periodic-1893628800: failed, started 9.0s after its tick" || m.Href != "/ui/run/j/periodic-1893628800" {
		t.Errorf("mark 1: title %q, href %q", m.Title, m.Href)
	}
	// One grid line per midnight inside the window.
	if len(tl.Days) != 3 || tl.Days[0].Label != "Wed 2 Jan" || math.Abs(tl.Days[1].X-timelineW/2) > 1e-6 {
		t.Errorf("days %+v", tl.Days)
	}
}

func TestTimelineOfNoRunsOrOfRunsWithoutDelayHasASecondScale(t *testing.T) {
	from := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tl := newTimeline(nil, from, from.Add(time.Hour))
	if len(tl.Marks) != 0 || tl.MaxDelay != time.Second {
		t.Errorf("%+v", tl)
	}
	if tl := newTimeline(nil, from, from); len(tl.Marks) != 0 || len(tl.Days) != 0 {
		t.Errorf("an empty window: %+v", tl)
	}
}
