package harness

import (
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

// sysbatchFixture: sysbatch job "s" @every 1s acknowledged at t0, scenario ends at
// t0+5s; ticks 1-5 each launched on n1 and n2, and each node's run ran once there.
func sysbatchFixture(overlap bool) CheckInput {
	b := newBook()
	b.add("s", &Def{Spec: &JobSpec{Every: time.Second, Sysbatch: true, Overlap: overlap}, Sent: at(-0.1), Acked: at(0)})
	in := CheckInput{Book: b, Final: map[string]Observed{}, History: map[string][]Observed{}, Start: at(-1), End: at(5), Settled: at(8)}
	rev := uint64(10)
	for i := 1; i <= 5; i++ {
		tick := at(float64(i))
		nodes := []string{"n1", "n2"}
		rev++
		in.Final[subjects.RunKey("s", tick)] = Observed{Rev: rev, Run: subjects.Run{ID: subjects.RunID("s", tick), Job: "s",
			Scheduled: tick.Unix(), State: subjects.StateLaunched, Nodes: nodes}}
		for _, n := range nodes {
			id := n + "-" + string(rune('0'+i))
			r := subjects.Run{ID: subjects.NodeRunID("s", tick, n), Job: "s", Scheduled: tick.Unix(), Node: n, State: subjects.StateComplete,
				Allocations: []subjects.Allocation{{ID: id, Node: n, State: subjects.StateComplete, Finished: ptrT(tick.Add(300 * time.Millisecond))}}}
			rev++
			in.Final[subjects.NodeRunKey("s", tick, n)] = Observed{Rev: rev, Run: r}
			in.Execs = append(in.Execs, &Exec{Job: "s", Run: r.ID, Node: n, Alloc: id, Sched: tick.Unix(), PID: int(rev),
				Start: tick.Add(10 * time.Millisecond), End: tick.Add(200 * time.Millisecond)})
		}
	}
	return in
}

func TestCheckPassesASysbatchJobThatRanEachTickOnEachNode(t *testing.T) {
	for _, overlap := range []bool{false, true} {
		res := Check(sysbatchFixture(overlap))
		if len(res.Violations) > 0 {
			t.Fatalf("overlap %v: violations: %q", overlap, res.Violations)
		}
		if row := res.Rows[0]; row.Expected != 5 || row.Launched != 5 || row.Executions != 10 || row.Duplicates != 0 {
			t.Fatalf("row = %+v", row)
		}
	}
}

func TestCheckFindsALostSysbatchRunMovedToAnotherNode(t *testing.T) {
	in := sysbatchFixture(false)
	key := subjects.NodeRunKey("s", at(2), "n1")
	o := in.Final[key]
	o.Run.Allocations[0].State, o.Run.Allocations[0].Finished = subjects.StateLost, ptrT(at(2.1))
	o.Run.Allocations = append(o.Run.Allocations, subjects.Allocation{ID: "moved", Node: "n2", State: subjects.StateComplete})
	in.Final[key] = o
	in.Execs = append(in.Execs, &Exec{Job: "s", Run: o.Run.ID, Node: "n2", Alloc: "moved", Sched: at(2).Unix(), Start: at(3.2), End: at(3.4)})
	res := Check(in)
	wantViolation(t, res, "moved off its node n1")
	wantViolation(t, res, "executed on n2, not on its node n1")
}

func TestCheckFindsASysbatchTickMissingOnANode(t *testing.T) {
	in := sysbatchFixture(false)
	key := subjects.NodeRunKey("s", at(3), "n2")
	id := in.Final[key].Run.Allocations[0].ID
	delete(in.Final, key)
	for i, x := range in.Execs {
		if x.Alloc == id {
			in.Execs = append(in.Execs[:i], in.Execs[i+1:]...)
			break
		}
	}
	wantViolation(t, Check(in), "placed on n2, which has no run of it: a silent miss on that node")
}

func TestCheckFindsASysbatchRunOnANodeTheTickWasNotPlacedOn(t *testing.T) {
	in := sysbatchFixture(false)
	tick := at(4)
	r := subjects.Run{ID: subjects.NodeRunID("s", tick, "n3"), Job: "s", Scheduled: tick.Unix(), Node: "n3", State: subjects.StateComplete,
		Allocations: []subjects.Allocation{{ID: "late", Node: "n3", State: subjects.StateComplete}}}
	in.Final[subjects.NodeRunKey("s", tick, "n3")] = Observed{Rev: 99, Run: r}
	in.Execs = append(in.Execs, &Exec{Job: "s", Run: r.ID, Node: "n3", Alloc: "late", Sched: tick.Unix(), Start: at(4.1), End: at(4.2)})
	wantViolation(t, Check(in), "was not placed there")
}

func TestCheckFindsASysbatchTickExecutedTwiceOnANode(t *testing.T) {
	in := sysbatchFixture(false)
	x := *in.Execs[4]
	x.PID, x.Start = 999, x.Start.Add(50*time.Millisecond)
	in.Execs = append(in.Execs, &x)
	res := Check(in)
	wantViolation(t, res, "executed 2 times")
	if res.Rows[0].Duplicates == 0 {
		t.Fatal("duplicate not counted")
	}
}

func TestCheckFindsSysbatchTicksOverlappingUnderProhibitOverlapButNotOneTicksNodes(t *testing.T) {
	in := sysbatchFixture(true)
	for _, x := range in.Execs {
		if x.Sched == at(2).Unix() && x.Node == "n2" {
			x.End = at(3.5) // tick 2 still runs on n2 when tick 3 starts on n1 and n2
		}
	}
	wantViolation(t, Check(in), "prohibit_overlap")
}
