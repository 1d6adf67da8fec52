package job

import (
	"testing"
)

// node returns the attributes of a node in dc1 with raw_exec enabled,
// changed by kv pairs.
func node(kv ...string) map[string]string {
	attrs := map[string]string{
		"attr.unique.hostname":   "db1-mysql-backup",
		"node.unique.name":       "db1",
		"node.datacenter":        "dc1",
		"node.class":             "storage",
		"attr.kernel.name":       "linux",
		"attr.os.name":           "ubuntu",
		"attr.cpu.numcores":      "8",
		"attr.memory.totalbytes": "16000000000",
		"attr.jetcron.version":   "1.4.2",
		"meta.rack":              "r1",
		"meta.roles":             "db, backup,web",
		"driver.raw_exec":        "1",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<unset>" {
			delete(attrs, kv[i])
		} else {
			attrs[kv[i]] = kv[i+1]
		}
	}
	return attrs
}

func TestEligible(t *testing.T) {
	for _, tc := range []struct {
		name   string
		extra  string // appended to a minimal job file
		attrs  map[string]string
		ok     bool
		reason string
	}{
		{"no restrictions", "", node(), true, ""},
		{"datacenter listed", "datacenters: [dc2, dc1]\n", node(), true, ""},
		{"datacenter glob", "datacenters: [\"dc*\"]\n", node("node.datacenter", "dc7"), true, ""},
		{"datacenter not listed", "datacenters: [dc2, \"eu-*\"]\n", node(), false, `datacenter "dc1" is not in ["dc2" "eu-*"]`},
		{"driver disabled", "", node("driver.raw_exec", "0"), false, "driver raw_exec is not enabled"},
		{"driver missing", "", node("driver.raw_exec", "<unset>"), false, "driver raw_exec is not enabled"},
		{"regexp shorthand met", "constraints: [{attribute: \"${attr.unique.hostname}\", regexp: \".*mysql-backup\"}]\n", node(), true, ""},
		{"regexp shorthand not met", "constraints: [{attribute: \"${attr.unique.hostname}\", regexp: \".*mysql-backup\"}]\n",
			node("attr.unique.hostname", "web1"), false, `constraint ${attr.unique.hostname} regexp ".*mysql-backup" not met`},
		{"equal met", "constraints: [{attribute: \"${node.class}\", operator: \"=\", value: storage}]\n", node(), true, ""},
		{"double equal met", "constraints: [{attribute: \"${node.class}\", operator: \"==\", value: storage}]\n", node(), true, ""},
		{"equal not met", "constraints: [{attribute: \"${node.class}\", operator: \"=\", value: web}]\n", node(), false, `constraint ${node.class} = "web" not met`},
		{"equal on a missing attribute", "constraints: [{attribute: \"${meta.zone}\", operator: \"=\", value: a}]\n", node(), false,
			`constraint ${meta.zone} = "a" not met: the node has no ${meta.zone}`},
		{"not equal met", "constraints: [{attribute: \"${meta.rack}\", operator: \"!=\", value: r2}]\n", node(), true, ""},
		{"not equal on a missing attribute", "constraints: [{attribute: \"${meta.zone}\", operator: \"!=\", value: a}]\n", node(), true, ""},
		{"not equal not met", "constraints: [{attribute: \"${meta.rack}\", operator: \"!=\", value: r1}]\n", node(), false, `constraint ${meta.rack} != "r1" not met`},
		{"set contains met", "constraints: [{attribute: \"${meta.roles}\", operator: set_contains, value: \"web,db\"}]\n", node(), true, ""},
		{"set contains not met", "constraints: [{attribute: \"${meta.roles}\", operator: set_contains, value: \"db,cache\"}]\n", node(), false,
			`constraint ${meta.roles} set_contains "db,cache" not met`},
		{"version met", "constraints: [{attribute: \"${attr.jetcron.version}\", operator: version, value: \">= 1.2, < 2.0\"}]\n", node(), true, ""},
		{"version not met", "constraints: [{attribute: \"${attr.jetcron.version}\", operator: version, value: \">= 1.5\"}]\n", node(), false,
			`constraint ${attr.jetcron.version} version ">= 1.5" not met`},
		{"version of a non-version", "constraints: [{attribute: \"${attr.jetcron.version}\", operator: version, value: \">= 1\"}]\n",
			node("attr.jetcron.version", "dev"), false, `constraint ${attr.jetcron.version} version ">= 1" not met`},
		{"first failing constraint named", "constraints:\n  - {attribute: \"${attr.kernel.name}\", operator: \"=\", value: linux}\n  - {attribute: \"${attr.cpu.numcores}\", operator: regexp, value: \"^(16|32)$\"}\n",
			node(), false, `constraint ${attr.cpu.numcores} regexp "^(16|32)$" not met`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := parseOK(t, "j", minimal+tc.extra)
			ok, reason := j.Eligible(tc.attrs)
			if ok != tc.ok || reason != tc.reason {
				t.Errorf("got (%v, %q), want (%v, %q)", ok, reason, tc.ok, tc.reason)
			}
		})
	}
}

func TestEligibleOnAHandBuiltJob(t *testing.T) {
	j := &Job{
		Task:        Task{Driver: "raw_exec"},
		Constraints: []Constraint{{Attribute: "${node.class}", Operator: "regexp", Value: "^stor"}, {Attribute: "${attr.jetcron.version}", Operator: "version", Value: "~> 1.4"}},
	}
	if ok, reason := j.Eligible(node()); !ok {
		t.Errorf("not eligible: %s", reason)
	}
}

func TestInterpolate(t *testing.T) {
	attrs := node()
	for _, tc := range []struct{ in, want string }{
		{"--host ${attr.unique.hostname}", "--host db1-mysql-backup"},
		{"${node.unique.name}-${node.datacenter}/${node.class}", "db1-dc1/storage"},
		{"rack=${meta.rack}", "rack=r1"},
		{"${meta.nope} ${attr.nope} ${node.nope}", "${meta.nope} ${attr.nope} ${node.nope}"},
		{"${HOME} $HOME ${driver.raw_exec}", "${HOME} $HOME ${driver.raw_exec}"},
		{"$(rm -rf /); ${node.class}\n`id`", "$(rm -rf /); storage\n`id`"},
		{"${node.class", "${node.class"},
		{"", ""},
	} {
		if got := Interpolate(tc.in, attrs); got != tc.want {
			t.Errorf("Interpolate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A value is not interpolated again.
	if got := Interpolate("${meta.a}", map[string]string{"meta.a": "${meta.b}", "meta.b": "x"}); got != "${meta.b}" {
		t.Errorf("got %q, want the value as it is", got)
	}
}
