package job

import "time"

// Searches run over instants from searchStart, before any wall clock reads
// 1970-01-01, to searchEnd, after every wall clock has left lastYear.
var (
	searchStart = time.Date(firstYear-1, 12, 30, 0, 0, 0, 0, time.UTC)
	searchEnd   = time.Date(lastYear+1, 1, 3, 0, 0, 0, 0, time.UTC)
)

// calendarSchedule launches at the wall-clock times a calendar matches in
// loc, with ISC cron's rules around DST changes:
//   - wall-clock times that a spring-forward gap skips launch once, at the
//     first instant after the gap;
//   - wall-clock times that a fall-back repeats launch at their first
//     occurrence only, unless the hour field is "*", "?" or a step
//     (hourWild), when they launch in both.
type calendarSchedule struct {
	cal      *calendar
	loc      *time.Location
	hourWild bool
}

// Next returns the first launch strictly after t, or the zero time if there
// is none. The result is in t's location.
func (s *calendarSchedule) Next(t time.Time) time.Time {
	c := t.Truncate(time.Second).Add(time.Second)
	if c.Before(searchStart) {
		c = searchStart
	}
	for c.Before(searchEnd) {
		launch, end := s.nextInZone(c)
		if !launch.IsZero() {
			return launch.In(t.Location())
		}
		if end.IsZero() {
			break
		}
		c = end
	}
	return time.Time{}
}

// nextInZone returns the first launch at or after c that falls in the zone
// period containing c (the span in which loc's UTC offset is constant). If
// there is none it returns the zero time and the period's end, which is zero
// if the period never ends.
func (s *calendarSchedule) nextInZone(c time.Time) (launch, end time.Time) {
	local := c.In(s.loc)
	start, end := local.ZoneBounds()
	_, off := local.Zone()
	from := wallClock(c, off)
	if !start.IsZero() {
		_, prev := start.Add(-time.Second).In(s.loc).Zone()
		switch {
		case off > prev && c.Equal(start):
			// A gap: wall clocks from wallClock(start, prev) up to from
			// never happen; any match there launches now.
			if w := s.cal.next(wallClock(start, prev)); !w.IsZero() && w.Before(from) {
				return start, end
			}
		case off < prev && !s.hourWild:
			// A fall-back: wall clocks up to wallClock(start, prev)
			// happened before start; do not launch them again.
			if seen := wallClock(start, prev); from.Before(seen) {
				from = seen
			}
		}
	}
	w := s.cal.next(from)
	if w.IsZero() {
		return time.Time{}, end
	}
	launch = w.Add(-time.Duration(off) * time.Second)
	if !end.IsZero() && !launch.Before(end) {
		return time.Time{}, end
	}
	return launch, end
}

// wallClock returns what a clock at UTC offset off (seconds) reads at
// instant t, as a time in UTC.
func wallClock(t time.Time, off int) time.Time {
	return t.UTC().Add(time.Duration(off) * time.Second)
}
