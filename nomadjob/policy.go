package nomadjob

import (
	"fmt"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Nomad's restart and reschedule defaults for batch jobs (api.TaskGroup's
// Canonicalize); sysbatch jobs take the same restart policy and are never
// rescheduled.
const (
	nomadRestartAttempts    = 3
	nomadRestartDelay       = "15s"
	nomadRestartInterval    = "24h"
	nomadRescheduleAttempts = 1
	nomadRescheduleDelay    = "5s"
)

// policySeen is a restart or reschedule policy as the Nomad file writes it,
// merged over its levels (job, group, task) as Nomad merges them: a field of
// an inner block replaces that of an outer one.
type policySeen struct {
	blocks   int
	attempts *int
	delay    string
	interval string // as written, for a comment: jetcron has no interval
	at       map[string]origin
}

// set records that field came from the attribute a, read by s.
func (p *policySeen) set(s *scope, field string, a *hclsyntax.Attribute) {
	if p.at == nil {
		p.at = make(map[string]origin)
	}
	p.at[field] = origin{line: a.NameRange.Start.Line, where: s.where, name: a.Name}
}

// readCommon reads the attributes restart and reschedule share.
func (p *policySeen) readCommon(s *scope) {
	p.blocks++
	if a := s.attr("attempts"); a != nil {
		if n, ok := s.integer(a); ok {
			p.attempts = &n
			p.set(s, "attempts", a)
		}
	}
	if a := s.attr("delay"); a != nil {
		if d, ok := s.duration(a); ok {
			p.delay = d
			p.set(s, "delay", a)
		}
	}
	if a := s.attr("interval"); a != nil {
		if d, ok := s.duration(a); ok {
			p.interval = d
			p.set(s, "interval", a)
		}
	}
}

// restartBlock reads a restart block of the group or the task.
func (c *converter) restartBlock(parent *scope, b *hclsyntax.Block) {
	s := parent.child(b)
	if !s.noLabels(b) {
		return
	}
	c.restart.readCommon(s)
	if a := s.attr("mode"); a != nil {
		if m, ok := s.str(a, false); ok && m != "fail" {
			s.problem(a.Expr.Range(), "mode", "mode %q has no jetcron meaning: jetcron restarts a failed run up to attempts times and then fails it, as Nomad's mode \"fail\"", m)
		}
	}
	if a := s.attr("render_templates"); a != nil {
		if v, ok := s.boolean(a); ok && v {
			s.problem(a.NameRange, "render_templates", "render_templates = true has no jetcron meaning: %s", reasons["template"])
		}
	}
	s.refuseRest()
}

// reschedule reads a reschedule block of the job or the group.
func (c *converter) reschedule(parent *scope, b *hclsyntax.Block) {
	s := parent.child(b)
	if !s.noLabels(b) {
		return
	}
	if c.out.typ == "sysbatch" {
		parent.problem(b.TypeRange, "reschedule", "reschedule block has no meaning for a sysbatch job: Nomad does not reschedule sysbatch jobs, nor does jetcron")
		return
	}
	c.resched.readCommon(s)
	if a := s.attr("delay_function"); a != nil {
		if f, ok := s.str(a, false); ok && f != "constant" {
			s.problem(a.Expr.Range(), "delay_function", "delay_function %q has no jetcron meaning: jetcron waits the same delay before each attempt, as Nomad's \"constant\"", f)
		}
	}
	if a := s.attr("max_delay"); a != nil {
		s.problem(a.NameRange, "max_delay", "max_delay has no jetcron meaning: jetcron's delay is constant, so nothing grows to a maximum")
	}
	if a := s.attr("unlimited"); a != nil {
		if v, ok := s.boolean(a); ok && v {
			s.problem(a.NameRange, "unlimited", "unlimited = true has no jetcron meaning: jetcron reschedules a run at most attempts times (up to 100)")
		}
	}
	s.refuseRest()
}

// policies writes the job's restart and reschedule policies: what the file
// says over Nomad's defaults, so that the job fails and retries as it did in
// Nomad. Nomad's intervals have no jetcron meaning (attempts count per run); a
// comment says where one was dropped.
func (c *converter) policies(s *scope, job *hclsyntax.Block) {
	if c.out.typ == "" {
		return
	}
	def := origin{line: job.TypeRange.Start.Line, where: s.where, name: "job"}
	r := &policyOut{attempts: nomadRestartAttempts, delay: nomadRestartDelay}
	c.fill(r, &c.restart, "restart", def)
	if c.restart.blocks == 0 {
		r.comment = fmt.Sprintf("Nomad's default restart policy for %s jobs (its %s interval has no jetcron meaning: attempts count per run).", c.out.typ, nomadRestartInterval)
	} else {
		r.comment = intervalComment(&c.restart, "restart")
	}
	c.out.restart = r
	if c.out.typ != "batch" {
		return
	}
	rs := &policyOut{attempts: nomadRescheduleAttempts, delay: nomadRescheduleDelay, onFailure: true}
	c.fill(rs, &c.resched, "reschedule", def)
	if c.resched.blocks == 0 {
		rs.comment = "Nomad's default reschedule policy for batch jobs. "
	} else if ic := intervalComment(&c.resched, "reschedule"); ic != "" {
		rs.comment = ic + " "
	}
	rs.comment += "on_failure: Nomad reschedules a run that failed once its restarts are spent, not only one lost with its node."
	c.out.reschedule = rs
}

// fill sets out's fields from what the file wrote, and records their origins.
func (c *converter) fill(out *policyOut, seen *policySeen, field string, def origin) {
	c.origins[field] = def
	if seen.attempts != nil {
		out.attempts = *seen.attempts
	}
	if seen.delay != "" {
		out.delay = seen.delay
	}
	for name, o := range seen.at {
		c.origins[field+"."+name] = o
	}
}

// intervalComment says that a written interval was dropped, or is "".
func intervalComment(p *policySeen, block string) string {
	if p.interval == "" {
		return ""
	}
	o := p.at["interval"]
	return fmt.Sprintf("Nomad's %s interval = %q (line %d) is dropped: jetcron counts attempts per run, not per interval.", block, p.interval, o.line)
}
