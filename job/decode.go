package job

import (
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// nodeDecoder is implemented by types that decode themselves from YAML
// with a different shape than their fields, such as Constraint.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// decoder decodes YAML nodes into Go values strictly: an unknown or
// repeated key is an error, and every error names its field and line.
type decoder struct {
	problems
}

// decode decodes n into v, the value of the field at path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = resolve(n)
	d.lines[path] = n.Line
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // as if absent: keep the default
	}
	if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
		nd.decodeNode(d, n, path)
		return
	}
	switch {
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct:
		d.decodeSlice(n, v, path)
	default:
		d.decodeLeaf(n, v, path)
	}
}

// decodeStruct decodes a mapping into the fields of a struct, by yaml tag.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.addAt(path, n.Line, "expected a mapping, got %s", describe(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.addAt(path, k.Line, "expected a field name, got %s", describe(k))
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if k.Tag == "!!merge" {
			d.addAt(p, k.Line, "YAML merge keys (<<) are not supported; write the fields out")
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.addAt(p, k.Line, "field %q repeats the one on line %d", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		index, ok := fields[k.Value]
		if !ok {
			d.addAt(p, k.Line, "%s", unknownField(k.Value, fields))
			continue
		}
		d.decode(val, v.Field(index), p)
		d.lines[p] = k.Line
	}
}

// decodeSlice decodes a sequence into a slice of structs.
func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.addAt(path, n.Line, "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// decodeLeaf decodes a value that has no fields of its own with yaml.v3,
// and records the lines of its items.
func (d *decoder) decodeLeaf(n *yaml.Node, v reflect.Value, path string) {
	if err := n.Decode(v.Addr().Interface()); err != nil {
		var typeErr *yaml.TypeError
		if errors.As(err, &typeErr) {
			d.typeError(n, v.Type(), path)
		} else {
			d.addAt(path, n.Line, "%v", err)
		}
		return
	}
	for p, item := range items(n, path) {
		d.lines[p] = item.Line
	}
}

// typeError records that n does not fit type t, naming the first item of
// a list or mapping that does not fit.
func (d *decoder) typeError(n *yaml.Node, t reflect.Type, path string) {
	if (t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode) || (t.Kind() == reflect.Map && n.Kind == yaml.MappingNode) {
		for p, item := range items(n, path) {
			if item = resolve(item); item.Kind != yaml.ScalarNode {
				d.addAt(p, item.Line, "expected %s, got %s", typeName(t.Elem()), describe(item))
				return
			}
		}
	}
	d.addAt(path, n.Line, "expected %s, got %s", typeName(t), describe(n))
}

// items yields the path and node of each item of a list, or of each value
// of a mapping.
func items(n *yaml.Node, path string) iter.Seq2[string, *yaml.Node] {
	return func(yield func(string, *yaml.Node) bool) {
		switch n.Kind {
		case yaml.SequenceNode:
			for i, item := range n.Content {
				if !yield(fmt.Sprintf("%s[%d]", path, i), item) {
					return
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if !yield(path+"."+n.Content[i].Value, n.Content[i+1]) {
					return
				}
			}
		}
	}
}

// yamlFields maps the yaml names of t's exported fields to their indexes.
func yamlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			fields[name] = i
		}
	}
	return fields
}

// unknownField describes an unknown key, suggesting a known one.
func unknownField(key string, fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	if s, ok := suggest(key, names); ok {
		return fmt.Sprintf("unknown field %q, did you mean %q?", key, s)
	}
	return fmt.Sprintf("unknown field %q; the fields here are %s", key, strings.Join(sorted(names), ", "))
}

// typeName describes a Go type the way a YAML author thinks of it.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "a whole number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(typeName(t.Elem()), "a ") + "s"
	case reflect.Map:
		return "a mapping of " + strings.TrimPrefix(typeName(t.Elem()), "a ") + "s"
	}
	return t.String()
}

// describe names a node in an error: a quoted scalar, "a list" or "a mapping".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an alias"
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
