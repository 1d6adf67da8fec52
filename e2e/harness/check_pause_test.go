package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/jetcron/jetcron/subjects"
)

const testNote = "db migration"

// pauseFixture: job "j" @every 1s acknowledged at t0, paused (sent 2.4, acked 2.5),
// resumed (sent 7.2, acked 7.3), the scenario ends at 10. Ticks 3-6 belong to the
// pause and are skipped for it; tick 7 is on the resume's edge and launched; ticks
// 1-2 and 7-10 ran once and completed.
func pauseFixture() CheckInput {
	b := newBook()
	b.add("j", &Def{Spec: &JobSpec{Every: time.Second}, Sent: at(-0.1), Acked: at(0)})
	b.add("j", &Def{Spec: &JobSpec{Every: time.Second, Paused: true, PauseNote: testNote}, Sent: at(2.4), Acked: at(2.5)})
	b.add("j", &Def{Spec: &JobSpec{Every: time.Second}, Sent: at(7.2), Acked: at(7.3)})
	in := CheckInput{Book: b, Final: map[string]Observed{}, History: map[string][]Observed{}, Start: at(-1), End: at(10), Settled: at(13)}
	for i := 1; i <= 10; i++ {
		skip := i >= 3 && i <= 6
		setTick(&in, i, skip, "paused: "+testNote)
	}
	return in
}

// setTick records tick i of j: skipped with reason, or launched as a1.. on n1 and
// executed once (replacing what the tick had).
func setTick(in *CheckInput, i int, skip bool, reason string) {
	tick := at(float64(i))
	id := subjects.RunID("j", tick)
	alloc := "a" + string(rune('a'+i))
	var es []*Exec
	for _, x := range in.Execs {
		if x.Run != id {
			es = append(es, x)
		}
	}
	in.Execs = es
	r := subjects.Run{ID: id, Job: "j", Scheduled: tick.Unix(), State: subjects.StateSkipped, Reason: reason}
	if !skip {
		r = subjects.Run{ID: id, Job: "j", Scheduled: tick.Unix(), State: subjects.StateComplete,
			Allocations: []subjects.Allocation{{ID: alloc, Node: "n1", State: subjects.StateComplete, Finished: ptrT(tick.Add(300 * time.Millisecond))}}}
		in.Execs = append(in.Execs, &Exec{Job: "j", Run: id, Node: "n1", Alloc: alloc, Sched: tick.Unix(), PID: 100 + i,
			Start: tick.Add(10 * time.Millisecond), End: tick.Add(200 * time.Millisecond)})
	}
	in.Final[subjects.RunKey("j", tick)] = Observed{Rev: uint64(10 + i), Run: r}
}

func TestCheckPauseJudgesThePausedSpan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(in *CheckInput)
		want   string // a violation; "" for none
	}{
		{"ticks of the pause skipped for it, the ticks around it launched", func(*CheckInput) {}, ""},
		{"a tick on the pause's edge may be either", func(in *CheckInput) { setTick(in, 2, true, "paused: "+testNote) }, ""},
		{"a tick on the resume's edge may be either", func(in *CheckInput) { setTick(in, 7, true, "paused: "+testNote) }, ""},
		{"a tick inside the pause launched", func(in *CheckInput) { setTick(in, 4, false, "") },
			"a tick of the paused span (pause acknowledged"},
		{"a tick inside the pause executed though recorded skipped", func(in *CheckInput) {
			in.Execs = append(in.Execs, &Exec{Job: "j", Run: subjects.RunID("j", at(5)), Node: "n1", Alloc: "ghost", Start: at(5.1), End: at(5.2)})
		}, "executed 1 time(s) while the job was paused"},
		{"a tick inside the pause skipped for another reason", func(in *CheckInput) {
			setTick(in, 5, true, "prohibit_overlap: j/periodic-x is still running")
		}, `was skipped ("prohibit_overlap: j/periodic-x is still running"), want skipped "paused: db migration"`},
		{"a tick inside the pause skipped with another note", func(in *CheckInput) { setTick(in, 6, true, "paused: other") },
			`want skipped "paused: db migration"`},
		{"a tick after the resume skipped for a pause", func(in *CheckInput) { setTick(in, 9, true, "paused: "+testNote) },
			"but no pause of the job may own this tick"},
		{"a tick before the pause skipped for it", func(in *CheckInput) { setTick(in, 1, true, "paused: "+testNote) },
			"but no pause of the job may own this tick"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := pauseFixture()
			tc.change(&in)
			res := Check(in)
			if tc.want == "" {
				if len(res.Violations) > 0 {
					t.Fatalf("violations: %q", res.Violations)
				}
				if row := res.Rows[0]; row.SkipReasons["paused"] < 4 {
					t.Fatalf("row %+v: want the paused skips counted as paused", row)
				}
				return
			}
			wantViolation(t, res, tc.want)
		})
	}
}

func TestPausedJobFileHasThePauseAndItsNote(t *testing.T) {
	y := JobSpec{Every: time.Second, Paused: true, PauseNote: testNote}.YAML("/s.sh", "/l", "j")
	if !strings.Contains(y, "\npaused: true\npause_note: \"db migration\"\n") {
		t.Fatalf("job file:\n%s", y)
	}
}
