package ticker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/placement"
)

// at is a time this many seconds after the tests' origin (start).
func at(sec float64) time.Time { return start.Add(time.Duration(sec * float64(time.Second))) }

// ver is a version of the job in a decide row: stored at a second, with a cron (or
// several, crons) and extra periodic lines; kind "" is a valid file, "sysbatch" a
// valid file of type sysbatch, "delete" a deletion, "invalid" an invalid file.
type ver struct {
	at    float64
	cron  string
	crons []string
	extra string
	kind  string
}

// yaml is the job file of a valid version: periodic.crons in place of
// periodic.cron when the version has several.
func (v ver) yaml() string {
	y := jobYAML(v.cron, v.extra)
	if len(v.crons) > 0 {
		quoted := make([]string, len(v.crons))
		for i, c := range v.crons {
			quoted[i] = fmt.Sprintf("%q", c)
		}
		y = strings.Replace(y, fmt.Sprintf("cron: %q", v.cron), "crons: ["+strings.Join(quoted, ", ")+"]", 1)
	}
	if v.kind == "sysbatch" {
		y = strings.Replace(y, "type: batch", "type: sysbatch", 1)
	}
	return y
}

// run is an active run in a decide row: of a tick, confirmed at a second (-1: only
// seen on a watch), on node (a sysbatch run; "" for a batch run).
type run struct {
	tick, confirmed float64
	node            string
}

// decideRow is one rule of decide, as a sentence and its facts.
type decideRow struct {
	name             string
	versions         []ver
	settled          float64
	written, writing []float64
	active           []run
	nodes            []placement.Node // default: node "a", ready and eligible
	horizon, now     float64          // now defaults to horizon
	// want is every action, in tick order: "<sec> launch <node>" ("<sec> launch
	// <node>,<node>..." for a sysbatch launch), "<sec> wait <why>", "<sec> skip <part
	// of the reason>", "<sec> confirm".
	want        []string
	wantSettled float64
	wantWake    float64 // -1: never
	wantSummary int
	// wantN, when set, is how many actions there are: want then has the first and
	// the last ones only.
	wantN int
}

