package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// seedJob is DESIGN.md's example: the blog's mysql-backup job.
const seedJob = `datacenters: [dc1]
type: batch
priority: 50
constraints:
  - attribute: "${attr.unique.hostname}"
    regexp: ".*mysql-backup"
periodic:
  cron: "0 * * * * *"
  prohibit_overlap: true
  time_zone: UTC
  catchup_window: 10m
  catchup: all
reschedule: {attempts: 1, delay: 5s}
task:
  name: run-mysql-backup
  driver: raw_exec
  config:
    command: /usr/local/bin/mysql-backup.sh
    args: ["--host", "${attr.unique.hostname}"]
  env: {}
  timeout: 1h
  kill_timeout: 30s
  resources: {cpu: 100, memory: 256}
`

// brokenCron is the seed job with a cron expression of four fields.
var brokenCron = strings.Replace(seedJob, `cron: "0 * * * * *"`, `cron: "0 * * *"`, 1)

// writeFile writes a job file into a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// seedNow is the moment of the blog's `nomad status`: 37m51s before the next launch.
var seedNow = time.Date(2016, 10, 18, 22, 22, 9, 0, time.UTC)

func TestJobValidateSeedJobLaunchesAtMinuteZeroOfEachHour(t *testing.T) {
	path := writeFile(t, "mysql-backup.yaml", seedJob)
	stdout, stderr, code := runCmd(cmdJobValidate, "-from", "2016-10-18T22:22:09Z", path)
	want := "Job validation successful\n" +
		"2016-10-18T23:00:00Z\n" +
		"2016-10-19T00:00:00Z\n" +
		"2016-10-19T01:00:00Z\n" +
		"2016-10-19T02:00:00Z\n" +
		"2016-10-19T03:00:00Z\n"
	if code != exitOK || stderr != "" || stdout != want {
		t.Fatalf("code %d stderr %q, got\n%s\nwant\n%s", code, stderr, stdout, want)
	}
}

func TestJobValidateCountAndTimeZone(t *testing.T) {
	tz := strings.Replace(seedJob, `cron: "0 * * * * *"`, `cron: "30 2 * * *"`, 1)
	tz = strings.Replace(tz, "time_zone: UTC", "time_zone: America/New_York", 1)
	path := writeFile(t, "nightly.yaml", tz)
	// 2024-03-10 is the spring-forward day in New York: 02:30 does not exist.
	stdout, _, code := runCmd(cmdJobValidate, "-count", "3", "-from", "2024-03-09T00:00:00Z", path)
	want := "Job validation successful\n" +
		"2024-03-09T02:30:00-05:00\n" +
		"2024-03-10T03:00:00-04:00\n" +
		"2024-03-11T02:30:00-04:00\n"
	if code != exitOK || stdout != want {
		t.Fatalf("code %d, got\n%s\nwant\n%s", code, stdout, want)
	}
}

func TestJobValidateBrokenFileExits1NamingTheField(t *testing.T) {
	path := writeFile(t, "mysql-backup.yaml", brokenCron)
	stdout, stderr, code := runCmd(cmdJobValidate, path)
	if code != exitError || stdout != "" {
		t.Fatalf("code %d stdout %q", code, stdout)
	}
	want := `job "mysql-backup": periodic.cron (line 8): expected 5, 6 or 7 fields, got 4` + "\n"
	if stderr != want {
		t.Fatalf("stderr %q, want %q", stderr, want)
	}
}

func TestJobValidateReportsEveryProblemOnItsOwnLine(t *testing.T) {
	bad := strings.Replace(brokenCron, "driver: raw_exec", "driver: docker", 1)
	bad = strings.Replace(bad, "command: /usr/local/bin/mysql-backup.sh", "command: mysql-backup.sh", 1)
	_, stderr, code := runCmd(cmdJobValidate, writeFile(t, "b.yaml", bad))
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != exitError || len(lines) != 3 {
		t.Fatalf("code %d, want 3 lines:\n%s", code, stderr)
	}
	for i, field := range []string{"periodic.cron", "task.driver", "task.config.command"} {
		if !strings.HasPrefix(lines[i], `job "b": `+field) {
			t.Errorf("line %d = %q, want it to name %s", i, lines[i], field)
		}
	}
}

