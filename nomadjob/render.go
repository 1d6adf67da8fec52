package nomadjob

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// jobFile is the jetcron job file an import builds: only what the Nomad file
// says (and the policies Nomad applies by default), in the job file's order.
type jobFile struct {
	name        string
	datacenters []string
	typ         string // batch or sysbatch; empty when refused
	priority    *int
	constraints []constraint
	periodic    periodicOut
	restart     *policyOut
	reschedule  *policyOut
	task        taskOut
}

// constraint is one of jetcron's constraints.
type constraint struct {
	attribute, operator, value string
}

// periodicOut is the periodic block.
type periodicOut struct {
	cron            string
	crons           []string
	prohibitOverlap *bool
	timeZone        string
}

// policyOut is a restart or reschedule policy, with a comment on what Nomad
// setting it stands for.
type policyOut struct {
	attempts  int
	delay     string
	onFailure bool
	comment   string
}

// taskOut is the task.
type taskOut struct {
	name, driver, command string
	args                  []string
	env                   [][2]string // in the Nomad file's order
	user, workDir         string
	killTimeout           string
	cpu, memory           *int
}

// dstComment warns that jetcron and Nomad launch differently around DST changes.
const dstComment = "Around DST changes jetcron launches as ISC cron does (once), where Nomad skips a time in the gap and runs a repeated one twice."

// render writes the job file as YAML, saying in its first line that it was
// imported from source.
func (f *jobFile) render(source string) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	if f.name != "" {
		add(root, "name", plain(f.name), "")
	}
	if f.datacenters != nil {
		add(root, "datacenters", flowList(f.datacenters), "")
	}
	if f.typ != "" {
		add(root, "type", plain(f.typ), "")
	}
	if f.priority != nil {
		add(root, "priority", integer(*f.priority), "")
	}
	if len(f.constraints) > 0 {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, c := range f.constraints {
			m := &yaml.Node{Kind: yaml.MappingNode}
			add(m, "attribute", quoted(c.attribute), "")
			add(m, "operator", plain(c.operator), "")
			add(m, "value", quoted(c.value), "")
			list.Content = append(list.Content, m)
		}
		add(root, "constraints", list, "")
	}
	add(root, "periodic", f.periodic.node(), "")
	for _, p := range []struct {
		key string
		pol *policyOut
	}{{"restart", f.restart}, {"reschedule", f.reschedule}} {
		if p.pol == nil {
			continue
		}
		m := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		add(m, "attempts", integer(p.pol.attempts), "")
		add(m, "delay", plain(p.pol.delay), "")
		if p.pol.onFailure {
			add(m, "on_failure", boolean(true), "")
		}
		add(root, p.key, m, p.pol.comment)
	}
	add(root, "task", f.task.node(), "")
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root},
		HeadComment: fmt.Sprintf("Imported from %s by `jetcron job import`.", source)}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// node renders the periodic block.
func (p *periodicOut) node() *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	if p.cron != "" {
		add(m, "cron", quoted(p.cron), "")
	}
	if p.crons != nil {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, c := range p.crons {
			list.Content = append(list.Content, quoted(c))
		}
		add(m, "crons", list, "")
	}
	if p.prohibitOverlap != nil {
		add(m, "prohibit_overlap", boolean(*p.prohibitOverlap), "")
	}
	if p.timeZone != "" {
		comment := ""
		if p.timeZone != "UTC" {
			comment = dstComment
		}
		add(m, "time_zone", plain(p.timeZone), comment)
	}
	return m
}

// node renders the task.
func (t *taskOut) node() *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	if t.name != "" {
		add(m, "name", plain(t.name), "")
	}
	if t.driver != "" {
		add(m, "driver", plain(t.driver), "")
	}
	cfg := &yaml.Node{Kind: yaml.MappingNode}
	if t.command != "" {
		add(cfg, "command", plain(t.command), "")
	}
	if t.args != nil {
		args := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, a := range t.args {
			args.Content = append(args.Content, quoted(a))
		}
		add(cfg, "args", args, "")
	}
	if len(cfg.Content) > 0 {
		add(m, "config", cfg, "")
	}
	if t.workDir != "" {
		add(m, "work_dir", plain(t.workDir), "")
	}
	if len(t.env) > 0 {
		env := &yaml.Node{Kind: yaml.MappingNode}
		for _, kv := range t.env {
			add(env, kv[0], quoted(kv[1]), "")
		}
		add(m, "env", env, "")
	}
	if t.user != "" {
		add(m, "user", plain(t.user), "")
	}
	if t.killTimeout != "" {
		add(m, "kill_timeout", plain(t.killTimeout), "")
	}
	if t.cpu != nil || t.memory != nil {
		res := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		if t.cpu != nil {
			add(res, "cpu", integer(*t.cpu), "")
		}
		if t.memory != nil {
			add(res, "memory", integer(*t.memory), "")
		}
		add(m, "resources", res, "")
	}
	return m
}

// add appends key: value to the mapping m, with comment on the line above.
func add(m *yaml.Node, key string, value *yaml.Node, comment string) {
	k := plain(key)
	if comment != "" {
		k.HeadComment = wrap(comment, 86)
	}
	m.Content = append(m.Content, k, value)
}

// wrap breaks text into lines of at most width characters, each a comment.
func wrap(text string, width int) string {
	var lines []string
	line := "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > width && line != "#" {
			lines = append(lines, line)
			line = "#"
		}
		line += " " + w
	}
	return strings.Join(append(lines, line), "\n")
}

// plain is a string that YAML quotes only if it must.
func plain(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// quoted is a string in double quotes, as the job file reference writes cron
// expressions and attributes.
func quoted(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}
}

func integer(n int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

// flowList is a list of strings on one line, quoted where YAML needs it:
// [dc1, "dc*"].
func flowList(items []string) *yaml.Node {
	list := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range items {
		n := plain(s)
		if strings.ContainsAny(s, "${}[],:#*&!|>'\"%@` ") || s == "" {
			n = quoted(s)
		}
		list.Content = append(list.Content, n)
	}
	return list
}
