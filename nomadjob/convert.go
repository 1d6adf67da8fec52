package nomadjob

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/jetcron/jetcron/job"
)

// jobName is what a jetcron job's name must look like (job.Parse checks it
// again; this says so at the label's line).
var jobName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// origin is where a field of the jetcron job file came from in the Nomad file.
type origin struct {
	line  int
	where string // the block, as Problem.Where
	name  string // the Nomad attribute or block
}

// converter reads one Nomad file into a jetcron job file.
type converter struct {
	file     string
	src      []byte
	problems []Problem
	out      jobFile
	origins  map[string]origin // by jetcron field path, such as "periodic.cron"
	restart  policySeen        // the restart blocks of the group and the task
	resched  policySeen        // the reschedule blocks of the job and the group
}

// Convert turns src, the HCL of a Nomad periodic batch job read from
// filename (which problems name), into a jetcron job file, and returns the
// file's YAML and the job's name.
//
// Everything in src that has no jetcron meaning is refused by name, never
// dropped: the error is then an *Error listing every problem, each at its
// line, and matches ErrRefused. A Nomad setting that jetcron drops because it
// has no effect there (a restart interval) is said in a comment of the YAML.
// The YAML returned passes job.Parse under the name returned.
func Convert(filename string, src []byte) ([]byte, string, error) {
	c := &converter{file: filename, src: src, origins: make(map[string]origin)}
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			p := Problem{File: filename, Msg: strings.TrimSuffix(d.Summary+": "+d.Detail, ": ")}
			if d.Subject != nil {
				p.Line = d.Subject.Start.Line
			}
			c.problems = append(c.problems, p)
		}
	}
	if diags.HasErrors() {
		return nil, "", newError(c.problems)
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil, "", fmt.Errorf("import %s: the HCL parser returned a %T, not a native syntax body", filename, f.Body)
	}
	c.top(body)
	data, err := c.out.render(filepath.Base(filename))
	if err != nil {
		return nil, "", fmt.Errorf("import %s: write the job file: %w", filename, err)
	}
	if err := c.check(data); err != nil {
		return nil, "", fmt.Errorf("import %s: %w", filename, err)
	}
	if err := newError(c.problems); err != nil {
		return nil, "", err
	}
	return data, c.out.name, nil
}

// check parses data as jetcron will, and records each problem it finds at
// the line of the Nomad setting it came from. While the import itself has
// problems, the file is partial: only problems with a value actually
// imported count then, not ones about a field left out.
func (c *converter) check(data []byte) error {
	name := c.out.name
	if name == "" {
		name = "imported" // the label was refused already
	}
	_, err := job.Parse(name, data)
	if err == nil {
		return nil
	}
	var verr *job.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("check the job file: %w", err)
	}
	partial := len(c.problems) > 0
	for _, fe := range verr.Errors {
		o, exact := c.origin(fe.Field)
		if partial && !exact {
			continue
		}
		what := o.name
		if what == "" {
			what = "job"
		}
		c.problems = append(c.problems, Problem{
			File: c.file, Line: o.line, Where: o.where, Name: o.name,
			Msg: fmt.Sprintf("%s (jetcron's %s): %s", what, fieldName(fe.Field), fe.Msg),
		})
	}
	return nil
}

// fieldName names a jetcron field in a problem.
func fieldName(field string) string {
	if field == "" {
		return "the job's name"
	}
	return field
}

// origin returns where field came from, or else where its nearest ancestor
// did (then exact is false).
func (c *converter) origin(field string) (o origin, exact bool) {
	if o, ok := c.origins[field]; ok {
		return o, true
	}
	for f := field; f != ""; {
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
		if o, ok := c.origins[f]; ok {
			return o, false
		}
	}
	return c.origins["name"], false
}

// from records that the jetcron field came from the Nomad attribute or block
// name at rng, in the block s reads.
func (s *scope) from(field string, rng hcl.Range, name string) {
	s.c.origins[field] = origin{line: rng.Start.Line, where: s.where, name: name}
}

// top reads the file: one job block.
func (c *converter) top(body *hclsyntax.Body) {
	s := c.scope("", body)
	jobs := s.blocks("job")
	s.refuseRest()
	if len(jobs) == 0 {
		s.problem(body.SrcRange, "job", "the file has no job block")
		return
	}
	for _, extra := range jobs[1:] {
		s.problem(extra.TypeRange, "job", "a second job block; jetcron import reads one job a file")
	}
	c.job(s, jobs[0])
}