func TestJobNameIsNameFieldElseFileBaseName(t *testing.T) {
	for _, tc := range []struct{ file, content, want string }{
		{"/x/mysql-backup.yaml", seedJob, "mysql-backup"},
		{"/x/mysql-backup.yml", seedJob, "mysql-backup"},
		{"/x/jobs/nightly", seedJob, "nightly"},
		{"/x/file.yaml", "name: other\n" + seedJob, "other"},
		{"/x/file.yaml", "{{not yaml", "file"},
	} {
		if got := jobName(tc.file, []byte(tc.content)); got != tc.want {
			t.Errorf("jobName(%s) = %q, want %q", tc.file, got, tc.want)
		}
	}
}

func TestJobValidateUsesNameFieldAsKey(t *testing.T) {
	stdout, stderr, code := runCmd(cmdJobValidate, "-json", "-count", "1", "-from", "2016-10-18T22:22:09Z",
		writeFile(t, "file.yaml", "name: other\n"+seedJob))
	var got launchesJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK {
		t.Fatalf("code %d %v stderr %q", code, err, stderr)
	}
	if got.Job != "other" || !got.Valid || len(got.Launches) != 1 || got.Launches[0] != "2016-10-18T23:00:00Z" {
		t.Fatalf("got %+v", got)
	}
}

func TestJobValidateBadArguments(t *testing.T) {
	path := writeFile(t, "a.yaml", seedJob)
	if _, _, code := runCmd(cmdJobValidate, "-from", "yesterday", path); code != exitUsage {
		t.Errorf("bad -from: code %d", code)
	}
	if _, _, code := runCmd(cmdJobValidate, "-count", "-1", path); code != exitUsage {
		t.Errorf("bad -count: code %d", code)
	}
	_, stderr, code := runCmd(cmdJobValidate, "/nonexistent/job.yaml")
	if code != exitError || stderr != "Error: job file: no such file or directory\n" {
		t.Errorf("missing file: code %d stderr %q", code, stderr)
	}
}

// entry is a jobs-bucket entry for views built without a server.
type entry struct {
	key     string
	value   []byte
	rev     uint64
	created time.Time
}

func (e entry) Bucket() string                  { return subjects.JobsBucket }
func (e entry) Key() string                     { return e.key }
func (e entry) Value() []byte                   { return e.value }
func (e entry) Revision() uint64                { return e.rev }
func (e entry) Created() time.Time              { return e.created }
func (e entry) Delta() uint64                   { return 0 }
func (e entry) Operation() jetstream.KeyValueOp { return jetstream.KeyValuePut }

func seedRuns(state subjects.RunState, ticks ...int64) []subjects.Run {
	var runs []subjects.Run
	for _, tick := range ticks {
		runs = append(runs, subjects.Run{ID: subjects.RunID("mysql-backup", time.Unix(tick, 0)), Job: "mysql-backup", Scheduled: tick, State: state})
	}
	return runs
}

