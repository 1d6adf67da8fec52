package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jetcron/jetcron/operator"
	"github.com/jetcron/jetcron/subjects"
)

// commentedJob is the seed job as a person keeps it: with comments.
var commentedJob = "# the blog's backup job\n" + strings.Replace(seedJob, `cron: "0 * * * * *"`, `cron: "0 * * * * *"  # hourly`, 1)

// storedJob reads job's file and revision from the jobs bucket.
func storedJob(t *testing.T, e *testEnv, name string) (string, uint64) {
	t.Helper()
	en, err := e.b.Jobs.Get(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(en.Value()), en.Revision()
}

func TestJobPauseAndResumeSetAndRemoveThePauseInTheStoredFile(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(commentedJob)); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := e.run(cmdJobPause, "mysql-backup", "-note", "db migration")
	want := "Job \"mysql-backup\" paused (revision 2): each tick is recorded skipped with reason \"paused: db migration\" until `jetcron job resume mysql-backup`\n"
	if code != exitOK || stderr != "" || stdout != want {
		t.Fatalf("pause: code %d stderr %q stdout %q", code, stderr, stdout)
	}
	file, _ := storedJob(t, e, "mysql-backup")
	for _, line := range []string{"# the blog's backup job\n", "  cron: \"0 * * * * *\" # hourly\n", "    args: [\"--host\", \"${attr.unique.hostname}\"]\n",
		"  resources: {cpu: 100, memory: 256}\npaused: true\npause_note: db migration\n"} {
		if !strings.Contains(file, line) {
			t.Errorf("stored file lacks %q:\n%s", line, file)
		}
	}

	// A second pause replaces the note; one with the same note writes nothing.
	stdout, _, code = e.run(cmdJobPause, "-note", "until Monday", "mysql-backup")
	if code != exitOK || stdout != "Job \"mysql-backup\" was paused already (\"db migration\"); its note is now \"until Monday\" (revision 3)\n" {
		t.Fatalf("second pause: code %d %q", code, stdout)
	}
	stdout, _, code = e.run(cmdJobPause, "-note", "until Monday", "mysql-backup")
	if _, rev := storedJob(t, e, "mysql-backup"); code != exitOK || rev != 3 || stdout != "Job \"mysql-backup\" is paused already, with that note; nothing changed\n" {
		t.Fatalf("same pause: code %d revision %d %q", code, rev, stdout)
	}
	// A pause without -note removes the note; the next one sets it again.
	stdout, _, code = e.run(cmdJobPause, "mysql-backup")
	if file, _ := storedJob(t, e, "mysql-backup"); code != exitOK || strings.Contains(file, "pause_note") ||
		stdout != "Job \"mysql-backup\" was paused already (\"until Monday\"); its note is removed (revision 4)\n" {
		t.Fatalf("pause without a note: code %d %q\n%s", code, stdout, file)
	}
	if _, _, code = e.run(cmdJobPause, "-note", "until Monday", "mysql-backup"); code != exitOK {
		t.Fatalf("pause: code %d", code)
	}

	stdout, _, code = e.run(cmdJobResume, "mysql-backup")
	if code != exitOK || stdout != "Job \"mysql-backup\" resumed (it was paused: \"until Monday\"; revision 6): the ticks from now on launch, those of the pause stay skipped\n" {
		t.Fatalf("resume: code %d %q", code, stdout)
	}
	if file, _ = storedJob(t, e, "mysql-backup"); strings.Contains(file, "paused") || strings.Contains(file, "pause_note") || !strings.Contains(file, "# hourly") {
		t.Fatalf("resumed file:\n%s", file)
	}
	// Resuming a job that is not paused: says so, exit 0, nothing written.
	stdout, _, code = e.run(cmdJobResume, "mysql-backup")
	if _, rev := storedJob(t, e, "mysql-backup"); code != exitOK || rev != 6 || stdout != "Job \"mysql-backup\" is not paused; nothing changed\n" {
		t.Fatalf("resume of a running job: code %d revision %d %q", code, rev, stdout)
	}
}

func TestJobPauseRefusesABadNoteNamingTheFlagAndWritesNothing(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, note, want string
	}{
		{"too long", strings.Repeat("x", 501), "Error: -note is 501 characters long; the limit is 500; nothing was written\n"},
		{"a line break", "db\nmigration", "Error: -note contains a control character (a line break?); write the note on one line; nothing was written\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := e.run(cmdJobPause, "-note", tc.note, "mysql-backup")
			if code != exitUsage || !strings.HasPrefix(stderr, tc.want) {
				t.Fatalf("code %d stderr %q, want %d %q", code, stderr, exitUsage, tc.want)
			}
			if _, rev := storedJob(t, e, "mysql-backup"); rev != 1 {
				t.Fatalf("revision %d after a refused pause", rev)
			}
		})
	}
}

func TestJobPauseAndResumeOfAMissingJobSayNotFound(t *testing.T) {
	e := newTestEnv(t)
	for _, fn := range []cmdFunc{cmdJobPause, cmdJobResume} {
		stdout, stderr, code := e.run(fn, "nope")
		if code != exitError || stdout != "" || stderr != "Error: job \"nope\" not found\n" {
			t.Errorf("code %d stdout %q stderr %q", code, stdout, stderr)
		}
	}
}