var decideRows = []decideRow{
	{
		name:     "each tick of the version due is launched, and the job wakes at its next tick",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		horizon:  6.5, want: []string{"2 launch a", "4 launch a", "6 launch a"}, wantSettled: 1.999999999, wantWake: 8,
	},
	{
		name:     "a tick belongs to the newest version stored before it",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 5, cron: "@every 3s"}},
		horizon:  10, want: []string{"2 launch a", "4 launch a", "6 launch a", "9 launch a"}, wantSettled: 1.999999999, wantWake: 12,
	},
	{
		name:     "a tick at the very instant a version is stored is still the previous version's",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 4, cron: "@every 3s"}},
		horizon:  7, want: []string{"2 launch a", "4 launch a", "6 launch a"}, wantSettled: 1.999999999, wantWake: 9,
	},
	{
		name:     "a deletion owns no ticks, and the job made again owns those after it",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 5, kind: "delete"}, {at: 9, cron: "@every 2s"}},
		horizon:  12, want: []string{"2 launch a", "4 launch a", "10 launch a", "12 launch a"}, wantSettled: 1.999999999, wantWake: 14,
	},
	{
		name:     "an invalid version leaves the valid one before it running",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 3, kind: "invalid"}},
		horizon:  6, want: []string{"2 launch a", "4 launch a", "6 launch a"}, wantSettled: 1.999999999, wantWake: 8,
	},
	{
		name:     "a job made again invalid after its deletion runs nothing, and its old ticks are skipped",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 5, kind: "delete"}, {at: 7, kind: "invalid"}},
		settled:  2, written: []float64{2},
		horizon: 10, want: []string{"4 skip job removed"}, wantSettled: 3.999999999, wantWake: -1,
	},
	{
		name:     "ticks a deleted job had due without a record are skipped as removed",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 7, kind: "delete"}},
		horizon:  10, want: []string{"2 skip job removed", "4 skip job removed", "6 skip job removed"}, wantSettled: 1.999999999, wantWake: -1,
	},
	{
		name:     "a tick with a record or a write under way is left alone",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		written:  []float64{2, 6}, writing: []float64{4},
		horizon: 8, want: []string{"8 launch a"}, wantSettled: 3.999999999, wantWake: 10,
	},
	{
		name:     "the settled mark reaches the horizon when every owned tick has a record",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 5, kind: "delete"}},
		written:  []float64{2, 4},
		horizon:  9.5, wantSettled: 9.5, wantWake: -1,
	},
	{
		name:     "ticks only after the settled mark are decided",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		settled:  6, horizon: 8, want: []string{"8 launch a"}, wantSettled: 7.999999999, wantWake: 10,
	},
	{
		name:     "a version stored before the settled mark owns only the ticks after it",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 3, cron: "@every 1s"}},
		settled:  6, horizon: 8, want: []string{"7 launch a", "8 launch a"}, wantSettled: 6.999999999, wantWake: 9,
	},
	{
		name:     "ticks after the horizon wait, whatever the time",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		settled:  2, written: []float64{2}, horizon: 3, now: 9, wantSettled: 3, wantWake: 4,
	},
	{
		name:     "a tick older than its version's catch-up window is skipped",
		versions: []ver{{at: 0, cron: "@every 1m", extra: "  catchup_window: 2m"}},
		horizon:  300, want: []string{"60 skip outside the catch-up window of 2m0s", "120 skip outside the catch-up window", "180 launch a", "240 launch a", "300 launch a"},
		wantSettled: 59.999999999, wantWake: 360,
	},
	{
		name:     "beyond maxSkipRecords old ticks, the oldest are only summed up",
		versions: []ver{{at: 0, cron: "@every 1s", extra: "  catchup_window: 1s"}},
		horizon:  1003, wantN: 1002, want: []string{"2 skip outside the catch-up window", "1001 skip outside the catch-up window", "1002 launch a", "1003 launch a"},
		wantSettled: 1.999999999, wantWake: 1004, wantSummary: 1,
	},
	{
		name:     "catchup latest launches only the newest tick due",
		versions: []ver{{at: 0, cron: "@every 1m", extra: "  catchup: latest"}},
		horizon:  185, want: []string{"60 skip catchup: latest", "120 skip catchup: latest", "180 launch a"}, wantSettled: 59.999999999, wantWake: 240,
	},
	{
		name:     "catchup latest skips an older tick whose record failed, though the newest has one",
		versions: []ver{{at: 0, cron: "@every 1m", extra: "  catchup: latest"}},
		settled:  59, written: []float64{180}, horizon: 185, want: []string{"60 skip catchup: latest", "120 skip catchup: latest"}, wantSettled: 59.999999999, wantWake: 240,
	},
	{
		name:     "prohibit_overlap skips a tick while a run confirmed active since it is running",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "  prohibit_overlap: true"}},
		settled:  2, written: []float64{2}, active: []run{{tick: 2, confirmed: 4.1}},
		horizon: 4.5, want: []string{"4 skip prohibit_overlap: j/periodic-1772409602 is still running"}, wantSettled: 3.999999999, wantWake: 6,
	},
	{
		name:     "prohibit_overlap reads again an active run not confirmed since the tick",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "  prohibit_overlap: true"}},
		settled:  2, written: []float64{2}, active: []run{{tick: 2, confirmed: 2.5}},
		horizon: 6.5, want: []string{"4 confirm"}, wantSettled: 3.999999999, wantWake: 8,
	},
	{
		name:     "prohibit_overlap skips the ticks after one this decision launches",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "  prohibit_overlap: true"}},
		horizon:  6, want: []string{"2 launch a", "4 skip prohibit_overlap: the run of", "6 skip prohibit_overlap"}, wantSettled: 1.999999999, wantWake: 8,
	},
	{
		name:     "without prohibit_overlap, active runs block nothing",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		settled:  2, written: []float64{2}, active: []run{{tick: 2, confirmed: -1}},
		horizon: 4, want: []string{"4 launch a"}, wantSettled: 3.999999999, wantWake: 6,
	},
	{
		name:     "a launch goes to the eligible ready node with the fewest allocations",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		nodes: []placement.Node{
			node("busy", true, false, 3), node("down", false, false, 0), node("draining", true, true, 0), node("free", true, false, 1),
		},
		horizon: 2, want: []string{"2 launch free"}, wantSettled: 1.999999999, wantWake: 4,
	},
	{
		name:     "the least loaded node wins wherever the rotation starts",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		nodes: []placement.Node{
			node("b1", true, false, 3), node("b2", true, false, 3), node("b3", true, false, 3), node("b4", true, false, 3), node("free", true, false, 0),
		},
		horizon: 4, want: []string{"2 launch free", "4 launch free"}, wantSettled: 1.999999999, wantWake: 6,
	},
	{
		name:     "launches of one decision spread over equally loaded nodes",
		versions: []ver{{at: 0, cron: "@every 1s"}},
		nodes:    []placement.Node{node("x", true, false, 0), node("y", true, false, 0)},
		horizon:  2, want: []string{"1 launch ?", "2 launch ?"}, wantSettled: 0.999999999, wantWake: 3,
	},
	{
		name:     "with no eligible node a launch is queued on none, saying why",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		nodes:    []placement.Node{node("draining", true, true, 0)},
		horizon:  2, want: []string{"2 wait no eligible node: every eligible node is draining"}, wantSettled: 1.999999999, wantWake: 4,
	},
	{
		name:     "a node whose runner is stopping takes no launch",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		nodes:    []placement.Node{stopping("old"), node("new", true, false, 5)},
		horizon:  2, want: []string{"2 launch new"}, wantSettled: 1.999999999, wantWake: 4,
	},
	{
		name:     "with every node down a launch is queued on none",
		versions: []ver{{at: 0, cron: "@every 2s"}},
		nodes:    []placement.Node{node("down", false, false, 0)},
		horizon:  2, want: []string{"2 wait no eligible node: no node is ready"}, wantSettled: 1.999999999, wantWake: 4,
	},
	{
		name:     "a tick of a paused version is skipped with its note",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "paused: true\npause_note: db migration"}},
		horizon:  4, want: []string{"2 skip paused: db migration", "4 skip paused: db migration"}, wantSettled: 1.999999999, wantWake: 6,
	},
	{
		name:     "a pause without a note says paused",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "paused: true"}},
		horizon:  2, want: []string{"2 skip paused"}, wantSettled: 1.999999999, wantWake: 4,
	},
	{
		name:     "resuming launches nothing from the paused span, only the ticks after it",
		versions: []ver{{at: 0, cron: "@every 2s"}, {at: 3, cron: "@every 2s", extra: "paused: true"}, {at: 7, cron: "@every 2s"}},
		horizon:  10, want: []string{"2 launch a", "4 skip paused", "6 skip paused", "8 launch a", "10 launch a"}, wantSettled: 1.999999999, wantWake: 12,
	},
	{
		name:     "a paused tick older than the catch-up window is skipped as such",
		versions: []ver{{at: 0, cron: "@every 1m", extra: "  catchup_window: 1m\npaused: true"}},
		horizon:  180, want: []string{"60 skip outside the catch-up window", "120 skip paused", "180 skip paused"}, wantSettled: 59.999999999, wantWake: 240,
	},
	{
		name:     "several crons launch the union of their ticks, a tick where two meet once",
		versions: []ver{{at: 0, crons: []string{"@every 2s", "@every 3s"}}},
		horizon:  12, want: []string{"2 launch a", "3 launch a", "4 launch a", "6 launch a", "8 launch a", "9 launch a", "10 launch a", "12 launch a"},
		wantSettled: 1.999999999, wantWake: 14,
	},
	{
		name:     "several crons that never meet launch each one's ticks, in time order",
		versions: []ver{{at: 0, crons: []string{"45 * * * * * *", "15 * * * * * *"}}},
		horizon:  120, want: []string{"15 launch a", "45 launch a", "75 launch a", "105 launch a"}, wantSettled: 14.999999999, wantWake: 135,
	},
	{
		name:     "a tick where two crons meet is skipped once, not once per cron",
		versions: []ver{{at: 0, crons: []string{"@every 2s", "@every 3s"}, extra: "  prohibit_overlap: true"}},
		settled:  5, written: []float64{4}, active: []run{{tick: 4, confirmed: 6.1}},
		horizon: 6.5, want: []string{"6 skip prohibit_overlap"}, wantSettled: 5.999999999, wantWake: 8,
	},
	{
		name:     "a version stored after the horizon wakes the job at its first tick",
		versions: []ver{{at: 0, cron: "@every 10s"}, {at: 4, cron: "@every 3s"}},
		settled:  2, horizon: 3, wantSettled: 3, wantWake: 6,
	},
}

