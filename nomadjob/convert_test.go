package nomadjob

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
)

// readTestdata returns a file of testdata/ and its path.
func readTestdata(t *testing.T, name string) (string, []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, src
}

// convertOK converts src and parses the result as jetcron will, failing the
// test if either refuses it.
func convertOK(t *testing.T, file string, src []byte) (*job.Job, string) {
	t.Helper()
	data, name, err := Convert(file, src)
	if err != nil {
		t.Fatalf("Convert(%s):\n%v", file, err)
	}
	j, err := job.Parse(name, data)
	if err != nil {
		t.Fatalf("job.Parse of the import of %s:\n%v\n%s", file, err, data)
	}
	return j, string(data)
}

// problemsOf converts src, which must be refused, and returns its problems.
func problemsOf(t *testing.T, file string, src []byte) []Problem {
	t.Helper()
	data, _, err := Convert(file, src)
	var refused *Error
	if !errors.As(err, &refused) || !errors.Is(err, ErrRefused) {
		t.Fatalf("Convert(%s) = %v, want an *Error; YAML:\n%s", file, err, data)
	}
	if data != nil {
		t.Errorf("Convert(%s) refused it but returned YAML:\n%s", file, data)
	}
	return refused.Problems
}

// lineOf returns the line of src whose text, without indentation or a
// trailing comment, is the first to start with text; comments never match.
func lineOf(t *testing.T, src []byte, text string) int {
	t.Helper()
	for i, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") && strings.HasPrefix(line, text) {
			return i + 1
		}
	}
	t.Fatalf("no line starts with %q", text)
	return 0
}

// want is a problem a test expects: its name, at the line starting with at.
type want struct{ name, at string }

// checkProblems checks that got are exactly the problems wanted, each named
// at its line, with a message that starts with the name and an Error() of the
// form FILE:LINE: where: message.
func checkProblems(t *testing.T, file string, src []byte, got []Problem, wants []want) {
	t.Helper()
	type key struct {
		name string
		line int
	}
	var gotKeys, wantKeys []key
	for _, p := range got {
		gotKeys = append(gotKeys, key{p.Name, p.Line})
		if !strings.Contains(p.Msg, p.Name) {
			t.Errorf("problem %q does not name %q", p.Msg, p.Name)
		}
		prefix := file + ":" + strconv.Itoa(p.Line) + ": "
		if !strings.HasPrefix(p.Error(), prefix) || !strings.HasSuffix(p.Error(), ": "+p.Msg) {
			t.Errorf("problem reads %q, want %q...: %s", p.Error(), prefix, p.Msg)
		}
	}
	for _, w := range wants {
		wantKeys = append(wantKeys, key{w.name, lineOf(t, src, w.at)})
	}
	cmp := func(a, b key) int {
		if a.line != b.line {
			return a.line - b.line
		}
		return strings.Compare(a.name, b.name)
	}
	slices.SortFunc(gotKeys, cmp)
	slices.SortFunc(wantKeys, cmp)
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("%s: problems (name, line)\n got %v\nwant %v\n%s", file, gotKeys, wantKeys, (&Error{got}).Error())
	}
}

// readmeJob returns the mysql-backup job of README.md's seed deployment.
func readmeJob(t *testing.T) []byte {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1) {
		if strings.Contains(string(block[1]), "run-mysql-backup") {
			return block[1]
		}
	}
	t.Fatal("README.md has no yaml block with the mysql-backup job")
	return nil
}

func TestSeedJobImportsAsTheREADMEJobWithNomadsPolicies(t *testing.T) {
	file, src := readTestdata(t, "mysql-backup.nomad.hcl")
	got, yaml := convertOK(t, file, src)
	want, err := job.Parse("mysql-backup", readmeJob(t))
	if err != nil {
		t.Fatal(err)
	}
	// The README's translation leaves out what Nomad does without a restart or
	// reschedule block; the import keeps it: 3 restarts 15s apart, and one
	// reschedule of a failed run 5s later.
	if got.Restart != (job.Restart{Attempts: 3, Delay: job.Duration(15 * time.Second)}) {
		t.Errorf("restart = %+v, want Nomad's batch default {3 15s}", got.Restart)
	}
	if got.Reschedule != (job.Reschedule{Attempts: 1, Delay: job.Duration(5 * time.Second), OnFailure: true}) {
		t.Errorf("reschedule = %+v, want Nomad's batch default {1 5s on_failure}", got.Reschedule)
	}
	got.Restart, got.Reschedule = want.Restart, want.Reschedule
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("import of the seed job\n got %s\nwant %s\nYAML:\n%s", g, w, yaml)
	}
	from := time.Date(2016, 10, 18, 22, 22, 9, 0, time.UTC)
	if next := got.Schedule().Next(from); !next.Equal(time.Date(2016, 10, 18, 23, 0, 0, 0, time.UTC)) {
		t.Errorf("next launch after %s = %s, want 23:00", from, next)
	}
	if !strings.HasPrefix(yaml, "# Imported from mysql-backup.nomad.hcl by `jetcron job import`.\n") {
		t.Errorf("the YAML does not say where it came from:\n%s", yaml)
	}
}

