package job

import (
	"regexp"
	"slices"
	"strings"
)

// nodeAttributes are the attributes, besides meta.<key>, that constraints and
// task arguments may name, written as ${name}.
var nodeAttributes = []string{
	"attr.unique.hostname",
	"node.unique.name",
	"node.datacenter",
	"node.class",
	"attr.kernel.name",
	"attr.os.name",
	"attr.cpu.numcores",
	"attr.memory.totalbytes",
	"attr.jetcron.version",
}

// reference matches ${name}, as Nomad's argument interpolation does.
var reference = regexp.MustCompile(`\$\{([A-Za-z0-9_.\-]+)\}`)

// isNodeAttribute reports whether name, without ${}, is an attribute a job
// may name.
func isNodeAttribute(name string) bool {
	if key, ok := strings.CutPrefix(name, "meta."); ok {
		return key != ""
	}
	return slices.Contains(nodeAttributes, name)
}

// attributeHelp lists the attributes a job may name, for error messages.
func attributeHelp() string {
	names := make([]string, 0, len(nodeAttributes)+1)
	for _, a := range nodeAttributes {
		names = append(names, "${"+a+"}")
	}
	return strings.Join(append(names, "${meta.<key>}"), ", ")
}

// Interpolate replaces each ${attr.…}, ${node.…} and ${meta.…} reference in
// s with its value in attrs, which is keyed without "${}" (for example
// "attr.unique.hostname" or "meta.rack"). A reference that attrs lacks stays
// as it is. The result is plain data: nothing here involves a shell.
func Interpolate(s string, attrs map[string]string) string {
	return reference.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if !strings.HasPrefix(name, "attr.") && !strings.HasPrefix(name, "node.") && !strings.HasPrefix(name, "meta.") {
			return ref
		}
		if v, ok := attrs[name]; ok {
			return v
		}
		return ref
	})
}

// unknownReferences returns the ${...} references in s that name no
// attribute a job may use.
func unknownReferences(s string) []string {
	var unknown []string
	for _, m := range reference.FindAllStringSubmatch(s, -1) {
		if !isNodeAttribute(m[1]) {
			unknown = append(unknown, m[0])
		}
	}
	return unknown
}
