package nomadjob

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// group reads the job's one group.
func (c *converter) group(parent *scope, b *hclsyntax.Block) {
	name, _ := parent.labelled(b)
	s := c.scope(fmt.Sprintf("group %q", name), b.Body)
	if a := s.attr("count"); a != nil {
		if n, ok := s.integer(a); ok && n != 1 {
			why := "a jetcron job runs once per tick (a sysbatch job: once on every eligible node)"
			if n < 1 {
				why = "the group would never run"
			}
			s.problem(a.Expr.Range(), "count", "count = %d has no jetcron meaning: %s; only count = 1 imports", n, why)
		}
	}
	for _, cb := range s.blocks("constraint") {
		c.constraint(s, cb)
	}
	if rb := s.block("restart"); rb != nil {
		c.restartBlock(s, rb)
	}
	if rb := s.block("reschedule"); rb != nil {
		c.reschedule(s, rb)
	}
	tasks := s.blocks("task")
	switch len(tasks) {
	case 0:
		s.problem(b.TypeRange, "task", "has no task: nothing to run")
	default:
		for _, extra := range tasks[1:] {
			s.problem(extra.TypeRange, "task", "a second task %q: a jetcron job runs one task; import each as a job of its own", label(extra))
		}
		c.task(s, tasks[0])
	}
	s.refuseRest()
}

// label returns a block's first label, or "".
func label(b *hclsyntax.Block) string {
	if len(b.Labels) == 0 {
		return ""
	}
	return b.Labels[0]
}

// task reads the one task: a raw_exec command.
func (c *converter) task(parent *scope, b *hclsyntax.Block) {
	name, ok := parent.labelled(b)
	s := c.scope(fmt.Sprintf("task %q", name), b.Body)
	t := &c.out.task
	if ok {
		t.name = name
		s.from("task.name", b.LabelRanges[0], "task")
	}
	rawExec := false
	if a := s.attr("driver"); a == nil {
		s.problem(b.TypeRange, "driver", "driver is not set; jetcron runs raw_exec commands: set driver = \"raw_exec\"")
	} else if d, ok := s.str(a, false); ok {
		if d == "raw_exec" {
			rawExec = true
			t.driver = d
			s.from("task.driver", a.NameRange, "driver")
		} else {
			s.problem(a.Expr.Range(), "driver", "driver %q has no jetcron meaning; jetcron runs raw_exec commands only", d)
		}
	}
	// Another driver's config is that driver's: the driver's problem says it all.
	if cfg := s.block("config"); cfg != nil && rawExec {
		c.rawExecConfig(s, cfg)
	} else if cfg == nil && rawExec {
		s.problem(b.TypeRange, "config", "has no config block; jetcron needs config { command = \"/absolute/path\" }")
	}
	if eb := s.block("env"); eb != nil {
		c.env(s.child(eb), eb.Body)
	}
	if a := s.attr("env"); a != nil {
		if m, ok := s.stringMap(a); ok {
			for _, k := range slices.Sorted(maps.Keys(m)) {
				t.env = append(t.env, [2]string{k, m[k]})
				s.from("task.env."+k, a.NameRange, "env")
			}
		}
	}
	if a := s.attr("user"); a != nil {
		if u, ok := s.str(a, false); ok {
			t.user = u
			s.from("task.user", a.NameRange, "user")
		}
	}
	if a := s.attr("kill_timeout"); a != nil {
		if d, ok := s.duration(a); ok {
			t.killTimeout = d
			s.from("task.kill_timeout", a.NameRange, "kill_timeout")
		}
	}
	if a := s.attr("kill_signal"); a != nil {
		if sig, ok := s.str(a, false); ok && sig != "SIGTERM" {
			s.problem(a.Expr.Range(), "kill_signal", "kill_signal %q has no jetcron meaning: %s", sig, reasons["kill_signal"])
		}
	}
	if rb := s.block("resources"); rb != nil {
		c.resources(s.child(rb), rb.Body)
	}
	for _, cb := range s.blocks("constraint") {
		c.constraint(s, cb)
	}
	if rb := s.block("restart"); rb != nil {
		c.restartBlock(s, rb)
	}
	s.refuseRest()
}

