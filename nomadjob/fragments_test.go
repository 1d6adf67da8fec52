package nomadjob

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
)

// Each row below puts a block quoted from Nomad's documentation or repository
// (website/content/docs/job-specification/*.mdx, and the job files under
// testdata/) into the seed's mysql-backup job, and checks what the import makes
// of it.

// edit changes the seed job's HCL.
type edit func(t *testing.T, src string) string

// editedTestdata reads the testdata file name, with the edits made in turn.
func editedTestdata(t *testing.T, name string, edits []edit) (file, src string) {
	t.Helper()
	file, seed := readTestdata(t, name)
	src = string(seed)
	for _, e := range edits {
		src = e(t, src)
	}
	return file, src
}

// replace replaces old, which must occur once, with new.
func replace(old, new string) edit {
	return func(t *testing.T, src string) string {
		t.Helper()
		if strings.Count(src, old) != 1 {
			t.Fatalf("the seed job holds %q %d times, want once", old, strings.Count(src, old))
		}
		return strings.Replace(src, old, new, 1)
	}
}

// inJob adds HCL to the job block, inTask to the task block.
func inJob(hcl string) edit  { return replace(`type = "batch"`, "type = \"batch\"\n"+hcl) }
func inTask(hcl string) edit { return replace(`driver = "raw_exec"`, "driver = \"raw_exec\"\n"+hcl) }

// inGroup puts the seed's task in a group "mysql-backup" that holds hcl.
func inGroup(hcl string) edit {
	return func(t *testing.T, src string) string {
		src = replace(`  task "run-mysql-backup" {`, "  group \"mysql-backup\" {\n"+hcl+"\n  task \"run-mysql-backup\" {")(t, src)
		return strings.TrimRight(src, "\n") + "\n}\n"
	}
}

// seedPeriodic is the seed job's periodic block.
const seedPeriodic = `  periodic {
    // Launch every hour
    cron = "0 * * * * *"

    // Do not allow overlapping runs.
    prohibit_overlap = true
  }`

// seedConfig is the seed task's config block.
const seedConfig = `    config {
      # When running a binary that exists on the host, the path must be absolute
      command = "/usr/local/bin/mysql-backup.sh"
    }`