// job reads the job block.
func (c *converter) job(top *scope, b *hclsyntax.Block) {
	name, ok := top.labelled(b)
	s := c.scope(fmt.Sprintf("job %q", name), b.Body)
	s.from("", b.TypeRange, "job")
	if ok {
		if jobName.MatchString(name) {
			c.out.name = name
			s.from("name", b.LabelRanges[0], "job")
		} else {
			top.problem(b.LabelRanges[0], "job", "job %q: the name is not a jetcron job name; use 1 to 64 letters, digits, \"-\" and \"_\"", name)
		}
	}
	for _, attr := range []string{"id", "name"} {
		if a := s.attr(attr); a != nil {
			if v, ok := s.str(a, false); ok && v != name {
				s.problem(a.Expr.Range(), attr, "%s %q differs from the job's label %q; a jetcron job has one name, the label", attr, v, name)
			}
		}
	}
	s.onlyDefault("region", "global", "jetcron has no regions")
	s.onlyDefault("namespace", "default", "jetcron has no namespaces")
	s.onlyDefault("node_pool", "default", "jetcron has no node pools; constrain the nodes instead")
	if a := s.attr("all_at_once"); a != nil {
		if v, ok := s.boolean(a); ok && v {
			s.problem(a.NameRange, "all_at_once", "all_at_once = true has no jetcron meaning: jetcron places one task per tick")
		}
	}
	if a := s.attr("datacenters"); a != nil {
		if dcs, ok := s.strs(a, false); ok {
			c.out.datacenters = dcs
			s.from("datacenters", a.NameRange, "datacenters")
		}
	}
	c.jobType(s, b)
	if a := s.attr("priority"); a != nil {
		if p, ok := s.integer(a); ok {
			c.out.priority = &p
			s.from("priority", a.NameRange, "priority")
		}
	}
	for _, cb := range s.blocks("constraint") {
		c.constraint(s, cb)
	}
	if pb := s.block("periodic"); pb != nil {
		c.periodic(s, pb)
	} else {
		s.problem(b.TypeRange, "periodic", "has no periodic block; jetcron runs periodic jobs only")
	}
	if rb := s.block("reschedule"); rb != nil {
		c.reschedule(s, rb)
	}
	c.groups(s, b)
	s.refuseRest()
	c.policies(s, b)
}

// jobType reads the job's type: batch or sysbatch.
func (c *converter) jobType(s *scope, b *hclsyntax.Block) {
	a := s.attr("type")
	if a == nil {
		s.problem(b.TypeRange, "type", "type is not set, so Nomad runs the job as a service; jetcron imports periodic batch and sysbatch jobs")
		return
	}
	t, ok := s.str(a, false)
	if !ok {
		return
	}
	switch t {
	case "batch", "sysbatch":
		c.out.typ = t
		s.from("type", a.NameRange, "type")
	default:
		s.problem(a.Expr.Range(), "type", "type %q has no jetcron meaning: jetcron runs periodic batch and sysbatch jobs", t)
	}
}

// onlyDefault accepts the string attribute name only at its Nomad default,
// where it changes nothing.
func (s *scope) onlyDefault(name, def, why string) {
	a := s.attr(name)
	if a == nil {
		return
	}
	if v, ok := s.str(a, false); ok && v != def {
		s.problem(a.Expr.Range(), name, "%s %q has no jetcron meaning: %s (only %q, Nomad's default, imports)", name, v, why, def)
	}
}

// groups reads the job's one group, or its one task written without a group
// (which Nomad puts in a group of its own).
func (c *converter) groups(s *scope, b *hclsyntax.Block) {
	groups, tasks := s.blocks("group"), s.blocks("task")
	all := make([]*hclsyntax.Block, 0, len(groups)+len(tasks))
	for _, g := range groups {
		all = append(all, g)
	}
	all = append(all, tasks...)
	if len(all) == 0 {
		s.problem(b.TypeRange, "group", "has no group or task: nothing to run")
		return
	}
	first := all[0]
	for _, x := range all {
		if x.TypeRange.Start.Byte < first.TypeRange.Start.Byte {
			first = x
		}
	}
	for _, extra := range all {
		if extra != first {
			label := ""
			if len(extra.Labels) > 0 {
				label = fmt.Sprintf(" %q", extra.Labels[0])
			}
			s.problem(extra.TypeRange, extra.Type, "a second %s%s: a jetcron job runs one task; import each as a job of its own", extra.Type, label)
		}
	}
	if first.Type == "group" {
		c.group(s, first)
	} else {
		c.task(s, first)
	}
}
