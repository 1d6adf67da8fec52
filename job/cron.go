package job

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones must not depend on the host

	"github.com/robfig/cron/v3"
)

// descriptors maps each descriptor to the 7-field expression it stands for,
// as in cronexpr (which lacks @midnight; it is @daily, as in robfig/cron).
var descriptors = map[string]string{
	"@yearly":   "0 0 0 1 1 * *",
	"@annually": "0 0 0 1 1 * *",
	"@monthly":  "0 0 0 1 * * *",
	"@weekly":   "0 0 0 * * 0 *",
	"@daily":    "0 0 0 * * * *",
	"@midnight": "0 0 0 * * * *",
	"@hourly":   "0 0 * * * * *",
}

// ParseSchedule parses a cron expression with Nomad's meaning (see the
// package documentation) into a schedule whose Next(t) is the first launch
// strictly after t, or the zero time if there is none. Wall-clock fields are
// read in loc (UTC if nil). An expression with no launch after the current
// time is an error. The schedule is safe for concurrent use.
func ParseSchedule(expr string, loc *time.Location) (cron.Schedule, error) {
	return parseSchedule(expr, loc, time.Now())
}

// parseSchedule is ParseSchedule that, when now is not zero, rejects an
// expression with no launch after now.
func parseSchedule(expr string, loc *time.Location, now time.Time) (cron.Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	fields := strings.Fields(expr)
	var (
		s   cron.Schedule
		err error
	)
	switch {
	case len(fields) == 0:
		return nil, errors.New("cron expression is empty")
	case fields[0] == "@every":
		if len(fields) != 2 {
			return nil, errors.New("@every takes one duration, e.g. @every 10s")
		}
		s, err = parseEvery(fields[1])
	case strings.HasPrefix(fields[0], "@"):
		spec, ok := descriptors[fields[0]]
		if !ok || len(fields) != 1 {
			return nil, fmt.Errorf("unknown descriptor %q; use @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>", strings.Join(fields, " "))
		}
		s, err = parseCalendar(strings.Fields(spec), loc)
	default:
		s, err = parseCalendar(fields, loc)
	}
	if err != nil {
		return nil, err
	}
	if !now.IsZero() && s.Next(now).IsZero() {
		return nil, fmt.Errorf("never fires after %s: its last launch is in the past", now.In(loc).Format(time.RFC3339))
	}
	return s, nil
}

// everySchedule launches at whole multiples of period seconds since the Unix
// epoch.
type everySchedule struct {
	period int64
}

func parseEvery(text string) (everySchedule, error) {
	d, err := time.ParseDuration(text)
	switch {
	case err != nil:
		return everySchedule{}, fmt.Errorf("@every %q: not a duration like 10s, 5m or 1h", text)
	case d < time.Second:
		return everySchedule{}, fmt.Errorf("@every %q: the period must be at least 1s", text)
	case d%time.Second != 0:
		return everySchedule{}, fmt.Errorf("@every %q: the period must be a whole number of seconds", text)
	}
	return everySchedule{period: int64(d / time.Second)}, nil
}

// Next returns the first multiple of the period after t.
func (s everySchedule) Next(t time.Time) time.Time {
	sec := t.Unix()
	k := sec / s.period
	if sec%s.period < 0 {
		k-- // round toward minus infinity
	}
	return time.Unix((k+1)*s.period, 0).In(t.Location())
}

// parseCalendar parses 5, 6 or 7 calendar fields.
func parseCalendar(fields []string, loc *time.Location) (*calendarSchedule, error) {
	second, year := "0", "*"
	switch len(fields) {
	case 5:
	case 6:
		year = fields[5]
	case 7:
		second, fields, year = fields[0], fields[1:], fields[6]
	default:
		return nil, fmt.Errorf("expected 5, 6 or 7 fields, got %d", len(fields))
	}
	c := &calendar{}
	var err error
	parse := func(f cronField, text string, special func(string) (bool, error)) fieldSet {
		var fs fieldSet
		if err == nil {
			fs, err = f.parse(text, special)
		}
		return fs
	}
	seconds := parse(secondField, second, nil)
	minutes := parse(minuteField, fields[0], nil)
	hours := parse(hourField, fields[1], nil)
	dom := parse(domField, fields[2], c.domSpecial)
	months := parse(monthField, fields[3], nil)
	dow := parse(dowField, fields[4], c.dowSpecial)
	years := parse(yearField, year, nil)
	if err != nil {
		return nil, err
	}
	c.seconds, c.minutes, c.hours, c.months = seconds.bits(), minutes.bits(), hours.bits(), months.bits()
	c.dom, c.domRestricted = dom.bits(), !dom.star
	c.dow, c.dowRestricted = dow.bits(), !dow.star
	for _, y := range years.values {
		c.years.add(y)
	}
	if c.next(date(firstYear, 1, 1, 0, 0, 0)).IsZero() {
		return nil, errors.New("never fires: no date matches its day-of-month, month, day-of-week and year fields")
	}
	return &calendarSchedule{cal: c, loc: loc, hourWild: hours.star || hours.step}, nil
}

// domSpecial reads the day-of-month entries L, LW and nW.
func (c *calendar) domSpecial(entry string) (bool, error) {
	switch {
	case entry == "l":
		c.domLast = true
	case entry == "lw":
		c.domLastWork = true
	case strings.HasSuffix(entry, "w"):
		v, err := domField.value(strings.TrimSuffix(entry, "w"))
		if err != nil {
			return false, fmt.Errorf("W needs a day before it, e.g. 15W: %w", err)
		}
		c.domWork |= 1 << uint(v)
	default:
		return false, nil
	}
	return true, nil
}

// dowSpecial reads the day-of-week entries dL and d#k.
func (c *calendar) dowSpecial(entry string) (bool, error) {
	if day, ok := strings.CutSuffix(entry, "l"); ok {
		v, err := dowField.value(day)
		if err != nil {
			return false, fmt.Errorf("L needs a weekday before it, e.g. 5L for the last Friday: %w", err)
		}
		c.dowLast |= 1 << uint(v)
		return true, nil
	}
	day, week, ok := strings.Cut(entry, "#")
	if !ok {
		return false, nil
	}
	v, err := dowField.value(day)
	if err != nil {
		return false, fmt.Errorf("# needs a weekday before it, e.g. 5#3 for the third Friday: %w", err)
	}
	if len(week) != 1 || week < "1" || week > "5" {
		return false, fmt.Errorf("the week after # must be 1 to 5, not %q", week)
	}
	c.dowNth[week[0]-'1'] |= 1 << uint(v)
	return true, nil
}

// unionSchedule launches at every launch of any of its schedules, once where two
// meet (periodic.crons).
type unionSchedule []cron.Schedule

// Next returns the earliest of the schedules' next launches after t.
func (u unionSchedule) Next(t time.Time) time.Time {
	var first time.Time
	for _, s := range u {
		if n := s.Next(t); !n.IsZero() && (first.IsZero() || n.Before(first)) {
			first = n
		}
	}
	return first
}