// rawExecConfig reads the raw_exec driver's config: command, args, work_dir.
func (c *converter) rawExecConfig(parent *scope, b *hclsyntax.Block) {
	s := parent.child(b)
	t := &c.out.task
	if a := s.attr("command"); a == nil {
		s.problem(b.TypeRange, "command", "has no command; jetcron runs config.command, an absolute path")
	} else if cmd, ok := s.str(a, false); ok {
		if path.IsAbs(cmd) {
			t.command = cmd
			s.from("task.config.command", a.NameRange, "command")
		} else {
			s.problem(a.Expr.Range(), "command", "command %q is not an absolute path; jetcron runs commands without a shell or PATH lookup: write it in full, e.g. \"/usr/bin/%s\"", cmd, path.Base(cmd))
		}
	}
	if a := s.attr("args"); a != nil {
		if args, ok := s.strs(a, true); ok {
			t.args = args
			s.from("task.config.args", a.NameRange, "args")
			for i := range args {
				s.from(fmt.Sprintf("task.config.args[%d]", i), a.NameRange, "args")
			}
		}
	}
	if a := s.attr("work_dir"); a != nil {
		if wd, ok := s.str(a, false); ok {
			t.workDir = wd
			s.from("task.work_dir", a.NameRange, "work_dir")
		}
	}
	s.refuseRest()
}

// env reads the task's environment variables.
func (c *converter) env(s *scope, body *hclsyntax.Body) {
	t := &c.out.task
	names := make([]string, 0, len(body.Attributes))
	for name := range body.Attributes {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		return body.Attributes[a].NameRange.Start.Byte - body.Attributes[b].NameRange.Start.Byte
	})
	for _, name := range names {
		a := s.attr(name)
		v, ok := s.str(a, false)
		if !ok {
			continue
		}
		t.env = append(t.env, [2]string{name, v})
		s.from("task.env."+name, a.NameRange, name)
	}
	s.refuseRest()
}

// resources reads cpu and memory.
func (c *converter) resources(s *scope, body *hclsyntax.Body) {
	t := &c.out.task
	for _, f := range []struct {
		name string
		to   **int
	}{{"cpu", &t.cpu}, {"memory", &t.memory}} {
		if a := s.attr(f.name); a != nil {
			if n, ok := s.integer(a); ok {
				*f.to = &n
				s.from("task.resources."+f.name, a.NameRange, f.name)
			}
		}
	}
	s.refuseRest()
}

// operators maps Nomad's constraint operators to jetcron's; the others are
// refused.
var operators = map[string]string{
	"=": "=", "==": "=", "is": "=",
	"!=": "!=", "not": "!=",
	"regexp":       "regexp",
	"set_contains": "set_contains", "set_contains_all": "set_contains",
	"version": "version",
}

// shorthands are the constraint attributes that set the operator and value
// at once; semver and distinct_* are refused.
var shorthands = []string{"regexp", "version", "set_contains"}

