package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// parseOK parses data under key and fails the test on error.
func parseOK(t *testing.T, key, data string) *Job {
	t.Helper()
	j, err := Parse(key, []byte(data))
	if err != nil {
		t.Fatalf("Parse(%q): %v", key, err)
	}
	return j
}

// minimal is the smallest valid job file.
const minimal = `
periodic: {cron: "@hourly"}
task: {config: {command: /bin/true}}
`

func TestParseDesignExampleHasEveryField(t *testing.T) {
	data, err := os.ReadFile("testdata/mysql-backup.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := parseOK(t, "mysql-backup", string(data))
	want := &Job{
		Name:        "mysql-backup",
		Datacenters: []string{"dc1"},
		Type:        "batch",
		Priority:    50,
		Constraints: []Constraint{{Attribute: "${attr.unique.hostname}", Operator: "regexp", Value: ".*mysql-backup"}},
		Periodic: Periodic{
			Cron:            "0 * * * * *",
			ProhibitOverlap: true,
			TimeZone:        "UTC",
			CatchupWindow:   Duration(10 * time.Minute),
			Catchup:         "all",
		},
		Restart:    Restart{Delay: Duration(15 * time.Second)},
		Reschedule: Reschedule{Attempts: 1, Delay: Duration(5 * time.Second)},
		Task: Task{
			Name:   "run-mysql-backup",
			Driver: "raw_exec",
			Config: TaskConfig{
				Command: "/usr/local/bin/mysql-backup.sh",
				Args:    []string{"--host", "${attr.unique.hostname}"},
			},
			Env:         map[string]string{},
			Timeout:     Duration(time.Hour),
			KillTimeout: Duration(30 * time.Second),
			Resources:   Resources{CPU: 100, Memory: 256},
		},
	}
	if g, w := asJSON(t, got), asJSON(t, want); g != w {
		t.Errorf("got  %s\nwant %s", g, w)
	}
	if got.Location() != time.UTC {
		t.Errorf("Location() = %v, want UTC", got.Location())
	}
	next := got.Schedule().Next(mustTime(t, "2024-05-01T10:20:00Z"))
	if want := mustTime(t, "2024-05-01T11:00:00Z"); !next.Equal(want) {
		t.Errorf("Schedule().Next = %s, want %s", next, want)
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseAppliesDefaults(t *testing.T) {
	j := parseOK(t, "nightly", minimal)
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"name", j.Name, "nightly"},
		{"type", j.Type, "batch"},
		{"priority", j.Priority, 50},
		{"periodic.time_zone", j.Periodic.TimeZone, "UTC"},
		{"periodic.catchup_window", j.Periodic.CatchupWindow, Duration(10 * time.Minute)},
		{"periodic.catchup", j.Periodic.Catchup, "all"},
		{"periodic.prohibit_overlap", j.Periodic.ProhibitOverlap, false},
		{"reschedule.attempts", j.Reschedule.Attempts, 1},
		{"reschedule.delay", j.Reschedule.Delay, Duration(5 * time.Second)},
		{"task.name", j.Task.Name, "nightly"},
		{"task.driver", j.Task.Driver, "raw_exec"},
		{"task.timeout", j.Task.Timeout, Duration(0)},
		{"task.kill_timeout", j.Task.KillTimeout, Duration(5 * time.Second)},
		{"location", j.Location(), time.UTC},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
}

func TestParseKeepsExplicitZeros(t *testing.T) {
	j := parseOK(t, "zeros", minimal+"reschedule: {attempts: 0, delay: 0s}\n")
	if j.Reschedule.Attempts != 0 || j.Reschedule.Delay != 0 {
		t.Errorf("reschedule = %+v, want zeros", j.Reschedule)
	}
}

func TestParseReadsTimeZoneAndCatchup(t *testing.T) {
	j := parseOK(t, "berlin", `
periodic: {cron: "30 2 * * *", time_zone: Europe/Berlin, catchup: latest, catchup_window: 0s}
task: {config: {command: /usr/bin/../bin/env}, kill_timeout: 0s}
`)
	if j.Location().String() != "Europe/Berlin" || j.Periodic.Catchup != "latest" || j.Periodic.CatchupWindow != 0 {
		t.Errorf("periodic = %+v, location %v", j.Periodic, j.Location())
	}
	if j.Task.Config.Command != "/usr/bin/env" || j.Task.KillTimeout != 0 {
		t.Errorf("task = %+v, want the command cleaned and kill_timeout 0", j.Task)
	}
	next := j.Schedule().Next(mustTime(t, "2024-05-01T00:00:00Z"))
	if want := mustTime(t, "2024-05-01T02:30:00+02:00"); !next.Equal(want) {
		t.Errorf("next = %s, want %s", next, want)
	}
}

func TestParseTakesArgumentsVerbatim(t *testing.T) {
	j := parseOK(t, "verbatim", `
periodic: {cron: "@daily"}
task:
  config:
    command: /bin/echo
    args:
      - "a; rm -rf /"
      - "$(rm -rf /)"
      - "line one\nline two"
      - "`+"`id`"+` && echo ${node.unique.name} $HOME ${not closed"
      - ""
`)
	want := []string{"a; rm -rf /", "$(rm -rf /)", "line one\nline two", "`id` && echo ${node.unique.name} $HOME ${not closed", ""}
	if fmt.Sprintf("%q", j.Task.Config.Args) != fmt.Sprintf("%q", want) {
		t.Errorf("args = %q, want %q", j.Task.Config.Args, want)
	}
}

// fileWith returns a valid job file with extra lines appended at top level,
// starting on line 6.
func fileWith(extra string) string {
	return "periodic:\n  cron: \"@hourly\"\ntask:\n  config:\n    command: /bin/true\n" + extra
}

func TestParseReportsEachBadInputWithItsFieldAndLine(t *testing.T) {
	big := fileWith("datacenters: [" + strings.Repeat("x", 1<<20) + "]\n")
	for _, tc := range []struct {
		name, key, data string
		want            []FieldError // Msg is a substring; Line 0 matches any line
	}{
		{"empty file", "j", "", []FieldError{{"", 0, "job file is empty"}}},
		{"only comments", "j", "# nothing\n", []FieldError{{"", 0, "job file is empty"}}},
		{"broken YAML", "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"@hourly\"\nx: [\n", []FieldError{{"", 2, "invalid YAML: did not find expected ',' or '}'"}}},
		{"tab indentation", "j", "periodic:\n\tcron: x\n", []FieldError{{"", 2, "invalid YAML: found character that cannot start any token"}}},
		{"1 MiB value", "j", big, []FieldError{{"", 0, fmt.Sprintf("job file is %d bytes; the limit is 65536", len(big))}}},
		{"a list at the top", "j", "- periodic\n", []FieldError{{"", 1, "expected a mapping of job fields, got a list"}}},
		{"two documents", "j", fileWith("---\nperiodic: {}\n"), []FieldError{{"", 6, "job file holds more than one YAML document"}}},
		{"self-referring alias", "j", fileWith("datacenters: &a [*a]\n"), []FieldError{{"", 6, "an alias refers to a node that contains it"}}},
		{"merge key", "j", fileWith("reschedule:\n  <<: {attempts: 2}\n"), []FieldError{{"reschedule.<<", 7, "merge keys (<<) are not supported"}}},

		{"unknown top-level field", "j", fileWith("datacenter: [dc1]\n"), []FieldError{{"datacenter", 6, `unknown field "datacenter", did you mean "datacenters"?`}}},
		{"unknown periodic field", "j", "periodic:\n  cronn: \"@hourly\"\ntask: {config: {command: /bin/true}}\n", []FieldError{
			{"periodic.cronn", 2, `unknown field "cronn", did you mean "cron"?`},
			{"periodic.cron", 1, "is required"},
		}},
		{"unknown field one edit away", "j", fileWith("reschedule: {attempts: 1}\nperiodic2: {}\n"), []FieldError{{"periodic2", 7, `did you mean "periodic"?`}}},
		{"unknown nested field", "j", "periodic: {cron: \"@hourly\", timeZone: UTC}\ntask: {config: {comand: /bin/true}}\n", []FieldError{
			{"periodic.timeZone", 1, `unknown field "timeZone", did you mean "time_zone"?`},
			{"task.config.comand", 2, `unknown field "comand", did you mean "command"?`},
		}},
		{"unknown field far from any", "j", fileWith("group: web\n"), []FieldError{{"group", 6, `unknown field "group"; the fields here are constraints, datacenters, name, notify, pause_note, paused, periodic, priority, reschedule, restart, task, type`}}},

		{"cron and crons together", "j", "task: {config: {command: /bin/true}}\nperiodic:\n  cron: \"@hourly\"\n  crons: [\"@daily\"]\n", []FieldError{{"periodic.crons", 4, "periodic.cron and periodic.crons are both set"}}},
		{"a bad expression among crons", "j", "task: {config: {command: /bin/true}}\nperiodic:\n  crons:\n    - \"@hourly\"\n    - \"0 25 * * *\"\n", []FieldError{{"periodic.crons[1]", 5, `hour field "25"`}}},
		{"negative jitter", "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"@hourly\", jitter: -5m}\n", []FieldError{{"periodic.jitter", 2, "-5m is negative"}}},
		{"absurd jitter", "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"@hourly\", jitter: 25h}\n", []FieldError{{"periodic.jitter", 2, "25h is over the limit of 24h"}}},
		{"bad restart", "j", fileWith("restart: {attempts: -1, delay: 30h}\n"), []FieldError{
			{"restart.attempts", 6, "-1 is negative"},
			{"restart.delay", 6, "30h is over the limit of 24h"},
		}},
		{"pause note without a pause", "j", fileWith("pause_note: db migration\n"), []FieldError{{"pause_note", 6, "the job is not paused"}}},
		{"pause note too long", "j", fileWith("paused: true\npause_note: " + strings.Repeat("x", 501) + "\n"), []FieldError{{"pause_note", 7, "is 501 characters long; the limit is 500"}}},
		{"pause note on two lines", "j", fileWith("paused: true\npause_note: \"a\\nb\"\n"), []FieldError{{"pause_note", 7, "control character"}}},
		{"relative work_dir", "j", "periodic: {cron: \"@hourly\"}\ntask: {config: {command: /bin/true}, work_dir: tmp/x}\n", []FieldError{{"task.work_dir", 2, `"tmp/x" is not an absolute path`}}},
		{"repeated field", "j", fileWith("priority: 10\npriority: 20\n"), []FieldError{{"priority", 7, `field "priority" repeats the one on line 6`}}},

		{"wrong types", "j", "periodic: \"@hourly\"\ntask: {config: {command: /bin/true}}\npriority: high\ndatacenters: dc1\nconstraints: {attribute: x}\nreschedule: {delay: 5}\n", []FieldError{
			{"periodic", 1, `expected a mapping, got "@hourly"`},
			{"priority", 3, `expected a whole number, got "high"`},
			{"datacenters", 4, `expected a list of strings, got "dc1"`},
			{"constraints", 5, "expected a list, got a mapping"},
			{"reschedule.delay", 6, `expected a duration like 5s, 10m or 1h, got "5"`},
		}},

		{"list inside args", "j", "periodic: {cron: \"@hourly\"}\ntask:\n  config:\n    command: /bin/echo\n    args:\n      - a\n      - [b]\n", []FieldError{{"task.config.args[1]", 7, "expected a string, got a list"}}},
		{"mapping inside env", "j", "periodic: {cron: \"@hourly\"}\ntask:\n  config: {command: /bin/true}\n  env:\n    A: {b: c}\n", []FieldError{{"task.env.A", 5, "expected a string, got a mapping"}}},
		{"invalid cron", "mysql-backup", "task: {config: {command: /bin/true}}\nperiodic:\n  prohibit_overlap: true\n  cron: \"0 * * *\"\n", []FieldError{{"periodic.cron", 4, "expected 5, 6 or 7 fields, got 4"}}},
		{"cron field out of range", "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"0 25 * * *\"}\n", []FieldError{{"periodic.cron", 2, `hour field "25": 25 is out of range 0-23`}}},
		{"cron that never fires", "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"0 0 30 2 *\"}\n", []FieldError{{"periodic.cron", 2, "never fires"}}},
		{"cron only in the past", "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"0 0 1 1 * 2001-2003\"}\n", []FieldError{{"periodic.cron", 2, "its last launch is in the past"}}},
		{"unknown time zone", "j", "task: {config: {command: /bin/true}}\nperiodic:\n  cron: \"@hourly\"\n  time_zone: Mars/Olympus\n", []FieldError{{"periodic.time_zone", 4, `unknown time zone "Mars/Olympus"`}}},
		{"host time zone", "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"@hourly\", time_zone: Local}\n", []FieldError{{"periodic.time_zone", 2, `"Local" depends on the host`}}},
		{"bad catchup", "j", "task: {config: {command: /bin/true}}\nperiodic: {cron: \"@hourly\", catchup: some, catchup_window: 169h}\n", []FieldError{
			{"periodic.catchup", 2, `"some" is not "all" or "latest"`},
			{"periodic.catchup_window", 2, "169h is over the limit of 168h"},
		}},

		{"relative command", "j", "periodic: {cron: \"@hourly\"}\ntask:\n  config:\n    command: bin/backup.sh\n", []FieldError{{"task.config.command", 4, `"bin/backup.sh" is not an absolute path`}}},
		{"missing command", "j", "periodic: {cron: \"@hourly\"}\ntask: {driver: raw_exec}\n", []FieldError{{"task.config.command", 2, "is required"}}},
		{"interpolated command", "j", "periodic: {cron: \"@hourly\"}\ntask: {config: {command: \"/opt/${node.class}/run\"}}\n", []FieldError{{"task.config.command", 2, "interpolated in args only"}}},
		{"unknown driver", "j", "periodic: {cron: \"@hourly\"}\ntask:\n  driver: docker\n  config: {command: /bin/true}\n", []FieldError{{"task.driver", 3, `unknown driver "docker"`}}},
		{"unknown reference in args", "j", "periodic: {cron: \"@hourly\"}\ntask:\n  config:\n    command: /bin/echo\n    args:\n      - ok\n      - ${NOMAD_JOB_NAME}\n", []FieldError{{"task.config.args[1]", 7, "unknown attribute ${NOMAD_JOB_NAME}"}}},
		{"NUL in args", "j", "periodic: {cron: \"@hourly\"}\ntask: {config: {command: /bin/echo, args: [\"a\\0b\"]}}\n", []FieldError{{"task.config.args[0]", 2, "NUL byte"}}},
		{"bad env", "j", "periodic: {cron: \"@hourly\"}\ntask:\n  config: {command: /bin/true}\n  env:\n    JETCRON_JOB: x\n    1BAD: y\n", []FieldError{
			{"task.env.1BAD", 6, "not a valid environment variable name"},
			{"task.env.JETCRON_JOB", 5, "is reserved"},
		}},
		{"bad task name", "j", "periodic: {cron: \"@hourly\"}\ntask: {name: \"a/b\", config: {command: /bin/true}}\n", []FieldError{{"task.name", 2, "not a valid task name"}}},

		{"key with a dot", "a.b", minimal, []FieldError{{"", 0, `job key "a.b" is not a valid job name: '.' is not allowed`}}},
		{"key with a space", "a b", minimal, []FieldError{{"", 0, `' ' is not allowed`}}},
		{"key star", "*", minimal, []FieldError{{"", 0, `job key "*" is not a valid job name: '*' is not allowed`}}},
		{"key gt", ">", minimal, []FieldError{{"", 0, `'>' is not allowed`}}},
		{"key not ASCII", "jöb", minimal, []FieldError{{"", 0, `job key "jöb" is not a valid job name: 'ö' is not allowed`}}},
		{"key empty", "", minimal, []FieldError{{"", 0, "the job key is empty"}}},
		{"key too long", strings.Repeat("a", 65), minimal, []FieldError{{"", 0, "is 65 characters long; the limit is 64"}}},
		{"name differs from key", "backup", fileWith("name: backups\n"), []FieldError{{"name", 6, `name "backups" does not match the job's key "backup"`}}},

		{"service type", "j", fileWith("type: service\n"), []FieldError{{"type", 6, `type "service" is not supported; the types are "batch" and "sysbatch"`}}},
		{"priority out of range", "j", fileWith("priority: 0\n"), []FieldError{{"priority", 6, "0 is out of range 1-100"}}},
		{"bad datacenter glob", "j", fileWith("datacenters: [dc1, \"dc[\"]\n"), []FieldError{{"datacenters[1]", 6, `"dc[" is not a datacenter name or glob`}}},
		{"negative and absurd durations", "j", "periodic: {cron: \"@hourly\"}\ntask:\n  config: {command: /bin/true}\n  timeout: -1s\n  kill_timeout: 2h\nreschedule:\n  delay: 25h\n  attempts: 101\n", []FieldError{
			{"task.timeout", 4, "-1s is negative; use 0s to 720h"},
			{"task.kill_timeout", 5, "2h is over the limit of 1h"},
			{"reschedule.delay", 7, "25h is over the limit of 24h"},
			{"reschedule.attempts", 8, "101 is over the limit of 100"},
		}},
		{"absurd timeout", "j", "periodic: {cron: \"@hourly\"}\ntask: {config: {command: /bin/true}, timeout: 8760h}\n", []FieldError{{"task.timeout", 2, "8760h is over the limit of 720h"}}},
		{"negative and absurd resources", "j", "periodic: {cron: \"@hourly\"}\ntask:\n  config: {command: /bin/true}\n  resources:\n    cpu: -100\n    memory: 20000000\n", []FieldError{
			{"task.resources.cpu", 5, "-100 is negative"},
			{"task.resources.memory", 6, "20000000 is over the limit of 10000000"},
		}},

		{"bad constraint operator", "j", fileWith("constraints:\n  - attribute: ${node.class}\n    operator: regex\n    value: x\n  - attribute: ${node.class}\n    operator: \"<\"\n    value: x\n"), []FieldError{
			{"constraints[0].operator", 8, `unknown operator "regex", did you mean "regexp"?`},
			{"constraints[1].operator", 11, `unknown operator "<"; use one of =, !=, regexp, set_contains, version`},
		}},
		{"bad constraint attribute", "j", fileWith("constraints:\n  - {attribute: \"${attr.unique.hostnam}\", value: x, operator: \"=\"}\n  - {attribute: node.class, value: x, operator: \"=\"}\n  - {value: x, operator: \"=\"}\n"), []FieldError{
			{"constraints[0].attribute", 7, `unknown attribute "${attr.unique.hostnam}"`},
			{"constraints[1].attribute", 8, `write "node.class" as "${node.class}"`},
			{"constraints[2].attribute", 9, "is required"},
		}},
		{"bad constraint regexp", "j", fileWith("constraints:\n  - attribute: ${attr.unique.hostname}\n    regexp: \"(.*\"\n  - attribute: ${node.class}\n    operator: regexp\n    value: \"[\"\n"), []FieldError{
			{"constraints[0].regexp", 8, `invalid regexp "(.*"`},
			{"constraints[1].value", 11, `invalid regexp "["`},
		}},
		{"regexp shorthand with operator", "j", fileWith("constraints:\n  - attribute: ${node.class}\n    regexp: x\n    operator: \"=\"\n"), []FieldError{{"constraints[0].regexp", 8, "use either regexp: or operator: with value:, not both"}}},
		{"bad version constraint", "j", fileWith("constraints:\n  - {attribute: \"${attr.jetcron.version}\", operator: version, value: \">= one\"}\n"), []FieldError{{"constraints[0].value", 7, `"one" is not a version like 1.2.3`}}},
		{"unknown constraint field", "j", fileWith("constraints:\n  - {attribute: \"${node.class}\", operator: \"=\", vaule: x}\n"), []FieldError{{"constraints[0].vaule", 7, `did you mean "value"?`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.key, []byte(tc.data))
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if ve.Job != tc.key {
				t.Errorf("Job = %q, want %q", ve.Job, tc.key)
			}
			for _, w := range tc.want {
				if !hasFieldError(ve.Errors, w) {
					t.Errorf("missing %s\n in %v", w, err)
				}
			}
		})
	}
}

func hasFieldError(errs []FieldError, want FieldError) bool {
	for _, e := range errs {
		if e.Field == want.Field && (want.Line == 0 || e.Line == want.Line) && strings.Contains(e.Msg, want.Msg) {
			return true
		}
	}
	return false
}

func TestParseReportsEveryProblemOnItsOwnLine(t *testing.T) {
	data := "periodic:\n  cron: \"0 * * *\"\n  cronn: x\ntask:\n  driver: docker\n  config: {command: run.sh}\n"
	_, err := Parse("mysql-backup", []byte(data))
	want := strings.Join([]string{
		`job "mysql-backup": periodic.cron (line 2): expected 5, 6 or 7 fields, got 4`,
		`job "mysql-backup": periodic.cronn (line 3): unknown field "cronn", did you mean "cron"?`,
		`job "mysql-backup": task.driver (line 5): unknown driver "docker"; the only driver is "raw_exec"`,
		`job "mysql-backup": task.config.command (line 6): "run.sh" is not an absolute path; no shell or PATH lookup is involved, so write it in full, e.g. "/usr/bin/run.sh"`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestParseRejectsAnAliasBombQuickly(t *testing.T) {
	// Nine levels of ten aliases: a billion strings once expanded.
	var b strings.Builder
	b.WriteString("periodic: {cron: \"@hourly\"}\nreschedule: {attempts: 1}\n")
	b.WriteString("l0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for k := range 10 {
			if k > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("task: {config: {command: /bin/true, args: *l9}}\n")
	start := time.Now()
	_, err := Parse("bomb", []byte(b.String()))
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %s", took)
	}
	if err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("got %v, want an excessive aliasing error", err)
	}
}

func TestParseAcceptsDocumentMarkers(t *testing.T) {
	parseOK(t, "markers", "---\n"+minimal+"...\n")
	parseOK(t, "trailing", minimal+"---\n")
}

func TestParseAcceptsModestAliases(t *testing.T) {
	j := parseOK(t, "aliases", "periodic: {cron: \"@hourly\"}\ntask:\n  config:\n    command: &cmd /bin/echo\n    args: [*cmd, *cmd]\n")
	if fmt.Sprint(j.Task.Config.Args) != "[/bin/echo /bin/echo]" {
		t.Errorf("args = %q", j.Task.Config.Args)
	}
}

func TestJobTravelsAsJSON(t *testing.T) {
	data, err := os.ReadFile("testdata/mysql-backup.yaml")
	if err != nil {
		t.Fatal(err)
	}
	j := parseOK(t, "mysql-backup", string(data))
	wire := asJSON(t, j)
	for _, s := range []string{`"catchup_window":"10m"`, `"delay":"5s"`, `"kill_timeout":"30s"`, `"timeout":"1h"`, `"prohibit_overlap":true`} {
		if !strings.Contains(wire, s) {
			t.Errorf("JSON lacks %s: %s", s, wire)
		}
	}
	var back Job
	if err := json.Unmarshal([]byte(wire), &back); err != nil {
		t.Fatal(err)
	}
	if got := asJSON(t, &back); got != wire {
		t.Errorf("round trip changed the job:\n got %s\nwant %s", got, wire)
	}
	if back.Schedule() == nil || back.Location() != time.UTC {
		t.Errorf("derived fields not set after JSON: %v %v", back.Schedule(), back.Location())
	}
	if ok, reason := back.Eligible(map[string]string{"attr.unique.hostname": "db-mysql-backup", "node.datacenter": "dc1", "driver.raw_exec": "1"}); !ok {
		t.Errorf("not eligible after JSON: %s", reason)
	}

	var bad Job
	err = json.Unmarshal([]byte(`{"name":"x.y","periodic":{"cron":"0 0 30 2 *"},"task":{"config":{"command":"/bin/true"}}}`), &bad)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 2 {
		t.Errorf("got %v, want a ValidationError for the name and the cron", err)
	}
}

func TestParseAcceptsTheLimits(t *testing.T) {
	parseOK(t, strings.Repeat("a", 64), minimal)
	parseOK(t, "Az09_-", minimal)
	pad := MaxFileSize - len(minimal) - len("# \n")
	parseOK(t, "big", minimal+"# "+strings.Repeat("x", pad)+"\n")
	parseOK(t, "max", "periodic: {cron: \"@hourly\", catchup_window: 168h}\nreschedule: {attempts: 100, delay: 24h}\n"+
		"task: {config: {command: /bin/true}, timeout: 720h, kill_timeout: 1h, resources: {cpu: 1000000, memory: 10000000}}\npriority: 100\n")
}

func TestJobIsSafeForConcurrentUse(t *testing.T) {
	j := parseOK(t, "shared", minimal+"constraints: [{attribute: \"${node.class}\", regexp: \"^stor\"}]\n")
	start := mustTime(t, "2024-01-01T00:00:00Z")
	done := make(chan bool)
	for range 4 {
		go func() {
			from := start
			for range 100 {
				from = j.Schedule().Next(from)
				j.Eligible(node())
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
}

func TestParseTakesATaskUserAndRejectsAnInvalidOne(t *testing.T) {
	base := "periodic: {cron: \"@hourly\"}\ntask:\n  config: {command: /bin/true}\n  user: %s\n"
	j, err := Parse("j", []byte(fmt.Sprintf(base, "backup")))
	if err != nil || j.Task.User != "backup" {
		t.Fatalf("user backup: %v, %+v", err, j)
	}
	if _, err := Parse("j", []byte(fmt.Sprintf(base, "1000"))); err != nil {
		t.Fatalf("numeric uid: %v", err)
	}
	_, err = Parse("j", []byte(fmt.Sprintf(base, `"root; id"`)))
	if err == nil || !strings.Contains(err.Error(), "task.user") {
		t.Fatalf("bad user: %v", err)
	}
}

func TestNotifyDefaultsToFailuresAndRecoveryAndRejectsBadEntries(t *testing.T) {
	base := "periodic: {cron: \"@hourly\"}\ntask: {config: {command: /bin/true}}\n"
	j, err := Parse("backup", []byte(base+"notify:\n  - webhook: https://hooks.example.com/T0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Notify[0].On; strings.Join(got, ",") != "failed,lost,skipped,recovered" {
		t.Fatalf("default on: %v", got)
	}
	_, err = Parse("backup", []byte(base+"notify:\n  - on: [failed, exploded]\n    webhook: ftp://x\n"))
	if err == nil || !strings.Contains(err.Error(), `"exploded" is not an event`) ||
		!strings.Contains(err.Error(), `notify[0].webhook (line 5): "ftp://x" is not an http or https URL`) {
		t.Fatalf("got %v", err)
	}
}
