package nomadjob

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// interpolated are the roots of the ${...} references that jetcron interpolates
// as Nomad does: ${attr.unique.hostname}, ${node.datacenter}, ${meta.rack}...
var interpolated = map[string]bool{"attr": true, "node": true, "meta": true}

// literal evaluates expr, which must be a literal: a string, number, bool or
// list of them. A reference to attr.*, node.* or meta.* inside a string stays
// as its text, "${attr.unique.hostname}"; any other reference, and any
// function call, is an error.
func (c *converter) literal(expr hclsyntax.Expression) (cty.Value, error) {
	switch e := expr.(type) {
	case *hclsyntax.TemplateWrapExpr:
		return c.template([]hclsyntax.Expression{e.Wrapped})
	case *hclsyntax.TemplateExpr:
		return c.template(e.Parts)
	case *hclsyntax.ParenthesesExpr:
		return c.literal(e.Expression)
	case *hclsyntax.TupleConsExpr:
		if len(e.Exprs) == 0 {
			return cty.EmptyTupleVal, nil
		}
		vals := make([]cty.Value, len(e.Exprs))
		for i, x := range e.Exprs {
			v, err := c.literal(x)
			if err != nil {
				return cty.NilVal, err
			}
			vals[i] = v
		}
		return cty.TupleVal(vals), nil
	case *hclsyntax.FunctionCallExpr:
		return cty.NilVal, fmt.Errorf("calls %s(); jetcron import reads literal values only: write the value", e.Name)
	}
	if vars := expr.Variables(); len(vars) > 0 {
		return cty.NilVal, c.reference(vars[0])
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, errors.New(strings.TrimSuffix(diags[0].Summary+": "+diags[0].Detail, ": "))
	}
	return v, nil
}

// template evaluates the parts of a quoted string or heredoc.
func (c *converter) template(parts []hclsyntax.Expression) (cty.Value, error) {
	var b strings.Builder
	for _, part := range parts {
		if ref, ok := part.(*hclsyntax.ScopeTraversalExpr); ok {
			if !interpolated[ref.Traversal.RootName()] {
				return cty.NilVal, c.reference(ref.Traversal)
			}
			b.WriteString("${" + c.text(ref.SrcRange) + "}")
			continue
		}
		v, err := c.literal(part)
		if err != nil {
			return cty.NilVal, err
		}
		s, err := convert.Convert(v, cty.String)
		if err != nil || s.IsNull() {
			return cty.NilVal, fmt.Errorf("interpolates a %s, not a string", v.Type().FriendlyName())
		}
		b.WriteString(s.AsString())
	}
	return cty.StringVal(b.String()), nil
}

// reference explains why a reference cannot be imported.
func (c *converter) reference(t hcl.Traversal) error {
	text := c.text(t.SourceRange())
	switch root := t.RootName(); {
	case root == "var" || root == "local":
		return fmt.Errorf("refers to %s, an HCL variable; jetcron import reads literal values only: write the value (nomad job run -output prints the job with variables filled in)", text)
	case strings.HasPrefix(root, "NOMAD_") || root == "env":
		return fmt.Errorf("refers to ${%s}, from Nomad's runtime environment; jetcron interpolates only ${attr.*}, ${node.*} and ${meta.*} (its tasks get JETCRON_* variables instead)", text)
	}
	return fmt.Errorf("refers to %s; jetcron import reads literal values, and ${attr.*}, ${node.*} and ${meta.*} inside strings", text)
}

// text returns the source text of rng.
func (c *converter) text(rng hcl.Range) string {
	if rng.Start.Byte < 0 || rng.End.Byte > len(c.src) || rng.Start.Byte > rng.End.Byte {
		return "?"
	}
	return string(c.src[rng.Start.Byte:rng.End.Byte])
}

// value evaluates a, recording a problem if it is not a literal. ok is false
// then, and when a is null, which Nomad reads as unset.
func (s *scope) value(a *hclsyntax.Attribute) (cty.Value, bool) {
	v, err := s.c.literal(a.Expr)
	if err != nil {
		s.problem(a.Expr.Range(), a.Name, "%s %v", a.Name, err)
		return cty.NilVal, false
	}
	return v, !v.IsNull()
}

