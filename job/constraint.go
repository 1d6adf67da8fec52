package job

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Constraint restricts the nodes a job may run on, as in Nomad: the node's
// Attribute (such as "${attr.unique.hostname}") compared by Operator with
// Value. In a job file, `regexp: "<re>"` is shorthand for operator regexp.
type Constraint struct {
	Attribute string `yaml:"attribute" json:"attribute"`
	Operator  string `yaml:"operator" json:"operator"` // =, !=, regexp, set_contains or version
	Value     string `yaml:"value" json:"value"`

	re      *regexp.Regexp    // for regexp, set by validation
	version versionConstraint // for version, set by validation
}

// Operators a constraint may use; "==" is read as "=".
var constraintOperators = []string{"=", "!=", "regexp", "set_contains", "version"}

// constraintFile is a constraint as a job file may write it.
type constraintFile struct {
	Attribute string `yaml:"attribute"`
	Operator  string `yaml:"operator"`
	Value     string `yaml:"value"`
	Regexp    string `yaml:"regexp"`
}

// decodeNode decodes a constraint, turning the regexp shorthand into
// operator regexp.
func (c *Constraint) decodeNode(d *decoder, n *yaml.Node, path string) {
	var f constraintFile
	d.decodeStruct(n, reflect.ValueOf(&f).Elem(), path)
	*c = Constraint{Attribute: f.Attribute, Operator: f.Operator, Value: f.Value}
	if _, short := d.lines[path+".regexp"]; short {
		_, op := d.lines[path+".operator"]
		_, val := d.lines[path+".value"]
		if op || val {
			d.addf(path+".regexp", "use either regexp: or operator: with value:, not both")
		}
		c.Operator, c.Value = "regexp", f.Regexp
	}
}

// validate checks the constraint at path and prepares it for matching.
func (c *Constraint) validate(p *problems, path string) {
	name, braced := attributeName(c.Attribute)
	switch {
	case c.Attribute == "":
		p.addf(path+".attribute", "is required")
	case !braced && isNodeAttribute(c.Attribute):
		p.addf(path+".attribute", "write %q as \"${%s}\"", c.Attribute, c.Attribute)
	case !braced || !isNodeAttribute(name):
		p.addf(path+".attribute", "unknown attribute %q; use one of %s", c.Attribute, attributeHelp())
	}
	valueField := path + ".value"
	if _, short := p.lines[path+".regexp"]; short {
		valueField = path + ".regexp"
	}
	if c.Operator == "==" {
		c.Operator = "="
	}
	switch c.Operator {
	case "":
		p.addf(path+".operator", "is required; use one of %s", strings.Join(constraintOperators, ", "))
	case "=", "!=":
	case "regexp":
		re, err := regexp.Compile(c.Value)
		if err != nil {
			p.addf(valueField, "invalid regexp %q: %v", c.Value, err)
		}
		c.re = re
	case "set_contains":
		if strings.TrimSpace(c.Value) == "" {
			p.addf(valueField, "set_contains needs a comma-separated list of values")
		}
	case "version":
		v, err := parseVersionConstraint(c.Value)
		if err != nil {
			p.addf(valueField, "%v", err)
		}
		c.version = v
	default:
		msg := fmt.Sprintf("unknown operator %q", c.Operator)
		if s, ok := suggest(c.Operator, constraintOperators); ok {
			p.addf(path+".operator", "%s, did you mean %q?", msg, s)
		} else {
			p.addf(path+".operator", "%s; use one of %s", msg, strings.Join(constraintOperators, ", "))
		}
	}
}

// attributeName returns name from "${name}", and whether s had that form.
func attributeName(s string) (string, bool) {
	name, ok := strings.CutPrefix(s, "${")
	if !ok || !strings.HasSuffix(name, "}") {
		return s, false
	}
	return strings.TrimSuffix(name, "}"), true
}

// met reports whether a node with attrs (keyed without "${}") meets the
// constraint. As in Nomad, a node without the attribute meets only "!=".
func (c *Constraint) met(attrs map[string]string) bool {
	name, _ := attributeName(c.Attribute)
	val, ok := attrs[name]
	switch c.Operator {
	case "=", "==":
		return ok && val == c.Value
	case "!=":
		return !ok || val != c.Value
	case "regexp":
		re := c.re
		if re == nil {
			var err error
			if re, err = regexp.Compile(c.Value); err != nil {
				return false
			}
		}
		return ok && re.MatchString(val)
	case "set_contains":
		return ok && setContains(val, c.Value)
	case "version":
		check := c.version
		if check == nil {
			var err error
			if check, err = parseVersionConstraint(c.Value); err != nil {
				return false
			}
		}
		v, err := parseVersion(val)
		return ok && err == nil && check.allows(v)
	}
	return false
}

// setContains reports whether every item of the comma-separated list want
// is in the comma-separated list have.
func setContains(have, want string) bool {
	set := make(map[string]bool)
	for _, h := range strings.Split(have, ",") {
		set[strings.TrimSpace(h)] = true
	}
	for _, w := range strings.Split(want, ",") {
		if !set[strings.TrimSpace(w)] {
			return false
		}
	}
	return true
}

// String returns the constraint as it reads in an error, e.g.
// `${attr.unique.hostname} regexp ".*mysql-backup"`.
func (c Constraint) String() string {
	return fmt.Sprintf("%s %s %q", c.Attribute, c.Operator, c.Value)
}
