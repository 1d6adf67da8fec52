package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

func TestJobPlanListsTicksWhereTheyWouldRunAndWhatBlocksThem(t *testing.T) {
	e := newTestEnv(t)
	for _, n := range seedNodes {
		n.Attributes = map[string]string{"attr.unique.hostname": n.Name, "driver.raw_exec": "1"}
		putNodes(t, e, n)
	}
	web := strings.Replace(seedJob, `regexp: ".*mysql-backup"`, `regexp: "^web-"`, 1)
	for name, file := range map[string]string{"mysql-backup": seedJob, "web": web, "broken": brokenCron} {
		if _, err := e.b.Jobs.Put(ctxT(t), name, []byte(file)); err != nil {
			t.Fatal(err)
		}
	}
	// A run of mysql-backup still running: prohibit_overlap blocks its next tick.
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateRunning})

	from := "2030-01-01T00:00:00Z"
	stdout, stderr, code := e.run(cmdJobPlan, "-json", "-from", from, "-next", "2h")
	if code != exitOK {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	var p operator.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	var got []string
	for _, pt := range p.Ticks {
		line := pt.Job + " " + pt.Tick.UTC().Format("15:04")
		switch {
		case pt.Blocked != "":
			line += " blocked: " + pt.Blocked
		case len(pt.Eligible) == 3 && strings.HasSuffix(pt.Node, "-mysql-backup"):
			line += " on an eligible node"
		default:
			line += " on " + pt.Node + " of " + strings.Join(pt.Eligible, ",")
		}
		got = append(got, line)
	}
	want := []string{
		"broken 00:00 blocked: invalid: ", // no tick: it never had a valid version
		"mysql-backup 00:00 blocked: prohibit_overlap: mysql-backup/periodic-1476824400 is still running",
		"web 00:00 blocked: no eligible node: node NODE-",
		"mysql-backup 01:00 on an eligible node",
		"web 01:00 blocked: no eligible node: node NODE-",
	}
	if len(got) != len(want) {
		t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("row %d: %q, want %q...", i, got[i], want[i])
		}
	}
	if !p.Ticks[0].Tick.IsZero() {
		t.Errorf("the invalid job's row has tick %v, want none", p.Ticks[0].Tick)
	}

	// A plan longer than -limit says where to go on.
	stdout, _, code = e.run(cmdJobPlan, "-from", from, "-next", "24h", "-limit", "2", "mysql-backup")
	if code != exitOK || strings.Count(stdout, "\n") != 4 || !strings.Contains(stdout, "... more ticks: go on with -from 2030-01-01T02:00:00Z\n") {
		t.Fatalf("code %d\n%s", code, stdout)
	}
}

func TestJobPlanRefusesABadWindowNamingIt(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-next", "-1h"}, exitUsage, "Error: next -1h0m0s: want a window above 0 and at most 744h0m0s\n"},
		{[]string{"-limit", "20000"}, exitUsage, "Error: limit 20000: want 1 to 10000\n"},
		{[]string{"-from", "tomorrow"}, exitUsage, "Error: -from \"tomorrow\": want RFC 3339, e.g. 2026-12-07T15:00:00Z\n"},
		{[]string{"nope"}, exitError, "Error: job \"nope\" not found\n"},
	} {
		_, stderr, code := e.run(cmdJobPlan, tc.args...)
		if code != tc.code || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%v: code %d stderr %q, want %d %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
