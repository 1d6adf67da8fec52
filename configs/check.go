package configs

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// origin is where a value came from: a config file and line, or nowhere
// (file "") for defaults and flags.
type origin struct {
	file string
	line int
}

// checker holds one file's YAML tree up against the Config type: it reports
// unknown and duplicate keys and values of the wrong type, and records where
// each value it sees came from.
type checker struct {
	file    string
	origins map[string]origin
	errs    []error
}

var (
	configType      = reflect.TypeFor[Config]()
	durationType    = reflect.TypeFor[Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// check checks the file's root mapping against Config, recording the origin
// of each value in origins, and returns the problems found.
func check(file string, root *yaml.Node, origins map[string]origin) []error {
	c := &checker{file: file, origins: origins}
	c.value(root, configType, "")
	return c.errs
}

// value checks the node n, at the dotted path, against the Go type t.
func (c *checker) value(n *yaml.Node, t reflect.Type, path string) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if path != "" {
		c.origins[path] = origin{c.file, c.line(n)}
	}
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		c.scalar(n, t, path)
	case t.Kind() == reflect.Struct:
		c.fields(n, t, path)
	case t.Kind() == reflect.Map:
		c.entries(n, t, path)
	case t.Kind() == reflect.Slice:
		c.items(n, t, path)
	default:
		c.scalar(n, t, path)
	}
}

// scalar checks that n decodes as a t. yaml.v3 truncates floats into ints,
// so a number field also demands an integer tag.
func (c *checker) scalar(n *yaml.Node, t reflect.Type, path string) {
	ok := n.Kind == yaml.ScalarNode && n.Decode(reflect.New(t).Interface()) == nil
	if ok && t.Kind() == reflect.Int {
		ok = n.ShortTag() == "!!int"
	}
	if !ok {
		c.mismatch(n, t, path)
	}
}

// fields checks a mapping against the yaml-tagged fields of the struct t.
func (c *checker) fields(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		c.mismatch(n, t, path)
		return
	}
	types := make(map[string]reflect.Type, t.NumField())
	names := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		types[name] = f.Type
		names = append(names, name)
	}
	c.pairs(n, path, func(k, v *yaml.Node) {
		ft, ok := types[k.Value]
		if !ok {
			c.fail(k, path, "unknown field %q%s", k.Value, didYouMean(k.Value, names))
			return
		}
		c.value(v, ft, joinPath(path, k.Value))
	})
}

// entries checks a mapping of free-form keys, such as client.meta.
func (c *checker) entries(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		c.mismatch(n, t, path)
		return
	}
	c.pairs(n, path, func(k, v *yaml.Node) {
		c.value(v, t.Elem(), fmt.Sprintf("%s[%q]", path, k.Value))
	})
}

// items checks each item of a list.
func (c *checker) items(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.SequenceNode {
		c.mismatch(n, t, path)
		return
	}
	for i, item := range n.Content {
		c.value(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
	}
}

// pairs calls fn with each key and value of the mapping n, after reporting
// keys that are not scalars or that repeat an earlier key.
func (c *checker) pairs(n *yaml.Node, path string, fn func(k, v *yaml.Node)) {
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			c.fail(k, path, "cannot use %s as a key", show(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.fail(k, path, "duplicate field %q, first on line %d", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		fn(k, v)
	}
}

// mismatch reports that n cannot be used as a t.
func (c *checker) mismatch(n *yaml.Node, t reflect.Type, path string) {
	c.fail(n, path, "cannot use %s as %s", show(n), describe(t))
}

// fail records a problem at the node n.
func (c *checker) fail(n *yaml.Node, path, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{File: c.file, Line: c.line(n), Field: path, Err: fmt.Errorf(format, args...)})
}

// line is the line of n in the file; 0 for flags, which have no file.
func (c *checker) line(n *yaml.Node) int {
	if c.file == "" {
		return 0
	}
	return n.Line
}

// describe names what a value of type t looks like in YAML.
func describe(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration like "2s"`
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	default:
		return "a mapping"
	}
}

// show names a node the way an error message quotes it.
func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

// resolve follows YAML aliases (*name) to the anchored node.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a key's missing value: empty, null or ~.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// didYouMean returns `, did you mean "x"?` for the known name closest to
// key, or "" when none is close. Names are compared ignoring case, "_", "-"
// and ".", so "data-dir" and "DataDir" find "data_dir".
func didYouMean(key string, names []string) string {
	k := fold(key)
	best, bestDist := "", -1
	for _, name := range names {
		n := fold(name)
		d := editDistance(k, n)
		if d == 0 || d <= 2 && 2*d < len([]rune(n)) {
			if bestDist < 0 || d < bestDist {
				best, bestDist = name, d
			}
		}
	}
	if bestDist < 0 {
		return ""
	}
	return fmt.Sprintf(", did you mean %q?", best)
}

// fold lower-cases s and drops the separators people mix up.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == '.' {
			return -1
		}
		return r
	}, strings.ToLower(s))
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours cost 1 each.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}
