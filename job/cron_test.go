package job

import (
	"strings"
	"testing"
	"time"
)

// mustTime parses an RFC 3339 time.
func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// launches returns the first n launches of s after from, in RFC 3339 in
// loc.
func launches(t *testing.T, expr string, loc *time.Location, from time.Time, n int) []string {
	t.Helper()
	s, err := parseSchedule(expr, loc, time.Time{})
	if err != nil {
		t.Fatalf("parse %q: %v", expr, err)
	}
	var out []string
	for range n {
		from = s.Next(from)
		if from.IsZero() {
			out = append(out, "never")
			break
		}
		out = append(out, from.In(loc).Format(time.RFC3339))
	}
	return out
}

func TestScheduleActivation(t *testing.T) {
	for _, tc := range []struct {
		expr, from, want string
	}{
		// The seed job: 6 fields, the last being the year.
		{"0 * * * * *", "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"},
		{"0 * * * * *", "2024-05-01T10:59:59.999Z", "2024-05-01T11:00:00Z"},
		{"*/5 * * * *", "2024-05-01T10:04:59.5Z", "2024-05-01T10:05:00Z"},
		{"*/5 * * * *", "2024-05-01T10:05:00Z", "2024-05-01T10:10:00Z"},
		// 7 fields: second first.
		{"*/10 * * * * * *", "2024-05-01T10:00:01Z", "2024-05-01T10:00:10Z"},
		{"30 15 10 * * * 2030", "2024-05-01T00:00:00Z", "2030-01-01T10:15:30Z"},
		// Names, in any case; 7 and 0 are Sunday.
		{"0 9 * JAN,jul MON-fri", "2024-05-01T00:00:00Z", "2024-07-01T09:00:00Z"},
		{"0 9 * * 7", "2024-05-01T00:00:00Z", "2024-05-05T09:00:00Z"},
		{"0 9 * * Sunday", "2024-05-01T00:00:00Z", "2024-05-05T09:00:00Z"},
		// Day-of-month and day-of-week: either matches when both are set.
		{"0 0 13 * 5", "2024-05-01T00:00:00Z", "2024-05-03T00:00:00Z"},
		{"0 0 13 * ?", "2024-05-01T00:00:00Z", "2024-05-13T00:00:00Z"},
		// L, W and #.
		{"0 0 L * *", "2024-02-01T00:00:00Z", "2024-02-29T00:00:00Z"},
		{"0 0 LW * *", "2024-08-01T00:00:00Z", "2024-08-30T00:00:00Z"},  // the 31st is a Saturday
		{"0 0 1W * *", "2024-05-31T00:00:00Z", "2024-06-03T00:00:00Z"},  // June 1st is a Saturday
		{"0 0 15W * *", "2024-09-01T00:00:00Z", "2024-09-16T00:00:00Z"}, // the 15th is a Sunday
		{"0 0 * * 5L", "2024-05-01T00:00:00Z", "2024-05-31T00:00:00Z"},
		{"0 0 * * 1#2", "2024-05-01T00:00:00Z", "2024-05-13T00:00:00Z"},
		{"0 0 * * 4#5", "2024-06-01T00:00:00Z", "2024-08-29T00:00:00Z"},
		// Steps from a value, and over a range.
		{"10/20 * * * *", "2024-05-01T10:31:00Z", "2024-05-01T10:50:00Z"},
		{"0 8-18/4 * * *", "2024-05-01T16:00:00Z", "2024-05-02T08:00:00Z"},
		// Descriptors.
		{"@hourly", "2024-05-01T10:30:00Z", "2024-05-01T11:00:00Z"},
		{"@daily", "2024-05-01T10:30:00Z", "2024-05-02T00:00:00Z"},
		{"@midnight", "2024-05-01T10:30:00Z", "2024-05-02T00:00:00Z"},
		{"@weekly", "2024-05-01T10:30:00Z", "2024-05-05T00:00:00Z"},
		{"@monthly", "2024-05-01T10:30:00Z", "2024-06-01T00:00:00Z"},
		{"@yearly", "2024-05-01T10:30:00Z", "2025-01-01T00:00:00Z"},
		{"@annually", "2024-05-01T10:30:00Z", "2025-01-01T00:00:00Z"},
		// Years end in 2099.
		{"0 0 1 1 * 2099", "2099-01-01T00:00:00Z", "never"},
		{"@hourly", "2099-12-31T23:00:00Z", "never"},
		{"0 0 1 1 *", "0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
	} {
		got := launches(t, tc.expr, time.UTC, mustTime(t, tc.from), 1)[0]
		if got != tc.want {
			t.Errorf("%q after %s: got %s, want %s", tc.expr, tc.from, got, tc.want)
		}
	}
}

func TestScheduleSeedJobLaunchesHourly(t *testing.T) {
	from := mustTime(t, "2024-12-31T20:17:00Z")
	got := launches(t, "0 * * * * *", time.UTC, from, 48)
	for i, g := range got {
		want := time.Date(2024, 12, 31, 21+i, 0, 0, 0, time.UTC).Format(time.RFC3339)
		if g != want {
			t.Fatalf("launch %d: got %s, want %s", i+1, g, want)
		}
	}
}

func TestScheduleNextKeepsTheCallersLocation(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSchedule("0 12 * * *", berlin)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Next(mustTime(t, "2024-05-01T00:00:00Z"))
	if got.Location() != time.UTC || !got.Equal(mustTime(t, "2024-05-01T10:00:00Z")) {
		t.Errorf("got %s, want 2024-05-01T10:00:00Z in UTC", got)
	}
}

func TestEveryLaunchesAtMultiplesSinceTheEpoch(t *testing.T) {
	for _, tc := range []struct {
		expr, from string
		want       []string
	}{
		{"@every 10s", "2024-05-01T10:00:03.5Z", []string{"2024-05-01T10:00:10Z", "2024-05-01T10:00:20Z", "2024-05-01T10:00:30Z"}},
		{"@every 10s", "2024-05-01T10:00:10Z", []string{"2024-05-01T10:00:20Z", "2024-05-01T10:00:30Z", "2024-05-01T10:00:40Z"}},
		// 1714557600 is a multiple of 7 (and of 3600).
		{"@every 7s", "2024-05-01T10:00:00Z", []string{"2024-05-01T10:00:07Z", "2024-05-01T10:00:14Z", "2024-05-01T10:00:21Z"}},
		{"@every 1h30m", "2024-05-01T10:00:00Z", []string{"2024-05-01T10:30:00Z", "2024-05-01T12:00:00Z", "2024-05-01T13:30:00Z"}},
		{"@every 10s", "1969-12-31T23:59:55.5Z", []string{"1970-01-01T00:00:00Z", "1970-01-01T00:00:10Z", "1970-01-01T00:00:20Z"}},
	} {
		got := launches(t, tc.expr, time.UTC, mustTime(t, tc.from), 3)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q after %s: got %v, want %v", tc.expr, tc.from, got, tc.want)
		}
	}
	// The time zone changes nothing.
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	got := launches(t, "@every 7s", tokyo, mustTime(t, "2024-05-01T10:00:00Z"), 1)[0]
	if want := "2024-05-01T19:00:07+09:00"; got != want {
		t.Errorf("@every 7s in Tokyo: got %s, want %s", got, want)
	}
}

