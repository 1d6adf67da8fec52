package job

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a dotted version number such as "1.2.3" or "v2.0.0-rc1+build5".
type version struct {
	segments []int64
	pre      string // pre-release, after "-"; build metadata is dropped
}

func parseVersion(s string) (version, error) {
	text := strings.TrimPrefix(strings.TrimSpace(s), "v")
	text, _, _ = strings.Cut(text, "+")
	num, pre, _ := strings.Cut(text, "-")
	var v version
	for _, part := range strings.Split(num, ".") {
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil || !isDigits(part) {
			return version{}, fmt.Errorf("%q is not a version like 1.2.3", s)
		}
		v.segments = append(v.segments, n)
	}
	v.pre = pre
	return v, nil
}

// compare returns -1, 0 or 1 as v is older than, equal to or newer than w.
// Missing segments count as 0, and a pre-release is older than its release.
func (v version) compare(w version) int {
	for i := range max(len(v.segments), len(w.segments)) {
		a, b := segment(v.segments, i), segment(w.segments, i)
		if a != b {
			return sign(a - b)
		}
	}
	switch {
	case v.pre == w.pre:
		return 0
	case v.pre == "":
		return 1
	case w.pre == "":
		return -1
	}
	return comparePre(v.pre, w.pre)
}

// comparePre compares pre-releases by their dot-separated parts: numbers by
// value and before words, words in byte order, a shorter list first.
func comparePre(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range min(len(pa), len(pb)) {
		na, errA := strconv.ParseInt(pa[i], 10, 64)
		nb, errB := strconv.ParseInt(pb[i], 10, 64)
		switch {
		case errA == nil && errB == nil && na != nb:
			return sign(na - nb)
		case errA == nil && errB != nil:
			return -1
		case errA != nil && errB == nil:
			return 1
		case pa[i] != pb[i]:
			return strings.Compare(pa[i], pb[i])
		}
	}
	return sign(int64(len(pa) - len(pb)))
}

func segment(s []int64, i int) int64 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func sign(n int64) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// versionCheck is one comparison of a version constraint, such as ">= 1.2".
type versionCheck struct {
	op string
	v  version
}

// versionConstraint is a comma-separated list of checks, all of which must
// hold, as in Nomad's "version" operator: ">= 1.2, < 2.0". Operators are
// =, !=, >, >=, <, <= and ~> (">= 1.2.3 and < 1.3"); none means =.
type versionConstraint []versionCheck

var versionOps = []string{">=", "<=", "!=", "~>", "=", ">", "<"}

func parseVersionConstraint(s string) (versionConstraint, error) {
	var c versionConstraint
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		op := "="
		for _, o := range versionOps {
			if rest, ok := strings.CutPrefix(part, o); ok {
				op, part = o, strings.TrimSpace(rest)
				break
			}
		}
		v, err := parseVersion(part)
		if err != nil {
			return nil, fmt.Errorf("version constraint %q: %w", s, err)
		}
		c = append(c, versionCheck{op: op, v: v})
	}
	return c, nil
}

// allows reports whether v meets every check.
func (c versionConstraint) allows(v version) bool {
	for _, check := range c {
		if !check.allows(v) {
			return false
		}
	}
	return true
}

func (c versionCheck) allows(v version) bool {
	cmp := v.compare(c.v)
	switch c.op {
	case "=":
		return cmp == 0
	case "!=":
		return cmp != 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	}
	// "~>": at least c.v, with the same segments as c.v but its last.
	if cmp < 0 {
		return false
	}
	for i := 0; i < len(c.v.segments)-1; i++ {
		if segment(v.segments, i) != c.v.segments[i] {
			return false
		}
	}
	return true
}
