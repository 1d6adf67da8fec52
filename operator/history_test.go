package operator

import (
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

func TestListedKeepsTicksSinceAndLetsNodeRunsStandForTheirTick(t *testing.T) {
	for _, tc := range []struct {
		name  string
		keys  []string
		since int64
		want  string
	}{
		{"oldest tick first", []string{"j.300", "j.100", "j.200"}, 0, "j.100 j.200 j.300"},
		{"ticks before since are left out", []string{"j.300", "j.100", "j.200"}, 200, "j.200 j.300"},
		{"a sysbatch tick is its node runs, by node", []string{"j.100", "j.100.n2", "j.100.n1", "j.200"}, 0, "j.100.n1 j.100.n2 j.200"},
		{"a sysbatch tick without node runs yet is its record", []string{"j.100"}, 0, "j.100"},
		{"keys that are not run keys are left out", []string{"j.x", "j.100"}, 0, "j.100"},
	} {
		var got []string
		for _, k := range listed(tc.keys, tc.since) {
			got = append(got, k.key)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
}

func TestRunsSinceReadsTheRunsOfTheWindowOldestFirst(t *testing.T) {
	cl, b := newTestClient(t)
	for _, tick := range []int64{7200, 3600, 10800, 60} {
		putRun(t, b, subjects.Run{ID: subjects.RunID("backup", time.Unix(tick, 0)), Job: "backup", Scheduled: tick, State: subjects.StateComplete})
	}
	putRun(t, b, subjects.Run{ID: subjects.RunID("other", time.Unix(7200, 0)), Job: "other", Scheduled: 7200, State: subjects.StateFailed})
	// A record of an older jetcron, without its ID.
	putRun(t, b, subjects.Run{ID: subjects.RunID("backup", time.Unix(14400, 0)), Job: "backup", Scheduled: 14400, State: subjects.StateFailed})
	key := subjects.RunKey("backup", time.Unix(18000, 0))
	if _, err := b.Runs.Put(testCtx(t), key, []byte(`{"job":"backup","scheduled":18000,"state":"running"}`)); err != nil {
		t.Fatal(err)
	}

	runs, err := cl.RunsSince(testCtx(t), "backup", time.Unix(3600, 0))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.ID+" "+string(r.State))
	}
	want := "backup/periodic-3600 complete, backup/periodic-7200 complete, backup/periodic-10800 complete, " +
		"backup/periodic-14400 failed, backup/periodic-18000 running"
	if strings.Join(got, ", ") != want {
		t.Fatalf("runs since 3600:\n%s\nwant\n%s", strings.Join(got, ", "), want)
	}
}