func TestParseScheduleRejects(t *testing.T) {
	now := mustTime(t, "2026-01-01T00:00:00Z")
	for _, tc := range []struct{ expr, want string }{
		{"", "cron expression is empty"},
		{"0 * * *", "expected 5, 6 or 7 fields, got 4"},
		{"0 0 * * * * * *", "expected 5, 6 or 7 fields, got 8"},
		{"60 * * * *", `minute field "60": 60 is out of range 0-59`},
		{"0 24 * * *", `hour field "24": 24 is out of range 0-23`},
		{"0 0 0 * *", `day-of-month field "0": 0 is out of range 1-31`},
		{"0 0 * 13 *", `month field "13": 13 is out of range 1-12`},
		{"0 0 * * 8", `day-of-week field "8": 8 is out of range 0-7`},
		{"0 0 * * * 2100", `year field "2100": 2100 is out of range 1970-2099`},
		{"0 0 * * * 99", `year field "99": 99 is out of range 1970-2099`},
		{"0 0 * * * 20x0", `year field "20x0": "20x0" is not a 4-digit year number`},
		{"0 0 * foo *", `month field "foo": "foo" is not a month number or name`},
		{"5-1 * * * *", `minute field "5-1": range "5-1" starts after it ends`},
		{"*/0 * * * *", `minute field "*/0": step "0" must be a number from 1 to 59`},
		{"*/60 * * * *", `step "60" must be a number from 1 to 59`},
		{"0 0 * * */7", `step "7" must be a number from 1 to 6`},
		{"0 0 1 1 * */60", `step "60" must be a number from 1 to 59`},
		{"0 0 * * 05", `"05" has a leading zero`},
		{"0 0 * * 10", `day-of-week field "10": 10 is out of range 0-7`},
		{"0 0 * * 007", `"007" is not a day-of-week number or name`},
		{"0 0 * * 1-7", `range "1-7" ends on Sunday`},
		{"0 0 * * mon-sun", `range "mon-sun" ends on Sunday`},
		{"0 0 * * 1,,2", "empty list entry"},
		{"0 0 L-2 * *", `day-of-month field "l-2"`},
		{"0 0 * * L", "L needs a weekday before it"},
		{"0 0 * * 5#6", "the week after # must be 1 to 5"},
		{"0 0 W * *", "W needs a day before it"},
		{"@often", `unknown descriptor "@often"`},
		{"@hourly 5", `unknown descriptor "@hourly 5"`},
		{"@HOURLY", `unknown descriptor "@HOURLY"`},
		{"@every", "@every takes one duration"},
		{"@every 10", `@every "10": not a duration`},
		{"@every 500ms", "at least 1s"},
		{"@every 1.5s", "whole number of seconds"},
		{"@every -10s", "at least 1s"},
		{"0 0 30 2 *", "never fires: no date matches"},
		{"0 0 31 4,6,9,11 *", "never fires: no date matches"},
		{"0 0 29 2 * 2097", "never fires: no date matches"},
		{"0 0 1 1 * 2000-2010", "never fires after 2026-01-01T00:00:00Z: its last launch is in the past"},
	} {
		_, err := parseSchedule(tc.expr, time.UTC, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got error %v, want one containing %q", tc.expr, err, tc.want)
		}
	}
}

func TestParseScheduleRejectsYearsInThePast(t *testing.T) {
	if _, err := ParseSchedule("0 0 1 1 * 1999", time.UTC); err == nil || !strings.Contains(err.Error(), "never fires after") {
		t.Errorf("got %v, want a never-fires error", err)
	}
}

func TestParseScheduleAcceptsWhatLooksOdd(t *testing.T) {
	for _, expr := range []string{
		"0 0 31 * *",       // fires in months with 31 days
		"0 0 29 2 *",       // leap years only
		"0 0 * * 6,0",      // weekends
		"0 0 * * sun-sat",  // every day
		"0 0 * * 7,1-6",    // every day
		"  0  0  *  *  * ", // extra spaces
		"0 0 * * 5#5",      // fifth Fridays, in some months
	} {
		if _, err := ParseSchedule(expr, time.UTC); err != nil {
			t.Errorf("%q: %v", expr, err)
		}
	}
}