// sysbatchRows are the rows of decide's sysbatch rule.
var sysbatchRows = []decideRow{
	{
		name:     "a sysbatch tick launches on every eligible node; down, draining and stopping ones are left out",
		versions: []ver{{at: 0, cron: "@every 2s", kind: "sysbatch"}},
		nodes: []placement.Node{
			node("a", true, false, 0), node("busy", true, false, 7), node("down", false, false, 0), node("draining", true, true, 0), stopping("old"),
		},
		horizon: 4, want: []string{"2 launch a,busy", "4 launch a,busy"}, wantSettled: 1.999999999, wantWake: 6,
	},
	{
		name:     "a sysbatch tick is placed on the nodes of the view it is decided on, one run each",
		versions: []ver{{at: 0, cron: "@every 2s", kind: "sysbatch"}},
		nodes:    []placement.Node{node("x", true, false, 0), node("y", true, false, 0), node("z", true, false, 0)},
		horizon:  2, want: []string{"2 launch x,y,z"}, wantSettled: 1.999999999, wantWake: 4,
	},
	{
		name:     "a sysbatch tick with no eligible node is skipped, saying why, and waits for none",
		versions: []ver{{at: 0, cron: "@every 2s", kind: "sysbatch"}},
		nodes:    []placement.Node{node("draining", true, true, 0), node("down", false, false, 0)},
		horizon:  4, want: []string{"2 skip no eligible node: every eligible node is draining", "4 skip no eligible node"}, wantSettled: 1.999999999, wantWake: 6,
	},
	{
		name:     "a sysbatch tick with no node at all is skipped as such",
		versions: []ver{{at: 0, cron: "@every 2s", kind: "sysbatch"}},
		nodes:    []placement.Node{},
		horizon:  2, want: []string{"2 skip no eligible node: no node is registered"}, wantSettled: 1.999999999, wantWake: 4,
	},
	{
		name:     "prohibit_overlap skips a sysbatch tick while a node's run of the previous tick is active, naming it",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "  prohibit_overlap: true", kind: "sysbatch"}},
		settled:  2, written: []float64{2}, active: []run{{tick: 2, confirmed: 4.1, node: "b"}},
		nodes:   []placement.Node{node("a", true, false, 0), node("b", true, false, 1)},
		horizon: 4.5, want: []string{"4 skip prohibit_overlap: j/periodic-1772409602/b (on node b) is still running"}, wantSettled: 3.999999999, wantWake: 6,
	},
	{
		name:     "prohibit_overlap reads a sysbatch node run again when only the watch saw it active",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "  prohibit_overlap: true", kind: "sysbatch"}},
		settled:  2, written: []float64{2}, active: []run{{tick: 2, confirmed: -1, node: "b"}},
		horizon: 4.5, want: []string{"4 confirm"}, wantSettled: 3.999999999, wantWake: 6,
	},
	{
		name:     "prohibit_overlap skips the sysbatch ticks after one this decision launches",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "  prohibit_overlap: true", kind: "sysbatch"}},
		horizon:  4, want: []string{"2 launch a", "4 skip prohibit_overlap: the run of"}, wantSettled: 1.999999999, wantWake: 6,
	},
	{
		name:     "a sysbatch tick with a record or a write under way is left alone",
		versions: []ver{{at: 0, cron: "@every 2s", kind: "sysbatch"}},
		written:  []float64{2}, writing: []float64{4},
		horizon: 6, want: []string{"6 launch a"}, wantSettled: 3.999999999, wantWake: 8,
	},
	{
		name:     "a paused sysbatch version skips its ticks with its note, on no node",
		versions: []ver{{at: 0, cron: "@every 2s", extra: "paused: true", kind: "sysbatch"}},
		horizon:  2, want: []string{"2 skip paused"}, wantSettled: 1.999999999, wantWake: 4,
	},
	{
		name:     "a sysbatch tick older than the catch-up window is skipped as such",
		versions: []ver{{at: 0, cron: "@every 1m", extra: "  catchup_window: 1m", kind: "sysbatch"}},
		horizon:  180, want: []string{"60 skip outside the catch-up window", "120 launch a", "180 launch a"}, wantSettled: 59.999999999, wantWake: 240,
	},
}