// str reads a string attribute. Only where interp is true may it hold ${...}
// references, which jetcron interpolates.
func (s *scope) str(a *hclsyntax.Attribute, interp bool) (string, bool) {
	v, ok := s.value(a)
	if !ok {
		return "", false
	}
	sv, err := convert.Convert(v, cty.String)
	if err != nil {
		s.problem(a.Expr.Range(), a.Name, "%s is a %s; Nomad wants a string", a.Name, v.Type().FriendlyName())
		return "", false
	}
	str := sv.AsString()
	if !interp && strings.Contains(str, "${") {
		s.problem(a.Expr.Range(), a.Name, "%s %q: jetcron interpolates ${...} only in task.config.args and a constraint's attribute, so here it would stay as written", a.Name, str)
		return "", false
	}
	return str, true
}

// strs reads a list of strings, as str reads one.
func (s *scope) strs(a *hclsyntax.Attribute, interp bool) ([]string, bool) {
	v, ok := s.value(a)
	if !ok {
		return nil, false
	}
	if !v.Type().IsTupleType() && !v.Type().IsListType() {
		s.problem(a.Expr.Range(), a.Name, "%s is a %s; Nomad wants a list of strings", a.Name, v.Type().FriendlyName())
		return nil, false
	}
	out := make([]string, 0, v.LengthInt())
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		sv, err := convert.Convert(e, cty.String)
		if err != nil || sv.IsNull() {
			s.problem(a.Expr.Range(), a.Name, "%s holds a %s; Nomad wants a list of strings", a.Name, e.Type().FriendlyName())
			return nil, false
		}
		if !interp && strings.Contains(sv.AsString(), "${") {
			s.problem(a.Expr.Range(), a.Name, "%s %q: jetcron interpolates ${...} only in task.config.args and a constraint's attribute", a.Name, sv.AsString())
			return nil, false
		}
		out = append(out, sv.AsString())
	}
	return out, true
}

// integer reads a whole number.
func (s *scope) integer(a *hclsyntax.Attribute) (int, bool) {
	v, ok := s.value(a)
	if !ok {
		return 0, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil || n.IsNull() {
		s.problem(a.Expr.Range(), a.Name, "%s is a %s; Nomad wants a whole number", a.Name, v.Type().FriendlyName())
		return 0, false
	}
	f := n.AsBigFloat()
	i, acc := f.Int64()
	if !f.IsInt() || acc != big.Exact || i != int64(int32(i)) {
		s.problem(a.Expr.Range(), a.Name, "%s %s is not a whole number that fits in 32 bits", a.Name, f.Text('g', -1))
		return 0, false
	}
	return int(i), true
}

// boolean reads true or false.
func (s *scope) boolean(a *hclsyntax.Attribute) (bool, bool) {
	v, ok := s.value(a)
	if !ok {
		return false, false
	}
	b, err := convert.Convert(v, cty.Bool)
	if err != nil || b.IsNull() {
		s.problem(a.Expr.Range(), a.Name, "%s is a %s; Nomad wants true or false", a.Name, v.Type().FriendlyName())
		return false, false
	}
	return b.True(), true
}

// duration reads a duration such as "30s", kept as the text written.
func (s *scope) duration(a *hclsyntax.Attribute) (string, bool) {
	v, ok := s.value(a)
	if !ok {
		return "", false
	}
	if v.Type() != cty.String {
		s.problem(a.Expr.Range(), a.Name, "%s is a %s; write the duration as a string such as \"30s\" or \"1h\"", a.Name, v.Type().FriendlyName())
		return "", false
	}
	text := v.AsString()
	if _, err := time.ParseDuration(text); err != nil {
		s.problem(a.Expr.Range(), a.Name, "%s %q is not a duration such as \"30s\" or \"1h\"", a.Name, text)
		return "", false
	}
	return text, true
}