func TestImportOfDocumentedBlocks(t *testing.T) {
	dur := func(s string) job.Duration { d, _ := time.ParseDuration(s); return job.Duration(d) }
	for _, tc := range []struct {
		name  string
		edits []edit
		check func(t *testing.T, j *job.Job, yaml, src string) // when the import succeeds
		want  []want                                           // when it is refused
	}{
		{name: "crons are emitted as a list (demo/snapshotagent)",
			edits: []edit{replace(`cron = "0 * * * * *"`, `crons            = ["*/5 * * * *"] # set this to something reasonable`)},
			check: func(t *testing.T, j *job.Job, yaml, src string) {
				if j.Periodic.Cron != "" || !slices.Equal(j.Periodic.Crons, []string{"*/5 * * * *"}) {
					t.Errorf("periodic = %+v", j.Periodic)
				}
				if !strings.Contains(yaml, "  crons:\n    - \"*/5 * * * *\"\n") {
					t.Errorf("crons is not a YAML list:\n%s", yaml)
				}
			}},
		{name: "several crons launch at their union",
			edits: []edit{replace(`cron = "0 * * * * *"`, `crons = ["0 2 * * 1-5", "0 6 * * 0,6"]`)},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				sat := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
				if next := j.Schedule().Next(sat); !next.Equal(sat.Add(6 * time.Hour)) {
					t.Errorf("next launch on a Saturday = %s, want 06:00", next)
				}
			}},
		{name: "a time zone (periodic.mdx) is kept, with a comment on DST",
			edits: []edit{replace(seedPeriodic, "periodic {\n  cron      = \"*/15 * * * * *\"\n  time_zone = \"America/New_York\"\n}")},
			check: func(t *testing.T, j *job.Job, yaml, src string) {
				if j.Periodic.TimeZone != "America/New_York" || j.Periodic.Cron != "*/15 * * * * *" || j.Periodic.ProhibitOverlap {
					t.Errorf("periodic = %+v", j.Periodic)
				}
				if !strings.Contains(yaml, "# Around DST changes jetcron launches as ISC cron does") {
					t.Errorf("no DST comment:\n%s", yaml)
				}
			}},
		{name: "enabled = false is refused, pointing at job pause",
			edits: []edit{replace("prohibit_overlap = true", "prohibit_overlap = true\n    enabled = false")},
			want:  []want{{"enabled", "enabled = false"}}},
		{name: "restart (restart.mdx) maps attempts and delay, and a comment says its interval is dropped",
			edits: []edit{inTask("restart {\n  attempts = 3\n  delay    = \"15s\"\n  interval = \"10m\"\n  mode     = \"fail\"\n}")},
			check: func(t *testing.T, j *job.Job, yaml, src string) {
				if j.Restart != (job.Restart{Attempts: 3, Delay: dur("15s")}) {
					t.Errorf("restart = %+v", j.Restart)
				}
				comment := fmt.Sprintf(`# Nomad's restart interval = "10m" (line %d) is dropped: jetcron counts attempts per`, lineOf(t, []byte(src), "interval"))
				if !strings.Contains(yaml, comment) {
					t.Errorf("no comment on the interval:\n%s", yaml)
				}
			}},
		{name: "restart attempts = 0 (restart.mdx, disabling) means no restart",
			edits: []edit{inTask("restart {\n  attempts = 0\n  mode     = \"fail\"\n}")},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				if j.Restart != (job.Restart{Attempts: 0, Delay: dur("15s")}) {
					t.Errorf("restart = %+v", j.Restart)
				}
			}},
		{name: "a task's restart merges over its group's, as restart.mdx says",
			edits: []edit{inTask("restart {\n  attempts = 5\n}"), inGroup("restart {\n  attempts = 3\n  delay    = \"30s\"\n}")},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				if j.Restart != (job.Restart{Attempts: 5, Delay: dur("30s")}) {
					t.Errorf("restart = %+v, want the task's attempts and the group's delay", j.Restart)
				}
			}},
		{name: "restart mode delay (restart.mdx) is refused",
			edits: []edit{inTask("restart {\n  attempts = 3\n  delay    = \"15s\"\n  interval = \"10m\"\n  mode     = \"delay\"\n}")},
			want:  []want{{"mode", `mode     = "delay"`}}},
		{name: "render_templates = true (restart.mdx) is refused",
			edits: []edit{inGroup("restart {\n  interval         = \"30m\"\n  attempts         = 2\n  delay            = \"15s\"\n  mode             = \"fail\"\n  render_templates = true\n}")},
			want:  []want{{"render_templates", "render_templates = true"}}},
		{name: "reschedule (reschedule.mdx, the batch default) maps, with on_failure",
			edits: []edit{inJob("reschedule {\n  attempts       = 1\n  interval       = \"24h\"\n  unlimited      = false\n  delay          = \"5s\"\n  delay_function = \"constant\"\n}")},
			check: func(t *testing.T, j *job.Job, yaml, src string) {
				if j.Reschedule != (job.Reschedule{Attempts: 1, Delay: dur("5s"), OnFailure: true}) {
					t.Errorf("reschedule = %+v", j.Reschedule)
				}
				comment := fmt.Sprintf(`# Nomad's reschedule interval = "24h" (line %d) is dropped`, lineOf(t, []byte(src), "interval"))
				if !strings.Contains(yaml, comment) {
					t.Errorf("no comment on the interval:\n%s", yaml)
				}
			}},
		{name: "a group's reschedule (jobspec reschedule-job.hcl's) merges over the job's",
			edits: []edit{
				inJob("reschedule {\n  attempts       = 15\n  interval       = \"30m\"\n  delay          = \"10s\"\n  delay_function = \"constant\"\n}"),
				inGroup("reschedule {\n  attempts  = 0\n  unlimited = false\n}"),
			},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				if j.Reschedule != (job.Reschedule{Attempts: 0, Delay: dur("10s"), OnFailure: true}) {
					t.Errorf("reschedule = %+v, want the group's attempts and the job's delay", j.Reschedule)
				}
			}},
		{name: "unlimited, exponential reschedules with a max_delay (jobspec reschedule-job-unlimited.hcl) are refused",
			edits: []edit{inJob("reschedule {\n  delay          = \"10s\"\n  delay_function = \"exponential\"\n  max_delay      = \"120s\"\n  unlimited      = true\n}")},
			want:  []want{{"delay_function", "delay_function"}, {"max_delay", "max_delay"}, {"unlimited", "unlimited"}}},
		{name: "a constraint without operator (constraint.mdx) takes Nomad's default, =",
			edits: []edit{inJob("constraint {\n  attribute = \"${attr.kernel.name}\"\n  value     = \"linux\"\n}")},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				if len(j.Constraints) != 2 || j.Constraints[0].String() != `${attr.kernel.name} = "linux"` ||
					j.Constraints[1].String() != `${attr.unique.hostname} regexp ".*mysql-backup"` {
					t.Errorf("constraints = %v", j.Constraints)
				}
			}},
		{name: "group and task constraints join the job's; count = 1 imports",
			edits: []edit{inGroup("count = 1\nconstraint {\n  attribute = \"${node.class}\"\n  operator = \"!=\"\n  value = \"spot\"\n}"),
				inTask("constraint {\n  attribute = \"${attr.os.name}\"\n  operator  = \"==\"\n  value     = \"ubuntu\"\n}")},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				var got []string
				for _, c := range j.Constraints {
					got = append(got, c.String())
				}
				want := []string{`${attr.unique.hostname} regexp ".*mysql-backup"`, `${node.class} != "spot"`, `${attr.os.name} = "ubuntu"`}
				if !slices.Equal(got, want) {
					t.Errorf("constraints = %q, want %q", got, want)
				}
			}},
		{name: "distinct_hosts (constraint.mdx) is refused",
			edits: []edit{inJob("constraint {\n    distinct_hosts = true\n}")},
			want:  []want{{"attribute", "constraint {"}, {"distinct_hosts", "distinct_hosts"}}},
		{name: "an unknown attribute is refused by jetcron's job file, at the Nomad line",
			edits: []edit{inJob("constraint {\n  attribute = \"${attr.driver.docker}\"\n  value     = \"1\"\n}")},
			want:  []want{{"attribute", `attribute = "${attr.driver.docker}"`}}},
		{name: "meta and a ${meta} in env (task.mdx) are refused: jetcron interpolates args only",
			edits: []edit{inTask("meta {\n  my-key = \"my-value\"\n}\n\nenv {\n  MY_KEY = \"${meta.my-key}\"\n}")},
			want:  []want{{"meta", "meta {"}, {"MY_KEY", "MY_KEY"}}},
		{name: "the raw_exec docs' example maps command and args",
			edits: []edit{replace(seedConfig, "config {\n    # When running a binary that exists on the host, the path must be absolute/\n    command = \"/bin/sleep\"\n    args    = [\"1\"]\n  }")},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				if j.Task.Config.Command != "/bin/sleep" || !slices.Equal(j.Task.Config.Args, []string{"1"}) {
					t.Errorf("config = %+v", j.Task.Config)
				}
			}},
		{name: "a relative command (raw_exec docs) is refused",
			edits: []edit{replace(seedConfig, "config {\n    command = \"my-binary\"\n    args    = [\"-flag\", \"1\"]\n  }")},
			want:  []want{{"command", `command = "my-binary"`}}},
		{name: "args keep ${attr.unique.hostname} for jetcron to interpolate",
			edits: []edit{replace(`command = "/usr/local/bin/mysql-backup.sh"`, "command = \"/usr/local/bin/mysql-backup.sh\"\nargs = [\"--host\", \"${attr.unique.hostname}\"]")},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				if !slices.Equal(j.Task.Config.Args, []string{"--host", "${attr.unique.hostname}"}) {
					t.Errorf("args = %q", j.Task.Config.Args)
				}
			}},
		{name: "an HCL variable and a function call are refused by name",
			edits: []edit{replace(`datacenters = ["dc1"]`, "datacenters = var.datacenters\npriority = max(50, 60)")},
			want:  []want{{"datacenters", "datacenters"}, {"priority", "priority"}}},
		{name: "kill_timeout, user, env and resources (example.nomad.hcl) map",
			edits: []edit{inTask("kill_timeout = \"20s\"\nuser = \"backup\"\nenv {\n  NOMAD_SKIP_DOCKER_IMAGE_WARN = \"1\"\n}"),
				replace("# defaults", "cpu    = 500 # 500 MHz\nmemory = 256 # 256MB")},
			check: func(t *testing.T, j *job.Job, _, _ string) {
				tk := j.Task
				if tk.KillTimeout != dur("20s") || tk.User != "backup" || tk.Env["NOMAD_SKIP_DOCKER_IMAGE_WARN"] != "1" ||
					tk.Resources != (job.Resources{CPU: 500, Memory: 256}) {
					t.Errorf("task = %+v", tk)
				}
			}},
		{name: "max_run_duration (e2e batch_timeout) is refused: jetcron's timeout differs",
			edits: []edit{inGroup("max_run_duration = \"5s\"")},
			want:  []want{{"max_run_duration", "max_run_duration"}}},
		{name: "a network block is refused by name",
			edits: []edit{inGroup("network {\n  port \"db\" {\n    to = 6379\n  }\n}")},
			want:  []want{{"network", "network {"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file, src := editedTestdata(t, "mysql-backup.nomad.hcl", tc.edits)
			if tc.check != nil {
				j, yaml := convertOK(t, file, []byte(src))
				tc.check(t, j, yaml, src)
				return
			}
			checkProblems(t, file, []byte(src), problemsOf(t, file, []byte(src)), tc.want)
		})
	}
}
