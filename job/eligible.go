package job

import (
	"fmt"
	"path"
	"strconv"
)

// Eligible reports whether a node may run the job, and if not, why. attrs
// holds the node's attributes keyed without "${}": "node.datacenter",
// "attr.unique.hostname", "meta.<key>", ..., and "driver.<name>" ("1" when
// the driver is enabled). It checks the job's datacenters (globs; none means
// any), that the task's driver is enabled, and every constraint.
func (j *Job) Eligible(attrs map[string]string) (ok bool, reason string) {
	if len(j.Datacenters) > 0 {
		dc := attrs["node.datacenter"]
		if !matchesAny(j.Datacenters, dc) {
			return false, fmt.Sprintf("datacenter %q is not in %q", dc, j.Datacenters)
		}
	}
	if enabled, _ := strconv.ParseBool(attrs["driver."+j.Task.Driver]); !enabled {
		return false, fmt.Sprintf("driver %s is not enabled", j.Task.Driver)
	}
	for i := range j.Constraints {
		c := &j.Constraints[i]
		if !c.met(attrs) {
			name, _ := attributeName(c.Attribute)
			if _, ok := attrs[name]; !ok {
				return false, fmt.Sprintf("constraint %s not met: the node has no %s", c, c.Attribute)
			}
			return false, fmt.Sprintf("constraint %s not met", c)
		}
	}
	return true, ""
}

// matchesAny reports whether s matches any of the globs.
func matchesAny(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}
