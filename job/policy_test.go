package job

import (
	"strings"
	"testing"
	"time"
)

func TestCronsLaunchAtTheUnionOfTheirTicksOnceWhereTwoMeet(t *testing.T) {
	j := parseOK(t, "j", "task: {config: {command: /bin/true}}\nperiodic:\n  crons: [\"0 */2 * * *\", \"0 */3 * * *\"]\n")
	var got []string
	at := mustTime(t, "2024-05-01T00:00:00Z")
	for range 6 {
		at = j.Schedule().Next(at)
		got = append(got, at.Format("15:04"))
	}
	want := []string{"02:00", "03:00", "04:00", "06:00", "08:00", "09:00"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("launches %v, want %v (06:00 once, though both expressions meet there)", got, want)
		}
	}
	if e := j.Expressions(); len(e) != 2 || e[1] != "0 */3 * * *" {
		t.Errorf("Expressions() = %v, want the two crons", e)
	}
}

func TestJitterOffsetIsTheSameForAJobAndTickAndSpreadsOverTheJitter(t *testing.T) {
	tick := mustTime(t, "2024-05-01T10:00:00Z")
	const jitter = 5 * time.Minute
	if a, b := JitterOffset("backup", tick, jitter), JitterOffset("backup", tick, jitter); a != b {
		t.Fatalf("offsets of one job and tick differ: %s and %s", a, b)
	}
	if JitterOffset("backup", tick, 0) != 0 {
		t.Errorf("no jitter must give no offset")
	}
	// A thousand jobs due in the same second spread over the jitter: each fifth of
	// it gets some, none gets most.
	var fifths [5]int
	for i := range 1000 {
		off := JitterOffset("job-"+string(rune('a'+i%26))+string(rune('a'+i/26)), tick, jitter)
		if off < 0 || off >= jitter || off%time.Millisecond != 0 {
			t.Fatalf("offset %s is not whole milliseconds in [0, %s)", off, jitter)
		}
		fifths[off*5/jitter]++
	}
	for i, n := range fifths {
		if n < 100 || n > 300 {
			t.Errorf("fifth %d of the jitter got %d of 1000 jobs, want about 200: %v", i, n, fifths)
		}
	}
	if JitterOffset("backup", tick, jitter) == JitterOffset("backup", tick.Add(time.Hour), jitter) &&
		JitterOffset("backup", tick.Add(2*time.Hour), jitter) == JitterOffset("backup", tick.Add(3*time.Hour), jitter) {
		t.Errorf("offsets do not change with the tick")
	}
}

func TestPolicyFieldsDecode(t *testing.T) {
	j := parseOK(t, "j", "task: {config: {command: /bin/true}, work_dir: /srv/x/../y}\nperiodic: {cron: \"@hourly\", jitter: 90s}\nrestart: {attempts: 2}\nreschedule: {on_failure: true}\npaused: true\npause_note: db migration\n")
	switch {
	case j.Periodic.Jitter != Duration(90*time.Second):
		t.Errorf("jitter %s", j.Periodic.Jitter)
	case j.Restart != Restart{Attempts: 2, Delay: Duration(15 * time.Second)}:
		t.Errorf("restart %+v, want 2 attempts after the default 15s", j.Restart)
	case !j.Reschedule.OnFailure || j.Reschedule.Attempts != 1:
		t.Errorf("reschedule %+v", j.Reschedule)
	case !j.Paused || j.PauseNote != "db migration":
		t.Errorf("paused %v %q", j.Paused, j.PauseNote)
	case j.Task.WorkDir != "/srv/y":
		t.Errorf("work_dir %q, want it cleaned", j.Task.WorkDir)
	}
}

func TestPauseReasonIsPausedWithTheNote(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want string
	}{
		{"not paused", "", ""},
		{"paused without a note", "paused: true\n", "paused"},
		{"paused with a note", "paused: true\npause_note: db migration\n", "paused: db migration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := parseOK(t, "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"@hourly\"}\n"+tc.file)
			if got := j.PauseReason(); got != tc.want {
				t.Errorf("PauseReason() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCheckPauseNoteRefusesLongNotesAndLineBreaks(t *testing.T) {
	for _, tc := range []struct {
		name, note, want string
	}{
		{"empty", "", ""},
		{"500 characters, some of them multi-byte", strings.Repeat("é", MaxPauseNote), ""},
		{"501 characters", strings.Repeat("x", MaxPauseNote+1), "is 501 characters long; the limit is 500"},
		{"a line break", "db\nmigration", "control character (a line break?)"},
		{"a tab", "db\tmigration", "control character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPauseNote(tc.note)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSysbatchIsATypeAndBatchTheDefault(t *testing.T) {
	j := parseOK(t, "j", "type: sysbatch\ntask: {config: {command: /bin/true}}\nperiodic: {cron: \"@hourly\"}\n")
	if j.Type != TypeSysbatch || !j.Sysbatch() {
		t.Fatalf("type %q, Sysbatch() %v: want sysbatch", j.Type, j.Sysbatch())
	}
	j = parseOK(t, "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"@hourly\"}\n")
	if j.Type != TypeBatch || j.Sysbatch() {
		t.Fatalf("type %q, Sysbatch() %v: want the default, batch", j.Type, j.Sysbatch())
	}
}
