package nomadjob

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// scope is one block of the Nomad file being read: the attributes and blocks
// its conversion uses are marked, so that refuseRest can name every one it did
// not.
type scope struct {
	c     *converter
	where string // how problems name the block, such as `task "redis"`
	body  *hclsyntax.Body
	used  map[string]bool
}

// scope starts reading body, a block that problems call where.
func (c *converter) scope(where string, body *hclsyntax.Body) *scope {
	return &scope{c: c, where: where, body: body, used: make(map[string]bool)}
}

// child starts reading a block nested in s, called after its type (and label).
func (s *scope) child(b *hclsyntax.Block) *scope {
	where := b.Type
	if len(b.Labels) > 0 {
		where += fmt.Sprintf(" %q", b.Labels[0])
	}
	if s.where != "" && len(b.Labels) == 0 {
		where = s.where + " " + where
	}
	return s.c.scope(where, b.Body)
}

// problem records a problem about name at rng.
func (s *scope) problem(rng hcl.Range, name, format string, args ...any) {
	s.c.problems = append(s.c.problems, Problem{
		File: s.c.file, Line: rng.Start.Line, Where: s.where, Name: name,
		Msg: fmt.Sprintf(format, args...),
	})
}

// attr returns the attribute called name, or nil, and marks it used.
func (s *scope) attr(name string) *hclsyntax.Attribute {
	s.used[name] = true
	return s.body.Attributes[name]
}

// blocks returns the blocks of type typ, and marks them used.
func (s *scope) blocks(typ string) []*hclsyntax.Block {
	s.used[typ] = true
	var out []*hclsyntax.Block
	for _, b := range s.body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// block returns the block of type typ, or nil. A second one is a problem.
func (s *scope) block(typ string) *hclsyntax.Block {
	bs := s.blocks(typ)
	if len(bs) == 0 {
		return nil
	}
	for _, extra := range bs[1:] {
		s.problem(extra.TypeRange, typ, "%s block repeats the one on line %d; Nomad takes one", typ, bs[0].TypeRange.Start.Line)
	}
	return bs[0]
}

// labelled checks that b has exactly one label, its name, and returns it.
func (s *scope) labelled(b *hclsyntax.Block) (string, bool) {
	if len(b.Labels) != 1 {
		s.problem(b.TypeRange, b.Type, "%s block needs one label, its name, as in %s \"name\" { ... }", b.Type, b.Type)
		return "", false
	}
	return b.Labels[0], true
}

// noLabels checks that b, a block such as periodic or constraint, has no label.
func (s *scope) noLabels(b *hclsyntax.Block) bool {
	if len(b.Labels) != 0 {
		s.problem(b.LabelRanges[0], b.Type, "%s block takes no label", b.Type)
		return false
	}
	return true
}

// item is an attribute or block of a body, for refuseRest.
type item struct {
	name  string
	block bool
	rng   hcl.Range
}

// refuseRest records a problem for each attribute and block of the body that
// the conversion did not use: each has no jetcron meaning, and is named.
func (s *scope) refuseRest() {
	var rest []item
	for name, a := range s.body.Attributes {
		if !s.used[name] {
			rest = append(rest, item{name, false, a.NameRange})
		}
	}
	for _, b := range s.body.Blocks {
		if !s.used[b.Type] {
			rest = append(rest, item{b.Type, true, b.TypeRange})
		}
	}
	slices.SortFunc(rest, func(a, b item) int { return cmp.Compare(a.rng.Start.Byte, b.rng.Start.Byte) })
	for _, it := range rest {
		s.problem(it.rng, it.name, "%s", refusal(it.name, it.block))
	}
}
