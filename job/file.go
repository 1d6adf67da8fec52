package job

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// MaxFileSize is the largest job file Parse accepts, in bytes.
const MaxFileSize = 64 << 10

// maxExpandedNodes bounds the nodes a job file may expand to once YAML
// aliases are followed. A file of MaxFileSize without aliases has fewer.
const maxExpandedNodes = 1 << 17

// readYAML returns the top-level mapping of a job file, or nil after
// recording why there is none.
func readYAML(p *problems, data []byte) *yaml.Node {
	if len(data) > MaxFileSize {
		p.addAt("", 0, "job file is %d bytes; the limit is %d", len(data), MaxFileSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.addAt("", 0, "job file is empty")
		} else {
			addYAMLError(p, err)
		}
		return nil
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		switch {
		case errors.Is(err, io.EOF):
		case err != nil:
			addYAMLError(p, err)
			return nil
		case isEmptyDocument(&next):
			continue // a trailing "---"
		default:
			p.addAt("", next.Line, "job file holds more than one YAML document")
			return nil
		}
		break
	}
	size, cycle := expandedSize(&doc, maxExpandedNodes, make(map[*yaml.Node]int), make(map[*yaml.Node]bool))
	switch {
	case cycle != nil:
		p.addAt("", cycle.Line, "an alias refers to a node that contains it")
		return nil
	case size > maxExpandedNodes:
		p.addAt("", 0, "document contains excessive aliasing: it expands to more than %d nodes", maxExpandedNodes)
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.addAt("", root.Line, "expected a mapping of job fields, got %s", describe(root))
		return nil
	}
	return root
}

// isEmptyDocument reports whether doc holds nothing but null.
func isEmptyDocument(doc *yaml.Node) bool {
	return len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null"
}

// yamlError matches the line yaml.v3 gives in its syntax errors.
var yamlError = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlParserErrors are the messages of yaml.v3's parser, as opposed to its
// scanner. yaml.v3 numbers their lines from 0, and leaves out line 0.
var yamlParserErrors = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// addYAMLError records a yaml.v3 syntax error, with its line if known.
func addYAMLError(p *problems, err error) {
	m := yamlError.FindStringSubmatch(err.Error())
	if m == nil {
		p.addAt("", 0, "invalid YAML: %v", err)
		return
	}
	line, _ := strconv.Atoi(m[1])
	if yamlParserErrors[m[2]] {
		line++
	}
	p.addAt("", line, "invalid YAML: %s", m[2])
}

// expandedSize returns how many nodes n expands to once aliases are
// followed, counting up to limit+1. If an alias refers to a node that
// contains it, it returns that alias.
func expandedSize(n *yaml.Node, limit int, memo map[*yaml.Node]int, active map[*yaml.Node]bool) (int, *yaml.Node) {
	if size, ok := memo[n]; ok {
		return size, nil
	}
	if active[n] {
		return 0, n
	}
	active[n] = true
	defer delete(active, n)
	size := 1
	children := n.Content
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		children = []*yaml.Node{n.Alias}
	}
	for _, c := range children {
		s, cycle := expandedSize(c, limit, memo, active)
		if cycle != nil {
			if cycle.Kind != yaml.AliasNode {
				cycle = n
			}
			return 0, cycle
		}
		size = min(size+s, limit+1)
	}
	memo[n] = size
	return size, nil
}
