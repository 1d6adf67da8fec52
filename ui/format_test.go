package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

func TestOutcomeClassColoursEachRunState(t *testing.T) {
	for state, want := range map[subjects.RunState]string{
		subjects.StateComplete: "ok", subjects.StateFailed: "bad", subjects.StateLost: "warn", subjects.StateSkipped: "muted",
		subjects.StateQueued: "live", subjects.StateRunning: "live", subjects.StateLaunched: "live", "": "none", "later": "none",
	} {
		if got := outcomeClass(state); got != want {
			t.Errorf("%q: %q, want %q", state, got, want)
		}
	}
	if got := outcomeClasses(); !strings.Contains(got, `"failed":"bad"`) || !strings.Contains(got, `"running":"live"`) {
		t.Errorf("the script's classes %s do not follow outcomeClass", got)
	}
}

func TestStatusClassAndLabelOfJobsAndMembers(t *testing.T) {
	for _, tc := range []struct{ status, class, label string }{
		{operator.JobRunning, "ok", "valid"},
		{operator.JobPaused, "warn", "paused"},
		{operator.JobInvalid, "bad", "invalid"},
		{operator.JobDead, "muted", "dead"},
		{subjects.StatusReady, "ok", "ready"},
		{subjects.StatusAlive, "ok", "alive"},
		{subjects.StatusDown, "bad", "down"},
		{subjects.StatusLeft, "muted", "left"},
		{"failed", "bad", "last run failed"}, // a failed server; the job list's filter on the last result
		{operator.NoNode, "muted", "no node eligible"},
	} {
		if got := statusClass(tc.status); got != tc.class {
			t.Errorf("statusClass(%q): %q, want %q", tc.status, got, tc.class)
		}
		if got := label(tc.status); got != tc.label {
			t.Errorf("label(%q): %q, want %q", tc.status, got, tc.label)
		}
	}
}

func TestRelSaysHowFarInTwoUnits(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, ""},
		{now.Add(300 * time.Millisecond), "now"},
		{now.Add(-999 * time.Millisecond), "now"},
		{now.Add(42 * time.Second), "in 42s"},
		{now.Add(4*time.Minute + 12*time.Second + 500*time.Millisecond), "in 4m 12s"},
		{now.Add(-(3*time.Hour + 5*time.Minute + 59*time.Second)), "3h 5m ago"},
		{now.Add(3*time.Hour + 20*time.Second), "in 3h"}, // no minutes: the units stop at the first gap
		{now.Add(-(2*24*time.Hour + 4*time.Hour)), "2d 4h ago"},
	} {
		if got := rel(tc.t, now); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.t.Sub(now), got, tc.want)
		}
	}
}

func TestSpanAndWhen(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-1: "-", 0: "0ms", 19 * time.Millisecond: "19ms", 1500 * time.Millisecond: "1.5s",
		59*time.Second + 940*time.Millisecond: "59.9s", 61*time.Second + 600*time.Millisecond: "1m2s", 2 * time.Hour: "2h0m0s",
	} {
		if got := span(d); got != want {
			t.Errorf("span(%s): %q, want %q", d, got, want)
		}
	}
	if got := when(time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))); got != "2030-01-02 02:04:05 UTC" {
		t.Errorf("when: %q", got)
	}
	if got := when(time.Time{}); got != "-" {
		t.Errorf("when(zero): %q", got)
	}
}

func TestPageLinksKeepTheFilter(t *testing.T) {
	for _, tc := range []struct {
		name       string
		q          operator.JobQuery
		total      int
		prev, next string
	}{
		{"one page", operator.JobQuery{Limit: 100}, 40, "", ""},
		{"first of several", operator.JobQuery{Q: "backup", Limit: 100}, 250, "", "/ui/?offset=100&q=backup"},
		{"middle", operator.JobQuery{Status: "failed", Offset: 100, Limit: 100}, 250, "/ui/?status=failed", "/ui/?offset=200&status=failed"},
		{"last", operator.JobQuery{Offset: 200, Limit: 100}, 250, "/ui/?offset=100", ""},
		{"a page size of its own is kept", operator.JobQuery{Offset: 10, Limit: 10}, 30, "/ui/?limit=10", "/ui/?limit=10&offset=20"},
		{"an offset past a page boundary goes back to 0", operator.JobQuery{Offset: 30, Limit: 100}, 150, "/ui/", "/ui/?offset=130"},
		{"a name is escaped", operator.JobQuery{Q: "a&b c", Limit: 1}, 2, "", "/ui/?limit=1&offset=1&q=a%26b+c"},
	} {
		prev, next := pageLinks(tc.q, tc.total)
		if prev != tc.prev || next != tc.next {
			t.Errorf("%s: %q %q, want %q %q", tc.name, prev, next, tc.prev, tc.next)
		}
	}
}

func TestCommandsAreWhatTheCLITakes(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []string
		want string
	}{
		{"a valid job", jobCommands("backup", operator.JobRunning, false),
			"jetcron job periodic force backup|jetcron job pause backup -note 'why'|jetcron job plan backup|jetcron job stop backup"},
		{"a paused job", jobCommands("backup", operator.JobPaused, true),
			"jetcron job periodic force backup|jetcron job resume backup|jetcron job plan backup|jetcron job stop backup"},
		{"a stopped job", jobCommands("backup", operator.JobDead, false), ""},
		{"a run under way is followed", runCommands("backup/periodic-60", false), "jetcron job status backup/periodic-60|jetcron run logs -f backup/periodic-60"},
		{"an ended run", runCommands("backup/periodic-60", true), "jetcron job status backup/periodic-60|jetcron run logs backup/periodic-60"},
		{"a node's name is quoted for the shell", []string{drainCommand("it's web 1", false)}, `jetcron node drain -enable 'it'\''s web 1'`},
		{"a draining node", []string{drainCommand("web-1.example.com", true)}, "jetcron node drain -disable web-1.example.com"},
	} {
		if got := strings.Join(tc.got, "|"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestURLsEscapeWhatAPathCannotHold(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{jobURL("backup"), "/ui/job/backup"},
		{jobURL("a/b=c"), "/ui/job/a/b=c"},
		{runURL("sys/periodic-60/node #1?"), "/ui/run/sys/periodic-60/node%20%231%3F"},
		{followURL("sys/periodic-60/node #1?"), "/v1/run/sys/periodic-60/node%20%231%3F/logs?follow=1"},
		{planURL("", time.Unix(3600, 0), 2*time.Hour), "/ui/plan?from=1970-01-01T01%3A00%3A00Z&next=2h0m0s"},
		{planURL("backup", time.Unix(0, 0), time.Hour), "/ui/plan?from=1970-01-01T00%3A00%3A00Z&job=backup&next=1h0m0s"},
	} {
		if tc.got != tc.want {
			t.Errorf("%q, want %q", tc.got, tc.want)
		}
	}
}

func TestCountSeparatesThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		if got := count(n); got != want {
			t.Errorf("%d: %q, want %q", n, got, want)
		}
	}
}