// constraint reads a constraint block of the job, the group or the task.
func (c *converter) constraint(parent *scope, b *hclsyntax.Block) {
	s := parent.child(b)
	if !s.noLabels(b) {
		return
	}
	field := fmt.Sprintf("constraints[%d]", len(c.out.constraints))
	var con constraint
	ok := true
	if a := s.attr("attribute"); a == nil {
		s.problem(b.TypeRange, "attribute", "has no attribute; a jetcron constraint compares a node attribute such as \"${attr.unique.hostname}\"")
		ok = false
	} else if v, good := s.str(a, true); good {
		con.attribute = v
		s.from(field+".attribute", a.NameRange, "attribute")
	} else {
		ok = false
	}
	con.operator = "="
	opName, opLine := "operator", b.TypeRange
	if a := s.attr("operator"); a != nil {
		opLine = a.NameRange
		if op, good := s.str(a, false); !good {
			ok = false
		} else if mapped, known := operators[op]; known {
			con.operator = mapped
		} else {
			s.problem(a.Expr.Range(), "operator", "operator %q has no jetcron meaning: jetcron's operators are =, !=, regexp, set_contains, version", op)
			ok = false
		}
	}
	if a := s.attr("value"); a != nil {
		if v, good := s.str(a, false); good {
			con.value = v
			s.from(field+".value", a.NameRange, "value")
		} else {
			ok = false
		}
	}
	for _, sh := range shorthands {
		a := s.attr(sh)
		if a == nil {
			continue
		}
		if s.body.Attributes["operator"] != nil || s.body.Attributes["value"] != nil {
			s.problem(a.NameRange, sh, "%s = sets the operator and value; write either it or operator and value, not both", sh)
			ok = false
			continue
		}
		if v, good := s.str(a, false); good {
			con.operator, con.value = sh, v
			opName, opLine = sh, a.NameRange
			s.from(field+".value", a.NameRange, sh)
		} else {
			ok = false
		}
	}
	s.from(field+".operator", opLine, opName)
	s.refuseRest()
	if ok {
		s.from(field, b.TypeRange, "constraint")
		c.out.constraints = append(c.out.constraints, con)
	}
}

// periodic reads the periodic block.
func (c *converter) periodic(parent *scope, b *hclsyntax.Block) {
	s := parent.child(b)
	if !s.noLabels(b) {
		return
	}
	p := &c.out.periodic
	cron, crons := s.attr("cron"), s.attr("crons")
	switch {
	case cron != nil && crons != nil:
		s.problem(crons.NameRange, "crons", "cron and crons are both set; Nomad takes one of them")
	case cron != nil:
		if v, ok := s.str(cron, false); ok {
			p.cron = v
			s.from("periodic.cron", cron.NameRange, "cron")
		}
	case crons != nil:
		if vs, ok := s.strs(crons, false); ok {
			p.crons = vs
			s.from("periodic.crons", crons.NameRange, "crons")
			for i := range vs {
				s.from(fmt.Sprintf("periodic.crons[%d]", i), crons.NameRange, "crons")
			}
		}
	default:
		s.problem(b.TypeRange, "cron", "has neither cron nor crons: nothing says when the job runs")
	}
	if a := s.attr("prohibit_overlap"); a != nil {
		if v, ok := s.boolean(a); ok {
			p.prohibitOverlap = &v
			s.from("periodic.prohibit_overlap", a.NameRange, "prohibit_overlap")
		}
	}
	if a := s.attr("time_zone"); a != nil {
		if v, ok := s.str(a, false); ok {
			p.timeZone = v
			s.from("periodic.time_zone", a.NameRange, "time_zone")
		}
	}
	if a := s.attr("enabled"); a != nil {
		if v, ok := s.boolean(a); ok && !v {
			name := c.out.name
			if name == "" {
				name = "JOB"
			}
			s.problem(a.NameRange, "enabled", "enabled = false: import the job enabled, then pause it (`jetcron job pause %s`, or paused: true in the job file)", name)
		}
	}
	s.refuseRest()
}

// stringMap reads an attribute written as a map of strings, such as env = {...}.
func (s *scope) stringMap(a *hclsyntax.Attribute) (map[string]string, bool) {
	v, ok := s.value(a)
	if !ok {
		return nil, false
	}
	m, err := convert.Convert(v, cty.Map(cty.String))
	if err != nil || m.IsNull() {
		s.problem(a.Expr.Range(), a.Name, "%s is a %s; Nomad wants a map of strings", a.Name, v.Type().FriendlyName())
		return nil, false
	}
	out := make(map[string]string)
	for k, e := range m.AsValueMap() {
		if strings.Contains(e.AsString(), "${") {
			s.problem(a.Expr.Range(), a.Name, "%s %s %q: jetcron interpolates ${...} only in task.config.args", a.Name, k, e.AsString())
			return nil, false
		}
		out[k] = e.AsString()
	}
	return out, true
}