func node(name string, alive, drain bool, load int) placement.Node {
	return placement.Node{Name: name, ID: name + "-id", Alive: alive, Drain: drain, Load: load,
		Attrs: map[string]string{"node.datacenter": "dc1", "driver.raw_exec": "1", "attr.kernel.name": "linux"}}
}

func stopping(name string) placement.Node {
	n := node(name, true, false, 0)
	n.Stopping = true
	return n
}

// TestDecide proves each rule of decide's doc comment with a row.
func TestDecide(t *testing.T) {
	var p planner
	for _, row := range append(decideRows, sysbatchRows...) {
		t.Run(row.name, func(t *testing.T) {
			f := jobFacts{key: "j", settled: at(row.settled)}
			if row.settled == 0 {
				f.settled = time.Time{}
			}
			for i, v := range row.versions {
				version := version{rev: uint64(i + 1), stored: at(v.at)}
				switch v.kind {
				case "", "sysbatch":
					version.plan = mustPlan(t, &p, "j", v.yaml())
				case "invalid":
					version.invalid = true
				}
				f.versions = append(f.versions, version)
			}
			f.records = map[int64]recordState{}
			for _, s := range row.written {
				f.records[at(s).Unix()] = recordWritten
			}
			for _, s := range row.writing {
				f.records[at(s).Unix()] = recordWriting
			}
			var active []activeRun
			for _, r := range row.active {
				a := activeRun{id: fmt.Sprintf("j/periodic-%d", at(r.tick).Unix()), key: fmt.Sprintf("j.%d", at(r.tick).Unix())}
				if r.node != "" {
					a.id, a.key, a.node = a.id+"/"+r.node, a.key+"."+r.node, r.node
				}
				if r.confirmed >= 0 {
					a.confirmed = at(r.confirmed)
				}
				active = append(active, a)
			}
			nodes := row.nodes
			if nodes == nil {
				nodes = []placement.Node{node("a", true, false, 0)}
			}
			now := row.now
			if now == 0 {
				now = row.horizon
			}
			d := decide(&f, active, nodes, at(row.horizon), at(now))
			var got []string
			for _, a := range d.actions {
				sec := a.tick.Sub(start) / time.Second
				switch a.kind {
				case actLaunch:
					switch {
					case len(a.nodes) > 0:
						var names []string
						for _, n := range a.nodes {
							names = append(names, n.Name)
						}
						got = append(got, fmt.Sprintf("%d launch %s", sec, strings.Join(names, ",")))
					case a.node == nil:
						got = append(got, fmt.Sprintf("%d wait %s", sec, a.reason))
					case len(nodes) == 2 && nodes[0].Load == 0 && nodes[1].Load == 0:
						got = append(got, fmt.Sprintf("%d launch ?", sec))
					default:
						got = append(got, fmt.Sprintf("%d launch %s", sec, a.node.Name))
					}
				case actSkip:
					got = append(got, fmt.Sprintf("%d skip %s", sec, a.reason))
				case actConfirm:
					got = append(got, fmt.Sprintf("%d confirm", sec))
				}
			}
			if row.wantN > 0 {
				if len(got) != row.wantN {
					t.Fatalf("%d actions, want %d", len(got), row.wantN)
				}
				got = append(got[:1], got[len(got)-len(row.want)+1:]...)
			}
			if len(got) != len(row.want) {
				t.Fatalf("actions %q, want %q", got[:min(len(got), 10)], row.want)
			}
			for i := range got {
				g, w := strings.SplitN(got[i], " ", 3), strings.SplitN(row.want[i], " ", 3)
				if g[0] != w[0] || g[1] != w[1] || len(w) == 3 && (len(g) < 3 || !strings.Contains(g[2], w[2])) {
					t.Fatalf("action %d is %q, want %q (all: %q)", i, got[i], row.want[i], got)
				}
			}
			if want := at(row.wantSettled); !d.settled.Equal(want) {
				t.Fatalf("settled at %v, want %v", d.settled.Sub(start), want.Sub(start))
			}
			wantWake := time.Time{}
			if row.wantWake >= 0 {
				wantWake = at(row.wantWake)
			}
			if !d.wake.Equal(wantWake) {
				t.Fatalf("wakes at %v, want %v", d.wake.Sub(start), wantWake.Sub(start))
			}
			if d.summary != row.wantSummary {
				t.Fatalf("%d ticks summed up, want %d", d.summary, row.wantSummary)
			}
		})
	}
}

// TestLaunchesSpreadOverEquallyLoadedNodes proves placement's rotation: over many
// ticks, each of three idle nodes gets about a third of the launches, the same on
// every ticker.
func TestLaunchesSpreadOverEquallyLoadedNodes(t *testing.T) {
	var p planner
	plan := mustPlan(t, &p, "j", jobYAML("@every 1s", ""))
	nodes := []placement.Node{node("x", true, false, 0), node("y", true, false, 0), node("z", true, false, 0)}
	count := map[string]int{}
	for i := range 3000 {
		n, _ := place(plan, nodes, nil, "j", at(float64(i)))
		again, _ := place(plan, nodes, nil, "j", at(float64(i)))
		if n != again {
			t.Fatalf("tick %d placed on %s, then on %s", i, n.Name, again.Name)
		}
		count[n.Name]++
	}
	for _, name := range []string{"x", "y", "z"} {
		if c := count[name]; c < 800 || c > 1200 {
			t.Fatalf("launches per node %v: want about 1000 each", count)
		}
	}
}
