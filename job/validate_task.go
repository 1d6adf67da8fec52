package job

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
)

// taskName is what a task's name must look like.
var taskName = jobName

// envName is what an environment variable's name must look like.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate checks the task of the job named job.
// userName is what POSIX and useradd accept as a user name, or a numeric uid.
var userName = regexp.MustCompile(`^([a-z_][a-z0-9_-]{0,31}\$?|[0-9]{1,10})$`)

func (t *Task) validate(p *problems, job string) {
	if t.Name == "" {
		t.Name = job
	} else if !taskName.MatchString(t.Name) {
		p.addf("task.name", "%q is not a valid task name; use 1 to 64 letters, digits, \"-\" and \"_\"", t.Name)
	}
	if t.User != "" && !userName.MatchString(t.User) {
		p.addf("task.user", "%q is not a user name or numeric uid", t.User)
	}
	if t.Driver == "" {
		t.Driver = "raw_exec"
	}
	if t.Driver != "raw_exec" {
		p.addf("task.driver", "unknown driver %q; the only driver is \"raw_exec\"", t.Driver)
	}
	cmd := t.Config.Command
	switch {
	case cmd == "":
		p.addf("task.config.command", "is required")
	case !path.IsAbs(cmd):
		p.addf("task.config.command", "%q is not an absolute path; no shell or PATH lookup is involved, so write it in full, e.g. \"/usr/bin/%s\"", cmd, path.Base(cmd))
	case strings.Contains(cmd, "${"):
		p.addf("task.config.command", "%q: ${...} is interpolated in args only; the command must be a literal path", cmd)
	case strings.ContainsRune(cmd, 0):
		p.addf("task.config.command", "contains a NUL byte")
	default:
		t.Config.Command = path.Clean(cmd)
	}
	switch wd := t.WorkDir; {
	case wd == "":
	case !path.IsAbs(wd):
		p.addf("task.work_dir", "%q is not an absolute path", wd)
	case strings.Contains(wd, "${") || strings.ContainsRune(wd, 0):
		p.addf("task.work_dir", "%q: must be a literal path", wd)
	default:
		t.WorkDir = path.Clean(wd)
	}
	for i, arg := range t.Config.Args {
		field := fmt.Sprintf("task.config.args[%d]", i)
		if strings.ContainsRune(arg, 0) {
			p.addf(field, "contains a NUL byte, which no process can receive")
		}
		for _, ref := range unknownReferences(arg) {
			p.addf(field, "unknown attribute %s; use one of %s (the JETCRON_* values are in the task's environment)", ref, attributeHelp())
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t.Env)) {
		field := "task.env." + k
		switch {
		case !envName.MatchString(k):
			p.addf(field, "%q is not a valid environment variable name", k)
		case strings.HasPrefix(k, "JETCRON_"):
			p.addf(field, "%q is reserved: jetcron sets the JETCRON_* variables itself", k)
		case strings.ContainsRune(t.Env[k], 0):
			p.addf(field, "contains a NUL byte, which no process can receive")
		}
	}
	checkDuration(p, "task.timeout", t.Timeout, maxTimeout)
	checkDuration(p, "task.kill_timeout", t.KillTimeout, maxKillTimeout)
	checkInt(p, "task.resources.cpu", t.Resources.CPU, maxCPU)
	checkInt(p, "task.resources.memory", t.Resources.Memory, maxMemory)
}