func TestDockerExampleIsRefusedNamingEveryFieldAndLine(t *testing.T) {
	file, src := readTestdata(t, "example.nomad.hcl")
	got := problemsOf(t, file, src)
	checkProblems(t, file, src, got, []want{
		{"periodic", `job "example" {`},
		{"type", `type = "service"`},
		{"update", "update {"},
		{"migrate", "migrate {"},
		{"network", "network {"},
		{"service", "service {"},
		{"ephemeral_disk", "ephemeral_disk {"},
		{"driver", `driver = "docker"`},
		{"identity", "identity {"},
	})
	for _, p := range got {
		if p.Name == "driver" && p.Msg != `driver "docker" has no jetcron meaning; jetcron runs raw_exec commands only` {
			t.Errorf("driver problem reads %q", p.Msg)
		}
		if p.Name == "driver" && p.Where != `task "redis"` {
			t.Errorf("driver problem is in %q, want task \"redis\"", p.Where)
		}
	}
}

func TestRealNomadFilesAreRefusedByNameAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []want
	}{
		{"a group of count 3 is refused, with the relative command and the missing periodic block", "reschedule-job.hcl", []want{
			{"periodic", `job "foo" {`}, {"count", "count = 3"}, {"command", `command = "bash"`},
		}},
		{"a second task is refused by name", "e2e-completed-leader.nomad", []want{
			{"periodic", `job "completed_leader" {`}, {"command", `command = "sleep"`}, {"task", `task "leader" {`},
		}},
		{"a periodic docker job is refused for its driver and its set_contains_any operator", "e2e-periodic.nomad", []want{
			{"operator", `operator  = "set_contains_any"`}, {"driver", `driver = "docker"`},
		}},
		{"a namespace, docker, Nomad's runtime variables in env and an identity are each refused", "snapshot-agent.nomad.hcl", []want{
			{"namespace", `namespace = "infra"`}, {"driver", `driver = "docker"`},
			{"NOMAD_ADDR", "NOMAD_ADDR "}, {"identity", "identity {"},
		}},
		{"what jetcron's job file refuses is reported at the Nomad line it came from", "periodic-crons.hcl", []want{
			{"type", `job "foo" {`}, {"group", `job "foo" {`}, {"crons", "crons = ["}, {"crons", "crons = ["},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, src := readTestdata(t, tc.file)
			checkProblems(t, file, src, problemsOf(t, file, src), tc.want)
		})
	}
}

// Nomad's periodic sysbatch e2e job runs docker; with its task made raw_exec it is
// the periodic sysbatch raw_exec job the import takes.
func TestSysbatchJobImportsAsSysbatchAndRefusesAReschedule(t *testing.T) {
	rawExec := []edit{replace(`driver = "docker"`, `driver = "raw_exec"`), replace("image = \"busybox:1\"\n", "")}
	for _, tc := range []struct {
		name  string
		edits []edit
		want  []want // none: the import succeeds
	}{
		{name: "as Nomad's e2e writes it, it is refused for its docker driver only, not for its type",
			want: []want{{"driver", `driver = "docker"`}}},
		{name: "with a raw_exec task it imports as type sysbatch, with Nomad's restart default and no reschedule",
			edits: rawExec},
		{name: "a reschedule block in it is refused by name and line: Nomad never reschedules a sysbatch job",
			edits: append(rawExec, replace("count = 1", "count = 1\n\n    reschedule {\n      attempts = 2\n    }")),
			want:  []want{{"reschedule", "reschedule {"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, src := editedTestdata(t, "e2e-sysbatch-periodic.nomad", tc.edits)
			if tc.want != nil {
				checkProblems(t, file, []byte(src), problemsOf(t, file, []byte(src)), tc.want)
				return
			}
			j, yaml := convertOK(t, file, []byte(src))
			if !j.Sysbatch() || !strings.Contains(yaml, "type: sysbatch\n") {
				t.Errorf("imported as type %q, want sysbatch:\n%s", j.Type, yaml)
			}
			if j.Periodic.Cron != "*/15 * * * * *" || !j.Periodic.ProhibitOverlap || j.Task.Config.Command != "/bin/sh" ||
				!slices.Equal(j.Task.Config.Args, []string{"-c", "echo hi; sleep 1"}) || !slices.Equal(j.Datacenters, []string{"dc1", "dc2"}) {
				t.Errorf("periodic %+v, task %+v, datacenters %v: not the Nomad file's", j.Periodic, j.Task.Config, j.Datacenters)
			}
			if j.Restart != (job.Restart{Attempts: 3, Delay: job.Duration(15 * time.Second)}) || j.Reschedule.OnFailure || strings.Contains(yaml, "reschedule:") {
				t.Errorf("restart %+v, reschedule %+v: want Nomad's sysbatch restart default and no reschedule:\n%s", j.Restart, j.Reschedule, yaml)
			}
		})
	}
}

func TestSyntaxErrorIsReportedAtItsLine(t *testing.T) {
	file, src := readTestdata(t, "mysql-backup.nomad.hcl")
	broken := strings.Replace(string(src), `type = "batch"`, `type = "batch`, 1)
	got := problemsOf(t, file, []byte(broken))
	if len(got) == 0 || got[0].Line != lineOf(t, []byte(broken), "type") {
		t.Fatalf("problems %v, want one at the type line", got)
	}
}

func TestProblemsReadAsFileLineWhereWhy(t *testing.T) {
	p := Problem{File: "x.nomad.hcl", Line: 7, Where: `task "x"`, Name: "driver", Msg: `driver "docker" has no jetcron meaning`}
	if got, want := p.Error(), `x.nomad.hcl:7: task "x": driver "docker" has no jetcron meaning`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e := &Error{Problems: []Problem{p, {File: "x.nomad.hcl", Line: 9, Msg: "m"}}}
	if got := e.Error(); got != p.Error()+"\nx.nomad.hcl:9: m" {
		t.Errorf("Error() = %q", got)
	}
}
