package subjects

import (
	"testing"
	"time"
)

func TestOutputSubjectIsTheRunKeyUnderTheOutputPrefix(t *testing.T) {
	tick := time.Unix(1476824400, 0)
	for key, want := range map[string]string{
		RunKey("web.backup", tick):                 "jetcron.output.web=2Ebackup.1476824400",
		NodeRunKey("backup", tick, "web-1.ex.com"): "jetcron.output.backup.1476824400.web-1=2Eex=2Ecom",
	} {
		subj := OutputSubject(key)
		if subj != want {
			t.Errorf("OutputSubject(%q) = %q, want %q", key, subj, want)
		}
	}
}

func TestOutputFiltersMatchTheRunsTheyName(t *testing.T) {
	tick := time.Unix(1476824400, 0)
	run, web1, web2 := OutputSubject(RunKey("backup", tick)), OutputSubject(NodeRunKey("backup", tick, "web.1")), OutputSubject(NodeRunKey("backup", tick, "web-2"))
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{OutputFilter, run, true},
		{OutputFilter, web1, true},
		{OutputRunsFilter, run, true},
		{OutputRunsFilter, web1, false},
		{NodeOutputFilter("web.1"), web1, true},
		{NodeOutputFilter("web.1"), web2, false},
		{NodeOutputFilter("web.1"), run, false},
		{OutputFilter, EventSubject("backup"), false},
		{RunsSubjects, run, false}, // no stream keeps live output
	} {
		if got := matches(tc.filter, tc.subject); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.filter, tc.subject, got, tc.want)
		}
	}
}

func TestByteSizeSaysBinaryUnitsRoundedDown(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 64 << 10: "64 KiB", 10<<20 - 1: "9.9 MiB",
		10 << 20: "10 MiB", 3 << 30: "3 GiB", 1<<20 - 1: "1023 KiB",
	} {
		if got := ByteSize(n); got != want {
			t.Errorf("ByteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCutLineNamesTheCutAndTheKeptSizes(t *testing.T) {
	if got := CutLine(10<<20-1, 64<<10); got != "... 9.9 MiB cut; last 64 KiB follow\n" {
		t.Fatalf("CutLine = %q", got)
	}
}
