package placement

import (
	"testing"
	"time"

	"github.com/jetcron/jetcron/job"
)

const jobFile = `datacenters: [dc1]
periodic: {cron: "@every 1m"}
constraints:
  - attribute: "${attr.kernel.name}"
    operator: "="
    value: linux
task: {driver: raw_exec, config: {command: /bin/true}}
`

func node(name string, alive, drain bool, load int, kernel string) Node {
	return Node{Name: name, ID: name + "-id", Alive: alive, Drain: drain, Load: load,
		Attrs: map[string]string{"node.datacenter": "dc1", "driver.raw_exec": "1", "attr.kernel.name": kernel}}
}

func TestEligibleKeepsReadyMatchingUndrainedNodesAndSaysWhyWhenNone(t *testing.T) {
	j, err := job.Parse("backup", []byte(jobFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []struct {
		name  string
		nodes []Node
		want  []string
		why   string
	}{
		{"no node at all", nil, nil, "no node is registered"},
		{"every node down", []Node{node("a", false, false, 0, "linux")}, nil, "no node is ready"},
		{"a constraint keeps the node out", []Node{node("a", true, false, 0, "darwin")}, nil, `node a: constraint ${attr.kernel.name} = "linux" not met`},
		{"draining", []Node{node("a", true, true, 0, "linux")}, nil, "every eligible node is draining"},
		{"stopping", []Node{{Name: "a", Alive: true, Stopping: true, Attrs: node("a", true, false, 0, "linux").Attrs}}, nil, "node a is stopping"},
		{"draining, before a node a constraint keeps out", []Node{node("drain", true, true, 0, "linux"), node("mac", true, false, 0, "darwin")}, nil, "every eligible node is draining"},
		{"draining, after a node a constraint keeps out", []Node{node("mac", true, false, 0, "darwin"), node("drain", true, true, 0, "linux")}, nil, "every eligible node is draining"},
		{"a draining node a constraint keeps out anyway", []Node{node("mac", true, true, 0, "darwin")}, nil, `node mac: constraint ${attr.kernel.name} = "linux" not met`},
		{"one draining, one stopping", []Node{node("drain", true, true, 0, "linux"), {Name: "b", Alive: true, Stopping: true, Attrs: node("b", true, false, 0, "linux").Attrs}}, nil, "every eligible node is draining or stopping"},
		{"down, draining, wrong kernel and one fit", []Node{
			node("down", false, false, 0, "linux"), node("drain", true, true, 0, "linux"),
			node("mac", true, false, 0, "darwin"), node("fit", true, false, 0, "linux"),
		}, []string{"fit"}, ""},
	} {
		t.Run(row.name, func(t *testing.T) {
			got, why := Eligible(j, row.nodes)
			var names []string
			for _, n := range got {
				names = append(names, n.Name)
			}
			if len(names) != len(row.want) || (len(names) > 0 && names[0] != row.want[0]) {
				t.Fatalf("eligible %v, want %v", names, row.want)
			}
			if len(row.want) == 0 && why != row.why {
				t.Fatalf("why %q, want %q", why, row.why)
			}
		})
	}
}

func TestPickTakesTheLeastLoadedAndSpreadsEqualsByJobAndTick(t *testing.T) {
	nodes := []Node{node("x", true, false, 2, "linux"), node("y", true, false, 0, "linux"), node("z", true, false, 1, "linux")}
	eligible := []*Node{&nodes[0], &nodes[1], &nodes[2]}
	tick := time.Unix(1800000000, 0)
	if n := Pick(eligible, nil, "backup", tick); n.Name != "y" {
		t.Fatalf("picked %s, want the least loaded y", n.Name)
	}
	if n := Pick(eligible, map[string]int{"y": 2}, "backup", tick); n.Name != "z" {
		t.Fatalf("picked %s with 2 launches decided on y, want z", n.Name)
	}
	equal := []Node{node("x", true, false, 0, "linux"), node("y", true, false, 0, "linux"), node("z", true, false, 0, "linux")}
	count := map[string]int{}
	for i := range 300 {
		at := tick.Add(time.Duration(i) * time.Minute)
		n := Pick([]*Node{&equal[0], &equal[1], &equal[2]}, nil, "backup", at)
		if again := Pick([]*Node{&equal[0], &equal[1], &equal[2]}, nil, "backup", at); again != n {
			t.Fatalf("tick %d: picked %s, then %s", i, n.Name, again.Name)
		}
		count[n.Name]++
	}
	for _, name := range []string{"x", "y", "z"} {
		if count[name] < 50 {
			t.Fatalf("over 300 ticks of equal nodes %s was picked %d times: %v", name, count[name], count)
		}
	}
}
