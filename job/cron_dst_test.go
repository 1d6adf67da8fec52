package job

import (
	"slices"
	"testing"
	"time"
)

// TestScheduleAroundDST checks ISC cron's rules: a time skipped by a
// spring-forward gap launches once, at the first instant after the gap; a
// time repeated by a fall-back launches at its first occurrence, unless the
// hour field is * or a step, when it launches in both repeated hours.
func TestScheduleAroundDST(t *testing.T) {
	for _, tc := range []struct {
		name, zone, expr, from string
		want                   []string
	}{
		// New York: 2024-03-10 02:00 EST becomes 03:00 EDT.
		{"NY gap fixed", "America/New_York", "30 2 * * *", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"}},
		{"NY gap fixed on the hour", "America/New_York", "0 2 * * *", "2024-03-09T12:00:00-05:00",
			[]string{"2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"}},
		{"NY gap hourly", "America/New_York", "0 * * * *", "2024-03-10T00:30:00-05:00",
			[]string{"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"}},
		{"NY gap every 15m", "America/New_York", "*/15 * * * *", "2024-03-10T01:40:00-05:00",
			[]string{"2024-03-10T01:45:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:15:00-04:00"}},
		// New York: 2024-11-03 02:00 EDT becomes 01:00 EST.
		{"NY repeat fixed", "America/New_York", "30 1 * * *", "2024-11-03T00:00:00-04:00",
			[]string{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
		{"NY repeat fixed from the second hour", "America/New_York", "30 1 * * *", "2024-11-03T01:10:00-05:00",
			[]string{"2024-11-04T01:30:00-05:00"}},
		{"NY repeat fixed list", "America/New_York", "15 1,2 * * *", "2024-11-03T00:00:00-04:00",
			[]string{"2024-11-03T01:15:00-04:00", "2024-11-03T02:15:00-05:00", "2024-11-04T01:15:00-05:00"}},
		{"NY repeat outside", "America/New_York", "30 2 * * *", "2024-11-03T00:00:00-04:00",
			[]string{"2024-11-03T02:30:00-05:00", "2024-11-04T02:30:00-05:00"}},
		{"NY repeat hourly", "America/New_York", "0 * * * *", "2024-11-03T00:30:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"}},
		{"NY repeat hourly step", "America/New_York", "0 */1 * * *", "2024-11-03T00:30:00-04:00",
			[]string{"2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"}},
		{"NY repeat every 15m", "America/New_York", "*/15 * * * *", "2024-11-03T01:40:00-04:00",
			[]string{"2024-11-03T01:45:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T01:15:00-05:00",
				"2024-11-03T01:30:00-05:00", "2024-11-03T01:45:00-05:00", "2024-11-03T02:00:00-05:00"}},
		{"NY repeat every 15m from the second hour", "America/New_York", "*/15 * * * *", "2024-11-03T01:10:00-05:00",
			[]string{"2024-11-03T01:15:00-05:00"}},

		// Berlin: 2024-03-31 02:00 CET becomes 03:00 CEST.
		{"Berlin gap fixed", "Europe/Berlin", "30 2 * * *", "2024-03-30T12:00:00+01:00",
			[]string{"2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"}},
		{"Berlin gap hourly", "Europe/Berlin", "0 * * * *", "2024-03-31T00:30:00+01:00",
			[]string{"2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00"}},
		{"Berlin gap every 15m", "Europe/Berlin", "*/15 * * * *", "2024-03-31T01:40:00+01:00",
			[]string{"2024-03-31T01:45:00+01:00", "2024-03-31T03:00:00+02:00", "2024-03-31T03:15:00+02:00"}},
		// Berlin: 2024-10-27 03:00 CEST becomes 02:00 CET.
		{"Berlin repeat fixed", "Europe/Berlin", "30 2 * * *", "2024-10-27T00:00:00+02:00",
			[]string{"2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"}},
		{"Berlin repeat fixed from the second hour", "Europe/Berlin", "0 2 * * *", "2024-10-27T02:10:00+01:00",
			[]string{"2024-10-28T02:00:00+01:00"}},
		{"Berlin repeat hourly", "Europe/Berlin", "0 * * * *", "2024-10-27T01:30:00+02:00",
			[]string{"2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T03:00:00+01:00"}},
		{"Berlin repeat every 15m", "Europe/Berlin", "*/15 * * * *", "2024-10-27T02:40:00+02:00",
			[]string{"2024-10-27T02:45:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T02:15:00+01:00",
				"2024-10-27T02:30:00+01:00", "2024-10-27T02:45:00+01:00", "2024-10-27T03:00:00+01:00"}},

		// Lord Howe: 2024-10-06 02:00 (+10:30) becomes 02:30 (+11).
		{"Lord Howe gap fixed", "Australia/Lord_Howe", "15 2 * * *", "2024-10-05T12:00:00+10:30",
			[]string{"2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"}},
		{"Lord Howe gap edge", "Australia/Lord_Howe", "30 2 * * *", "2024-10-05T12:00:00+10:30",
			[]string{"2024-10-06T02:30:00+11:00", "2024-10-07T02:30:00+11:00"}},
		{"Lord Howe gap hourly", "Australia/Lord_Howe", "0 * * * *", "2024-10-06T00:30:00+10:30",
			[]string{"2024-10-06T01:00:00+10:30", "2024-10-06T02:30:00+11:00", "2024-10-06T03:00:00+11:00"}},
		{"Lord Howe gap every 15m", "Australia/Lord_Howe", "*/15 * * * *", "2024-10-06T01:40:00+10:30",
			[]string{"2024-10-06T01:45:00+10:30", "2024-10-06T02:30:00+11:00", "2024-10-06T02:45:00+11:00"}},
		// Lord Howe: 2024-04-07 02:00 (+11) becomes 01:30 (+10:30).
		{"Lord Howe repeat fixed", "Australia/Lord_Howe", "45 1 * * *", "2024-04-07T00:00:00+11:00",
			[]string{"2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"}},
		{"Lord Howe repeat outside", "Australia/Lord_Howe", "30 2 * * *", "2024-04-07T00:00:00+11:00",
			[]string{"2024-04-07T02:30:00+10:30"}},
		{"Lord Howe repeat hourly", "Australia/Lord_Howe", "0 * * * *", "2024-04-07T00:30:00+11:00",
			[]string{"2024-04-07T01:00:00+11:00", "2024-04-07T02:00:00+10:30", "2024-04-07T03:00:00+10:30"}},
		{"Lord Howe repeat every 15m", "Australia/Lord_Howe", "*/15 * * * *", "2024-04-07T01:20:00+11:00",
			[]string{"2024-04-07T01:30:00+11:00", "2024-04-07T01:45:00+11:00", "2024-04-07T01:30:00+10:30",
				"2024-04-07T01:45:00+10:30", "2024-04-07T02:00:00+10:30"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, err := time.LoadLocation(tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			got := launches(t, tc.expr, loc, mustTime(t, tc.from), len(tc.want))
			if !slices.Equal(got, tc.want) {
				t.Errorf("%q after %s:\n got %v\nwant %v", tc.expr, tc.from, got, tc.want)
			}
		})
	}
}

// TestScheduleLaunchesArePureFunctionsOfTheClock checks that stepping
// through a DST year launch by launch, and asking from any instant, agree.
func TestScheduleLaunchesArePureFunctionsOfTheClock(t *testing.T) {
	for _, zone := range []string{"America/New_York", "Europe/Berlin", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, expr := range []string{"30 2 * * *", "0 * * * *", "*/15 * * * *", "45 1 * * *"} {
			s, err := parseSchedule(expr, loc, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			from := mustTime(t, "2024-01-01T00:00:00Z")
			end := from.AddDate(1, 0, 0)
			for prev := from; prev.Before(end); {
				next := s.Next(prev)
				if !next.After(prev) {
					t.Fatalf("%s %q: Next(%s) = %s is not later", zone, expr, prev, next)
				}
				// Any instant between two launches leads to the second.
				mid := prev.Add(next.Sub(prev) / 2)
				if got := s.Next(mid); !got.Equal(next) {
					t.Fatalf("%s %q: Next(%s) = %s, want %s", zone, expr, mid, got, next)
				}
				prev = next
			}
		}
	}
}
