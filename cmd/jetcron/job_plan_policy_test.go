package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// planOf runs `job plan -json` over two hours from 2030-01-01T00:00Z with args, and
// decodes it.
func planOf(t *testing.T, e *testEnv, args ...string) operator.Plan {
	t.Helper()
	stdout, stderr, code := e.run(cmdJobPlan, append([]string{"-json", "-from", "2030-01-01T00:00:00Z", "-next", "2h"}, args...)...)
	if code != exitOK {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	var p operator.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	return p
}

// readyNodes registers the seed's nodes, able to run raw_exec; drain lists the
// names of those that drain.
func readyNodes(t *testing.T, e *testEnv, drain ...string) {
	t.Helper()
	for _, n := range seedNodes {
		n.Attributes = map[string]string{"attr.unique.hostname": n.Name, "driver.raw_exec": "1"}
		for _, d := range drain {
			n.Drain = n.Drain || d == n.Name
		}
		putNodes(t, e, n)
	}
}

func TestJobPlanShowsEachPolicy(t *testing.T) {
	hourly := strings.Replace(seedJob, "  prohibit_overlap: true\n", "", 1)
	for _, tc := range []struct {
		name  string
		file  string
		drain []string
		// want is each tick as "15:04 start 15:04:05.000 on|blocked ...".
		want []string
	}{
		{"a paused job's ticks are blocked by the pause and its note",
			hourly + "paused: true\npause_note: db migration\n", nil,
			[]string{"00:00 start 00:00:00.000 blocked: paused: db migration", "01:00 start 01:00:00.000 blocked: paused: db migration"}},
		{"a pause without a note blocks as \"paused\", before overlap and placement",
			seedJob + "paused: true\n", []string{"NODE-1-mysql-backup", "NODE-2-mysql-backup", "NODE-3-mysql-backup"},
			[]string{"00:00 start 00:00:00.000 blocked: paused", "01:00 start 01:00:00.000 blocked: paused"}},
		{"a jittered tick starts at the tick plus the job's offset for it",
			strings.Replace(hourly, "  time_zone: UTC\n", "  time_zone: UTC\n  jitter: 10m\n", 1), nil,
			[]string{"00:00 start " + jittered(t, "mysql-backup", "2030-01-01T00:00:00Z", 10*time.Minute) + " on an eligible node",
				"01:00 start " + jittered(t, "mysql-backup", "2030-01-01T01:00:00Z", 10*time.Minute) + " on an eligible node"}},
		{"crons that meet list their common tick once",
			strings.Replace(hourly, `  cron: "0 * * * * *"`, `  crons: ["0 * * * *", "30 0 * * *", "0 */2 * * *"]`, 1), nil,
			[]string{"00:00 start 00:00:00.000 on an eligible node", "00:30 start 00:30:00.000 on an eligible node", "01:00 start 01:00:00.000 on an eligible node"}},
		{"every node that fits draining blocks as draining, whatever other nodes there are",
			hourly, []string{"NODE-1-mysql-backup", "NODE-2-mysql-backup", "NODE-3-mysql-backup"},
			[]string{"00:00 start 00:00:00.000 blocked: no eligible node: every eligible node is draining",
				"01:00 start 01:00:00.000 blocked: no eligible node: every eligible node is draining"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			readyNodes(t, e, tc.drain...)
			// A web host the job's constraint keeps out, registered after the drained ones.
			web := seedNode("ffff0000aaaa4bbb8ccc9ddd0eee1fff", "web-1")
			web.Attributes["driver.raw_exec"] = "1"
			putNodes(t, e, web)
			if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(tc.file)); err != nil {
				t.Fatal(err)
			}
			// A run still running: prohibit_overlap, where the job has it, blocks the first tick.
			putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateRunning})
			var got []string
			for _, pt := range planOf(t, e, "mysql-backup").Ticks {
				if pt.RunID != subjects.RunID("mysql-backup", pt.Tick) {
					t.Errorf("run ID %s of tick %s: want the tick's", pt.RunID, pt.Tick)
				}
				line := pt.Tick.UTC().Format("15:04") + " start " + pt.Start.UTC().Format("15:04:05.000")
				switch {
				case pt.Blocked != "":
					line += " blocked: " + pt.Blocked
				case strings.HasSuffix(pt.Node, "-mysql-backup") && len(pt.Eligible) == 3:
					line += " on an eligible node"
				default:
					line += " on " + pt.Node + " of " + strings.Join(pt.Eligible, ",")
				}
				got = append(got, line)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// jittered is when the tick at (RFC 3339) of job starts under jitter, as 15:04:05.000.
func jittered(t *testing.T, name, at string, jitter time.Duration) string {
	t.Helper()
	tick, err := time.Parse(time.RFC3339, at)
	if err != nil {
		t.Fatal(err)
	}
	off := job.JitterOffset(name, tick, jitter)
	if off == 0 {
		t.Fatalf("no offset for %s: the row proves nothing", at)
	}
	return tick.Add(off).UTC().Format("15:04:05.000")
}

func TestJobPlanTableHasAStartColumnOnlyWhenAJobIsJittered(t *testing.T) {
	e := newTestEnv(t)
	readyNodes(t, e)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	stdout, _, _ := e.run(cmdJobPlan, "-from", "2030-01-01T00:00:00Z", "-next", "1h", "mysql-backup")
	if !strings.HasPrefix(stdout, "Tick  ") || strings.Contains(stdout, "Start") {
		t.Fatalf("without jitter:\n%s", stdout)
	}
	jittery := strings.Replace(seedJob, "  time_zone: UTC\n", "  time_zone: UTC\n  jitter: 10m\n", 1)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(jittery)); err != nil {
		t.Fatal(err)
	}
	stdout, _, _ = e.run(cmdJobPlan, "-from", "2030-01-01T00:00:00Z", "-next", "1h", "mysql-backup")
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(job.JitterOffset("mysql-backup", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Minute))
	lines := strings.Split(stdout, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "Tick") || !strings.Contains(lines[0], "  Start  ") ||
		!strings.Contains(lines[1], formatTime(start, time.Local)) {
		t.Fatalf("with jitter, want the start %s:\n%s", formatTime(start, time.Local), stdout)
	}
}
