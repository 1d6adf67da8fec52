package ui

import (
	"math"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// Timeline geometry, in SVG user units: the plot is timelineW wide and plotH high,
// with axisH below it for the day labels.
const (
	timelineW = 960.0
	plotH     = 100.0
	axisH     = 16.0
	markW     = 3.0
	minMarkH  = 4.0
)

// TimelineWindow is how far back a job's timeline goes: as far as run records are
// kept.
const TimelineWindow = 7 * 24 * time.Hour

// timeline is a job's runs drawn over [From, To): one mark per run at its tick, its
// colour its outcome, its height its start delay on a log scale up to the largest
// one (MaxDelay; at least a second).
type timeline struct {
	W, H     float64
	From, To time.Time
	Marks    []mark
	Days     []day
	MaxDelay time.Duration
}

// mark is one run of a timeline: a bar standing on the plot's floor.
type mark struct {
	X, Y, H float64
	Class   string
	Title   string
	Href    string
}

// day is a midnight (UTC) of a timeline: a grid line and its label.
type day struct {
	X     float64
	Label string
}

// startDelay is how long after its tick a run's first execution started; negative
// when it never started (skipped, queued, lost before a start).
func startDelay(r *subjects.Run) time.Duration {
	for _, a := range r.Allocations {
		if a.Started != nil {
			return a.Started.Sub(time.Unix(r.Scheduled, 0))
		}
	}
	return -1
}

// newTimeline lays out runs (of any order) over [from, to); runs whose tick falls
// outside are left out. A run that never started gets the lowest mark.
func newTimeline(runs []subjects.Run, from, to time.Time) timeline {
	tl := timeline{W: timelineW, H: plotH + axisH, From: from, To: to, MaxDelay: time.Second}
	width := to.Sub(from)
	if width <= 0 {
		return tl
	}
	for i := range runs {
		tl.MaxDelay = max(tl.MaxDelay, startDelay(&runs[i]))
	}
	for i := range runs {
		r := &runs[i]
		tick := time.Unix(r.Scheduled, 0)
		if tick.Before(from) || !tick.Before(to) {
			continue
		}
		d := startDelay(r)
		h := minMarkH
		title := r.ID + ": " + string(r.State)
		if d >= 0 {
			h += (plotH - minMarkH) * math.Log1p(d.Seconds()) / math.Log1p(tl.MaxDelay.Seconds())
			title += ", started " + span(d) + " after its tick"
		}
		x := (timelineW - markW) * float64(tick.Sub(from)) / float64(width)
		tl.Marks = append(tl.Marks, mark{X: x, Y: plotH - h, H: h, Class: outcomeClass(r.State), Title: title, Href: runURL(r.ID)})
	}
	for m := from.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour); m.Before(to); m = m.Add(24 * time.Hour) {
		tl.Days = append(tl.Days, day{X: timelineW * float64(m.Sub(from)) / float64(width), Label: m.Format("Mon 2 Jan")})
	}
	return tl
}