func TestJobPauseAndResumePrintWhatTheyDidAsJSON(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fn   cmdFunc
		args []string
		want operator.PauseResult
	}{
		{cmdJobPause, []string{"-note", "db migration"}, operator.PauseResult{Job: "mysql-backup", Paused: true, PauseNote: "db migration", Changed: true, Revision: 2}},
		{cmdJobPause, []string{"-note", "db migration"}, operator.PauseResult{Job: "mysql-backup", Paused: true, PauseNote: "db migration", WasPaused: true, PreviousNote: "db migration", Revision: 2}},
		{cmdJobResume, nil, operator.PauseResult{Job: "mysql-backup", WasPaused: true, PreviousNote: "db migration", Changed: true, Revision: 3}},
		{cmdJobResume, nil, operator.PauseResult{Job: "mysql-backup", Revision: 3}},
	} {
		stdout, stderr, code := e.run(tc.fn, append(append([]string{"-json"}, tc.args...), "mysql-backup")...)
		var got operator.PauseResult
		if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitOK || got != tc.want {
			t.Errorf("%v: code %d %v stderr %q: got %+v, want %+v", tc.args, code, err, stderr, got, tc.want)
		}
	}
}

func TestJobRunOfAFileWithoutPausedOverAPausedJobSaysItResumesIt(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.b.Jobs.Put(ctxT(t), "mysql-backup", []byte(seedJob+"paused: true\npause_note: db migration\n")); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "mysql-backup.yaml", seedJob)
	stdout, stderr, code := e.run(cmdJobRun, "-count", "0", path)
	want := "Warning: job \"mysql-backup\" was paused (\"db migration\"); this file resumes it (add paused: true to keep it paused)\n"
	if code != exitOK || !strings.HasPrefix(stderr, want) || stdout != "Job \"mysql-backup\" stored (revision 2)\n" {
		t.Fatalf("code %d stdout %q stderr %q", code, stdout, stderr)
	}
	// Stored again over a job that is not paused, or with paused: nothing is said.
	for _, file := range []string{seedJob, seedJob + "paused: true\n", seedJob + "paused: true\n"} {
		stdout, stderr, _ = e.run(cmdJobRun, "-count", "0", "-json", writeFile(t, "mysql-backup.yaml", file))
		if strings.Contains(stderr, "resumes") || strings.Contains(stdout, "resumed") {
			t.Fatalf("%q: stdout %q stderr %q", file, stdout, stderr)
		}
	}
	// -json says it too.
	stdout, _, _ = e.run(cmdJobRun, "-count", "0", "-json", path)
	var got launchesJSON
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || !got.Resumed {
		t.Fatalf("-json %q: %v", stdout, err)
	}
}

func TestJobStatusShowsAPausedJobWithItsNoteAndItsSkippedTicks(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	for name, file := range map[string]string{"mysql-backup": seedJob + "paused: true\npause_note: db migration\n", "nightly": seedJob} {
		if _, err := e.b.Jobs.Put(ctx, name, []byte(file)); err != nil {
			t.Fatal(err)
		}
	}
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476824400", Job: "mysql-backup", Scheduled: 1476824400, State: subjects.StateComplete})
	putRun(t, e, subjects.Run{ID: "mysql-backup/periodic-1476828000", Job: "mysql-backup", Scheduled: 1476828000, State: subjects.StateSkipped, Reason: "paused: db migration"})

	stdout, _, code := e.run(cmdJobStatus)
	want := "" +
		"ID            Type   Priority  Status   Last Result\n" +
		"mysql-backup  batch  50        paused   skipped\n" +
		"nightly       batch  50        running  -\n"
	if code != exitOK || stdout != want {
		t.Fatalf("list: code %d\n%s\nwant\n%s", code, stdout, want)
	}
	stdout, _, code = e.run(cmdJobStatus, "mysql-backup")
	for _, line := range []string{
		"Status               = paused\nPause Note           = db migration\n",
		"Next Periodic Launch = none (job paused: jetcron job resume mysql-backup)\n",
		"ID                                Status    Reason\n" +
			"mysql-backup/periodic-1476824400  complete  -\n" +
			"mysql-backup/periodic-1476828000  skipped   paused: db migration\n",
	} {
		if code != exitOK || !strings.Contains(stdout, line) {
			t.Errorf("job status lacks\n%s\nin\n%s", line, stdout)
		}
	}

	// -json: the list and the job carry paused and pause_note; a running job neither.
	stdout, _, _ = e.run(cmdJobStatus, "-json")
	var rows []operator.JobRow
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) != 2 ||
		!rows[0].Paused || rows[0].PauseNote != "db migration" || rows[0].Status != operator.JobPaused || rows[1].Paused {
		t.Fatalf("list -json: %v %+v", err, rows)
	}
	stdout, _, _ = e.run(cmdJobStatus, "-json", "mysql-backup")
	var st operator.JobStatus
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || !st.Paused || st.PauseNote != "db migration" || st.NextPeriodicLaunch != nil ||
		len(st.Runs) != 2 || st.Runs[1].Reason != "paused: db migration" {
		t.Fatalf("job -json: %v %+v", err, st)
	}
	if !strings.Contains(stdout, `"paused": true,`) || !strings.Contains(stdout, `"pause_note": "db migration",`) {
		t.Fatalf("job -json lacks the pause fields:\n%s", stdout)
	}
}
