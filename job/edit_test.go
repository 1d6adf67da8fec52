package job

import (
	"strings"
	"testing"
)

// commented is a job file with comments above, beside and below its fields.
const commented = `# backup job, owned by the DBAs

datacenters: [dc1]   # only dc1
periodic:
  cron: "0 * * * * *"  # hourly
  prohibit_overlap: true
task:
  config:
    command: /usr/local/bin/mysql-backup.sh
    args: ["--host", "${attr.unique.hostname}"]
# the end
`

func TestSetPauseEditsOnlyThePauseKeys(t *testing.T) {
	long := strings.Repeat("a long note ", 42)[:MaxPauseNote-1] + "x" // wider than any line
	for _, tc := range []struct {
		name   string
		file   string
		paused bool
		note   string
		// want are substrings of the result, in order; absent must not be in it.
		want   []string
		absent []string
	}{
		{"pause keeps the fields, their order and the comments, and adds the keys at the end", commented, true, "db migration",
			[]string{"# backup job, owned by the DBAs\n", "datacenters: [dc1] # only dc1\n", "  cron: \"0 * * * * *\" # hourly\n",
				"    args: [\"--host\", \"${attr.unique.hostname}\"]\n", "# the end\n", "paused: true\npause_note: db migration\n"}, nil},
		{"pause without a note writes no pause_note", commented, true, "", []string{"# the end\n", "paused: true\n"}, []string{"pause_note"}},
		{"a note that reads as YAML is quoted", fileWith(""), true, "yes: # not a comment", []string{"pause_note: 'yes: # not a comment'\n"}, nil},
		{"a note of the longest length stays on one line", fileWith(""), true, long, []string{"pause_note: " + long + "\n"}, nil},
		{"pausing a paused job replaces the note in its place, with its comment",
			"paused: true  # see the ticket\npause_note: old  # why\n" + fileWith(""), true, "new",
			[]string{"paused: true # see the ticket\npause_note: new # why\nperiodic:"}, []string{"old"}},
		{"paused: false becomes true in its place", "paused: false\n" + fileWith(""), true, "", []string{"paused: true\nperiodic:"}, nil},
		{"resume removes both keys, keeps the comment above them", "# header\npaused: true\npause_note: x\n" + fileWith(""), false, "",
			[]string{"# header\nperiodic:"}, []string{"paused", "pause_note"}},
		{"resume of the end keeps the comment below", commented + "paused: true\npause_note: x\n# footer\n", false, "",
			[]string{"# the end\n", "# footer\n"}, []string{"paused", "pause_note"}},
		{"a JSON file stays a flow mapping", `{"periodic": {"cron": "@hourly"}, "task": {"config": {"command": "/bin/true"}}}`, true, "n",
			[]string{`{"periodic": {"cron": "@hourly"}, "task": {"config": {"command": "/bin/true"}}, paused: true, pause_note: n}`}, nil},
		{"an anchored value is replaced, not changed", "x-off: &off false\npaused: *off\n" + fileWith(""), true, "",
			[]string{"x-off: &off false\npaused: true\n"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := SetPause([]byte(tc.file), tc.paused, tc.note)
			if err != nil {
				t.Fatal(err)
			}
			got := string(out)
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("missing (or out of order) %q in\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, a := range tc.absent {
				if strings.Contains(got, a) {
					t.Errorf("%q still in\n%s", a, got)
				}
			}
		})
	}
}

func TestSetPauseResultParsesWithThePauseAndTheSameJob(t *testing.T) {
	before := parseOK(t, "backup", commented)
	data, err := SetPause([]byte(commented), true, "db migration")
	if err != nil {
		t.Fatal(err)
	}
	after := parseOK(t, "backup", string(data))
	if !after.Paused || after.PauseNote != "db migration" {
		t.Fatalf("paused %v %q", after.Paused, after.PauseNote)
	}
	after.Paused, after.PauseNote = false, ""
	if before.Periodic.Cron != after.Periodic.Cron || !before.Periodic.ProhibitOverlap || !after.Periodic.ProhibitOverlap ||
		strings.Join(before.Task.Config.Args, " ") != strings.Join(after.Task.Config.Args, " ") {
		t.Fatalf("the job changed: %+v, was %+v", after, before)
	}
	data, err = SetPause(data, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if resumed := parseOK(t, "backup", string(data)); resumed.Paused || resumed.PauseNote != "" {
		t.Fatalf("resumed: paused %v %q", resumed.Paused, resumed.PauseNote)
	}
}

func TestSetPauseRefusesWhatIsNoMapping(t *testing.T) {
	for _, file := range []string{"", "- a\n- b\n", "{x: [\n"} {
		if _, err := SetPause([]byte(file), true, ""); err == nil {
			t.Errorf("%q: no error", file)
		}
	}
}