func TestJobStatusOutput(t *testing.T) {
	created := seedNow.Add(-time.Hour)
	valid := entry{"mysql-backup", []byte(seedJob), 3, created}
	broken := entry{"mysql-backup", []byte(brokenCron), 4, created}
	cronErr := `job "mysql-backup": periodic.cron (line 8): expected 5, 6 or 7 fields, got 4`
	head := "" +
		"ID                   = mysql-backup\n" +
		"Name                 = mysql-backup\n" +
		"Type                 = batch\n" +
		"Priority             = 50\n" +
		"Datacenters          = dc1\n"
	runsTable := "\n" +
		"Previously launched runs:\n" +
		"ID                                Status\n" +
		"mysql-backup/periodic-1476824400  complete\n" +
		"mysql-backup/periodic-1476828000  complete\n"

	for _, tc := range []struct {
		name string
		view *operator.JobView
		runs []subjects.Run
		want string
	}{
		{"running, as the seed", operator.NewJobView("mysql-backup", valid, nil, nil), seedRuns(subjects.StateComplete, 1476824400, 1476828000),
			head +
				"Status               = running\n" +
				"Periodic             = true\n" +
				"Next Periodic Launch = 2016-10-18T23:00:00Z (37m51s from now)\n" +
				runsTable},
		{"invalid keeps the last valid spec's launch", operator.NewJobView("mysql-backup", broken,
			&subjects.JobState{Job: "mysql-backup", Valid: false, Error: cronErr, Spec: seedJob, Revision: 3, Updated: created.Add(time.Second)}, nil),
			seedRuns(subjects.StateComplete, 1476824400, 1476828000),
			head +
				"Status               = invalid\n" +
				"Error                = " + cronErr + "\n" +
				"Periodic             = true\n" +
				"Next Periodic Launch = 2016-10-18T23:00:00Z (37m51s from now)\n" +
				runsTable},
		{"stopped job is dead", operator.NewJobView("mysql-backup", nil,
			&subjects.JobState{Job: "mysql-backup", Valid: true, Spec: seedJob, Removed: true}, nil), nil,
			head +
				"Status               = dead\n" +
				"Periodic             = true\n" +
				"Next Periodic Launch = none (job stopped)\n" +
				"\nPreviously launched runs:\nNo runs yet\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, errText := tc.view.Status()
			var b bytes.Buffer
			writeJobStatus(&b, tc.view, status, errText, "", tc.view.NextLaunch(seedNow), seedNow, tc.runs)
			if b.String() != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestJobStatusIgnoresTickerVerdictOlderThanTheFile(t *testing.T) {
	// The ticker judged an old version invalid; the file was fixed since.
	v := operator.NewJobView("mysql-backup", entry{"mysql-backup", []byte(seedJob), 5, seedNow},
		&subjects.JobState{Valid: false, Error: "old problem", Updated: seedNow.Add(-time.Minute)}, nil)
	if status, errText := v.Status(); status != operator.JobRunning || errText != "" {
		t.Fatalf("status %q %q", status, errText)
	}
	// A file the ticker has not judged yet, but that does not parse, is invalid.
	v = operator.NewJobView("mysql-backup", entry{"mysql-backup", []byte(brokenCron), 6, seedNow}, nil, nil)
	if status, errText := v.Status(); status != operator.JobInvalid || !strings.Contains(errText, "periodic.cron") {
		t.Fatalf("status %q %q", status, errText)
	}
}

func ptr[T any](v T) *T { return &v }

func TestRunStatusOutput(t *testing.T) {
	v := operator.NewJobView("mysql-backup", entry{"mysql-backup", []byte(seedJob), 1, seedNow}, nil, nil)
	sched := time.Unix(1476824400, 0).UTC()
	for _, tc := range []struct {
		name string
		run  subjects.Run
		want string
	}{
		{"complete, as the seed", subjects.Run{
			ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: sched.Unix(), State: subjects.StateComplete,
			Allocations: []subjects.Allocation{{
				ID: "5e661d1e", Node: "NODE-3-mysql-backup", NodeID: "306dcf6b0c8a4e6d9f1b2a3c4d5e6f70", State: subjects.StateComplete,
				Created: sched, Started: ptr(sched.Add(100 * time.Millisecond)), Finished: ptr(sched.Add(12 * time.Second)), ExitCode: ptr(0),
			}},
		}, "" +
			"ID          = mysql-backup/periodic-1476824400\n" +
			"Name        = mysql-backup/periodic-1476824400\n" +
			"Type        = batch\n" +
			"Priority    = 50\n" +
			"Datacenters = dc1\n" +
			"Status      = complete\n" +
			"Periodic    = false\n" +
			"Scheduled   = 2016-10-18T21:00:00Z\n" +
			"Late        = 0s\n" +
			"\n" +
			"Summary\n" +
			"Task Group        Queued  Starting  Running  Failed  Complete  Lost\n" +
			"run-mysql-backup  0       0         0        0       1         0\n" +
			"\n" +
			"Allocations\n" +
			"ID        Node ID   Node                 Task Group        Desired  Status    Created At            Exit Code  Duration\n" +
			"5e661d1e  306dcf6b  NODE-3-mysql-backup  run-mysql-backup  run      complete  2016-10-18T21:00:00Z  0          12s\n"},
		{"lost and rescheduled, running late", subjects.Run{
			ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: sched.Unix(), State: subjects.StateRunning,
			Late: subjects.MillisOf(2500 * time.Millisecond), Attempts: 1,
			Allocations: []subjects.Allocation{
				{ID: "aaaa0001", Node: "n1", NodeID: "11111111ffff", State: subjects.StateLost, Created: sched.Add(2 * time.Second),
					Started: ptr(sched.Add(3 * time.Second)), Error: "node n1 stopped heartbeating"},
				{ID: "aaaa0002", Node: "n2", NodeID: "22222222ffff", State: subjects.StateRunning, Created: sched.Add(time.Minute),
					Started: ptr(seedNow.Add(-90 * time.Second))},
			},
		}, "" +
			"ID          = mysql-backup/periodic-1476824400\n" +
			"Name        = mysql-backup/periodic-1476824400\n" +
			"Type        = batch\n" +
			"Priority    = 50\n" +
			"Datacenters = dc1\n" +
			"Status      = running\n" +
			"Periodic    = false\n" +
			"Scheduled   = 2016-10-18T21:00:00Z\n" +
			"Late        = 3s\n" +
			"\n" +
			"Summary\n" +
			"Task Group        Queued  Starting  Running  Failed  Complete  Lost\n" +
			"run-mysql-backup  0       0         1        0       0         1\n" +
			"\n" +
			"Allocations\n" +
			"ID        Node ID   Node  Task Group        Desired  Status   Created At            Exit Code  Duration\n" +
			"aaaa0001  11111111  n1    run-mysql-backup  stop     lost     2016-10-18T21:00:02Z  -          -\n" +
			"aaaa0002  22222222  n2    run-mysql-backup  run      running  2016-10-18T21:01:00Z  -          1m30s\n"},
		{"failed, with its exit code and error", subjects.Run{
			ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: sched.Unix(), State: subjects.StateFailed,
			Allocations: []subjects.Allocation{{
				ID: "5e661d1e", Node: "n1", NodeID: "306dcf6b0c8a4e6d9f1b2a3c4d5e6f70", State: subjects.StateFailed, Created: sched,
				Error: "command /usr/local/bin/mysql-backup.sh does not exist",
			}},
		}, "" +
			"ID          = mysql-backup/periodic-1476824400\n" +
			"Name        = mysql-backup/periodic-1476824400\n" +
			"Type        = batch\n" +
			"Priority    = 50\n" +
			"Datacenters = dc1\n" +
			"Status      = failed\n" +
			"Periodic    = false\n" +
			"Scheduled   = 2016-10-18T21:00:00Z\n" +
			"Late        = 0s\n" +
			"Exit Code   = -\n" +
			"Error       = command /usr/local/bin/mysql-backup.sh does not exist\n" +
			"\n" +
			"Summary\n" +
			"Task Group        Queued  Starting  Running  Failed  Complete  Lost\n" +
			"run-mysql-backup  0       0         0        1       0         0\n" +
			"\n" +
			"Allocations\n" +
			"ID        Node ID   Node  Task Group        Desired  Status  Created At            Exit Code  Duration\n" +
			"5e661d1e  306dcf6b  n1    run-mysql-backup  run      failed  2016-10-18T21:00:00Z  -          -\n"},
		{"skipped, with its reason", subjects.Run{
			ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: sched.Unix(), State: subjects.StateSkipped,
			Reason: "prohibit_overlap: mysql-backup/periodic-1476820800 is still running",
		}, "" +
			"ID          = mysql-backup/periodic-1476824400\n" +
			"Name        = mysql-backup/periodic-1476824400\n" +
			"Type        = batch\n" +
			"Priority    = 50\n" +
			"Datacenters = dc1\n" +
			"Status      = skipped\n" +
			"Periodic    = false\n" +
			"Scheduled   = 2016-10-18T21:00:00Z\n" +
			"Late        = 0s\n" +
			"Reason      = prohibit_overlap: mysql-backup/periodic-1476820800 is still running\n" +
			"\n" +
			"Summary\n" +
			"Task Group        Queued  Starting  Running  Failed  Complete  Lost\n" +
			"run-mysql-backup  0       0         0        0       0         0\n" +
			"\n" +
			"Allocations\n" +
			"No allocations placed\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writeRunStatus(&b, tc.run.ID, &tc.run, v, seedNow)
			if b.String() != tc.want {
				t.Fatalf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

// ---- against a server ----

func TestJobRunStoresTheFileAndPrintsLaunches(t *testing.T) {
	e := newTestEnv(t)
	path := writeFile(t, "mysql-backup.yaml", seedJob)
	stdout, stderr, code := e.run(cmdJobRun, "-count", "2", path)
	if code != exitOK || stderr != "Warning: no node is eligible now: no node is registered\n" {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 3 || lines[0] != `Job "mysql-backup" stored (revision 1)` {
		t.Fatalf("stdout\n%s", stdout)
	}
	for _, l := range lines[1:] {
		at, err := time.Parse(time.RFC3339, l)
		if err != nil || at.Minute() != 0 || at.Second() != 0 || !at.After(time.Now()) {
			t.Errorf("launch %q: %v", l, err)
		}
	}
	got, err := e.b.Jobs.Get(ctxT(t), "mysql-backup")
	if err != nil || string(got.Value()) != seedJob {
		t.Fatalf("stored %q, %v", got.Value(), err)
	}
	// Storing it again makes a new revision; a node it may run on takes the warning away.
	node := seedNode("6a3109d5aa9b4c1d8e7f6a5b4c3d2e1f", "NODE-1-mysql-backup")
	node.Attributes["driver.raw_exec"] = "1"
	putNodes(t, e, node)
	stdout, stderr, _ = e.run(cmdJobRun, "-count", "0", path)
	if stdout != "Job \"mysql-backup\" stored (revision 2)\n" || stderr != "" {
		t.Fatalf("second run: %q %q", stdout, stderr)
	}
}

func TestJobRunRefusesAnInvalidFile(t *testing.T) {
	e := newTestEnv(t)
	stdout, stderr, code := e.run(cmdJobRun, writeFile(t, "mysql-backup.yaml", brokenCron))
	if code != exitError || stdout != "" || !strings.Contains(stderr, "periodic.cron") {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
	if _, err := e.b.Jobs.Get(ctxT(t), "mysql-backup"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("invalid job stored: %v", err)
	}
}

func putRun(t *testing.T, e *testEnv, r subjects.Run) {
	t.Helper()
	putJSON(t, e.b.Runs, subjects.RunKey(r.Job, time.Unix(r.Scheduled, 0)), r)
}

func TestJobStatusListsEveryJob(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	prio := strings.Replace(seedJob, "priority: 50", "priority: 70", 1)
	for key, file := range map[string]string{"mysql-backup": seedJob, "nightly": prio, "broken": brokenCron} {
		if _, err := e.b.Jobs.Put(ctx, key, []byte(file)); err != nil {
			t.Fatal(err)
		}
	}
	putJSON(t, e.b.JobState, "old", subjects.JobState{Job: "old", Valid: true, Spec: seedJob, Removed: true})
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateFailed,
		Allocations: []subjects.Allocation{{ID: "a1", State: subjects.StateFailed, ExitCode: ptr(3), Error: "exit status 3"}}})
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476828000", Job: "mysql-backup", Scheduled: 1476828000, State: subjects.StateRunning})
	putRun(t, e, subjects.Run{ID: "nightly/periodic-1476824400", Job: "nightly", Scheduled: 1476824400, State: subjects.StateComplete})

	stdout, stderr, code := e.run(cmdJobStatus)
	want := "" +
		"ID            Type   Priority  Status   Last Result\n" +
		"broken        -      -         invalid  -\n" +
		"mysql-backup  batch  50        running  failed\n" +
		"nightly       batch  70        running  complete\n" +
		"old           batch  50        dead     -\n"
	if code != exitOK || stderr != "" || stdout != want {
		t.Fatalf("code %d stderr %q, got\n%s\nwant\n%s", code, stderr, stdout, want)
	}

	stdout, _, _ = e.run(cmdJobStatus, "-json")
	var rows []operator.JobRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 4 ||
		rows[0].Status != operator.JobInvalid || !strings.Contains(rows[0].Error, "periodic.cron") ||
		rows[1].LastRun != "mysql-backup/periodic-1476824400" || rows[1].LastReason != "exit status 3" {
		t.Fatalf("-json: %v %+v", err, rows)
	}
}

func TestJobStatusWithNoJobs(t *testing.T) {
	e := newTestEnv(t)
	if stdout, _, code := e.run(cmdJobStatus); code != exitOK || stdout != "No jobs\n" {
		t.Fatalf("code %d stdout %q", code, stdout)
	}
}

func TestJobStatusShowsNewestTenRunsNewestLast(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	first := int64(1476824400)
	for i := int64(11); i >= 0; i-- { // written newest first, to show the order is the ticks'
		r := seedRuns(subjects.StateComplete, first+i*3600)[0]
		if i == 11 {
			r.State = subjects.StateRunning
		}
		putRun(t, e, r)
	}
	// Another job whose name starts the same is not listed.
	putRun(t, e, subjects.Run{ID: "mysql-backup-2/periodic-1476824400", Job: "mysql-backup-2", Scheduled: first, State: subjects.StateFailed})

	stdout, stderr, code := e.run(cmdJobStatus, "mysql-backup")
	if code != exitOK || stderr != "" {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	_, runs, ok := strings.Cut(stdout, "Previously launched runs:\n")
	if !ok {
		t.Fatalf("no runs in\n%s", stdout)
	}
	lines := strings.Split(strings.TrimSuffix(runs, "\n"), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[1], "mysql-backup/periodic-1476831600 ") ||
		lines[10] != "mysql-backup/periodic-1476864000  running" {
		t.Fatalf("runs:\n%s", runs)
	}
	for _, want := range []string{"Status               = running\n", "Periodic             = true\n", "Next Periodic Launch = "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in\n%s", want, stdout)
		}
	}
	next := strings.SplitN(stdout[strings.Index(stdout, "Next Periodic Launch = ")+len("Next Periodic Launch = "):], " ", 2)[0]
	if at, err := time.Parse(time.RFC3339, next); err != nil || at.Minute() != 0 || at.Before(time.Now()) {
		t.Errorf("next launch %q: %v", next, err)
	}

	stdout, _, _ = e.run(cmdJobStatus, "-json", "mysql-backup")
	var got operator.JobStatus
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || len(got.Runs) != 10 || got.Status != operator.JobRunning ||
		got.NextPeriodicLaunch == nil || got.Priority != 50 || got.Runs[9].State != subjects.StateRunning {
		t.Fatalf("-json: %v %+v", err, got)
	}
}

func TestJobStatusShowsTickersErrorForInvalidJob(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(brokenCron)); err != nil {
		t.Fatal(err)
	}
	cronErr := `job "mysql-backup": periodic.cron (line 8): expected 5, 6 or 7 fields, got 4`
	putJSON(t, e.b.JobState, "mysql-backup", subjects.JobState{Job: "mysql-backup", Valid: false, Error: cronErr,
		Spec: seedJob, Revision: 1, Updated: time.Now().Add(time.Second)})
	stdout, _, code := e.run(cmdJobStatus, "mysql-backup")
	if code != exitOK || !strings.Contains(stdout, "Status               = invalid\nError                = "+cronErr+"\n") ||
		!strings.Contains(stdout, "Priority             = 50\n") || !strings.Contains(stdout, "from now)") {
		t.Fatalf("code %d\n%s", code, stdout)
	}
}

func TestJobStatusOfStoppedJobIsDead(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(cmdJobStop, "mysql-backup")
	if code != exitOK || stdout != "Job \"mysql-backup\" stopped: deleted from the jobs bucket, no new run will launch\n" {
		t.Fatalf("stop: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	if _, err := e.b.Jobs.Get(ctxT(t), "mysql-backup"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("job still stored: %v", err)
	}
	// No ticker has recorded the removal: the bucket's history still knows the job.
	stdout, _, code = e.run(cmdJobStatus, "mysql-backup")
	if code != exitOK || !strings.Contains(stdout, "Status               = dead\n") || !strings.Contains(stdout, "Type                 = batch\n") {
		t.Fatalf("code %d\n%s", code, stdout)
	}
}

func TestJobStatusAndStopOfUnknownJob(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		fn   cmdFunc
		args []string
		want string
	}{
		{cmdJobStatus, []string{"nope"}, "Error: job \"nope\" not found\n"},
		{cmdJobStatus, []string{"nope/periodic-1476824400"}, "Error: run \"nope/periodic-1476824400\" not found\n"},
		{cmdJobStatus, []string{"nope/periodic-x"}, "Error: run ID \"nope/periodic-x\": want <job>/periodic-<unix seconds>[/<node>]: malformed name\n"},
		{cmdJobStop, []string{"nope"}, "Error: job \"nope\" not found\n"},
		{cmdJobStop, []string{"no pe"}, "Error: job \"no pe\" not found\n"},
		{cmdJobPeriodicForce, []string{"nope"}, "Error: job \"nope\" not found\n"},
	} {
		stdout, stderr, code := e.run(tc.fn, tc.args...)
		if code != exitError || stdout != "" || stderr != tc.want {
			t.Errorf("%q: code %d stdout %q stderr %q, want %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
}

func TestJobStatusOfARun(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	sched := time.Unix(1476824400, 0).UTC()
	r := subjects.Run{ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: sched.Unix(), State: subjects.StateFailed,
		Allocations: []subjects.Allocation{{ID: "5e661d1e", Node: "NODE-3-mysql-backup", NodeID: "306dcf6b0c8a4e6d", State: subjects.StateFailed,
			Created: sched, Started: ptr(sched), Finished: ptr(sched.Add(time.Second)), ExitCode: ptr(3)}}}
	putRun(t, e, r)
	stdout, stderr, code := e.run(cmdJobStatus, r.ID)
	if code != exitOK || stderr != "" {
		t.Fatalf("code %d stderr %q", code, stderr)
	}
	for _, want := range []string{
		"Status      = failed\n",
		"run-mysql-backup  0       0         0        1       0         0\n",
		"5e661d1e  306dcf6b  NODE-3-mysql-backup  run-mysql-backup  run      failed  2016-10-18T21:00:00Z  3          1s\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in\n%s", want, stdout)
		}
	}
	stdout, _, _ = e.run(cmdJobStatus, "-json", r.ID)
	var got subjects.Run
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || got.ID != r.ID || *got.Allocations[0].ExitCode != 3 {
		t.Fatalf("-json: %v %+v", err, got)
	}
}

// fakeTicker answers force requests as the lock holder's ticker would.
func fakeTicker(t *testing.T, e *testEnv, reply subjects.ForceReply) {
	t.Helper()
	nc, err := nats.Connect(e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.Subscribe(subjects.ForceSubjects, func(m *nats.Msg) {
		job, _ := subjects.JobFromForceSubject(m.Subject)
		r := reply
		if r.RunID != "" {
			r.RunID = job + r.RunID
		}
		data, _ := json.Marshal(r)
		_ = m.Respond(data)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestJobPeriodicForce(t *testing.T) {
	for _, tc := range []struct {
		name           string
		reply          *subjects.ForceReply // nil: no ticker
		code           int
		stdout, stderr string
	}{
		{"launched", &subjects.ForceReply{RunID: "/periodic-1476824412"}, exitOK, "Run \"mysql-backup/periodic-1476824412\" launched\n", ""},
		{"skipped by prohibit_overlap", &subjects.ForceReply{Skipped: "prohibit_overlap: mysql-backup/periodic-1476824400 is running"},
			exitError, "Skipped: prohibit_overlap: mysql-backup/periodic-1476824400 is running\n", ""},
		{"ticker error", &subjects.ForceReply{Error: "a run for this second exists already"},
			exitError, "", "Error: force \"mysql-backup\": a run for this second exists already\n"},
		{"no ticker", nil, exitError, "", "Error: no ticker holds the lock: is a quorum of jetcron servers up?\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
				t.Fatal(err)
			}
			if tc.reply != nil {
				fakeTicker(t, e, *tc.reply)
			}
			stdout, stderr, code := e.run(cmdJobPeriodicForce, "mysql-backup")
			if code != tc.code || stdout != tc.stdout || stderr != tc.stderr {
				t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
			}
		})
	}
}

func TestJobStatusOfAKeyThatIsNoJobNameShowsItsError(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "backup.v2", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	stdout, _, code := e.run(cmdJobStatus, "backup.v2")
	if code != exitOK || !strings.Contains(stdout, "Status               = invalid\n") ||
		!strings.Contains(stdout, `Error                = job "backup.v2"`) {
		t.Fatalf("code %d\n%s", code, stdout)
	}
}

func TestJobStatusWarnsWhenNoNodeIsEligibleNow(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	putNodes(t, e, seedNode("306dcf6b0c8a4e6d9f1b2a3c4d5e6f70", "web-1"))
	stdout, _, code := e.run(cmdJobStatus, "mysql-backup")
	if code != exitOK || !strings.Contains(stdout, "Warning              = no node is eligible now: node web-1: driver raw_exec is not enabled\n") {
		t.Fatalf("code %d\n%s", code, stdout)
	}
	stdout, _, _ = e.run(cmdJobStatus, "-json", "mysql-backup")
	var st operator.JobStatus
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || !strings.HasPrefix(st.Warning, "no node is eligible now") {
		t.Fatalf("-json: %v %q", err, st.Warning)
	}
}
