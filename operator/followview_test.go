package operator

import (
	"strings"
	"testing"

	"github.com/jetcron/jetcron/subjects"
)

// step is one thing a follower learns: a stored tail (stored set), or a live piece;
// then the output and the fresh text it gives.
type step struct {
	stored *string
	cut    int64
	live   piece
	out    string
	fresh  string
}

func tail(s string, cut int64, out, fresh string) step {
	return step{stored: &s, cut: cut, out: out, fresh: fresh}
}

func live(off int64, text, out, fresh string) step {
	return step{live: piece{off: off, text: text}, out: out, fresh: fresh}
}

func note(off int64, text, out, fresh string) step {
	return step{live: piece{off: off, text: text, note: true}, out: out, fresh: fresh}
}

func TestFollowViewPlacesLiveLinesAfterTheStoredTailAndGivesEachPartOnce(t *testing.T) {
	unseen4 := "--- jetcron: 4 B of output not seen live ---\n"
	big := strings.Repeat("x", 100<<10-1) + "\n"
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"followed from the start: the final tail adds nothing", []step{
			tail("", 0, "", ""),
			live(0, "a\n", "a\n", "a\n"),
			live(2, "b\n", "a\nb\n", "b\n"),
			tail("a\nb\n", 0, "a\nb\n", ""),
		}},
		{"followed late: the gap is said, the final tail's earlier lines are not given again", []step{
			tail("", 0, "", ""),
			live(4, "c\n", unseen4+"c\n", unseen4+"c\n"),
			tail("a\nb\nc\n", 0, "a\nb\nc\n", ""),
		}},
		{"a restart: the first execution's tail replaces its live lines, the restart's follow", []step{
			tail("", 0, "", ""),
			live(0, "one\n", "one\n", "one\n"),
			tail("one\n", 0, "one\n", ""),
			live(4, "--- jetcron: restart 1 ---\n", "one\n--- jetcron: restart 1 ---\n", "--- jetcron: restart 1 ---\n"),
			live(31, "two\n", "one\n--- jetcron: restart 1 ---\ntwo\n", "two\n"),
		}},
		{"live lines the stored tail holds come late: not repeated", []step{
			tail("a\nb\n", 0, "a\nb\n", "a\nb\n"),
			live(0, "a\n", "a\nb\n", ""),
			live(2, "b\nc\n", "a\nb\nc\n", "c\n"),
		}},
		{"dropped by the runner: its note takes the gap's place, on a line of its own", []step{
			tail("", 0, "", ""),
			live(0, "abc", "abc", "abc"),
			note(100, "--- dropped ---\n", "abc\n--- dropped ---\n", "\n--- dropped ---\n"),
			live(100, "z\n", "abc\n--- dropped ---\nz\n", "z\n"),
		}},
		{"a tail that lost its start: its cut line, then the live lines past it", []step{
			tail("... cut\nxyz\n", 10, "... cut\nxyz\n", "... cut\nxyz\n"),
			live(11, "yz\nw\n", "... cut\nxyz\nw\n", "w\n"),
			tail("... cut more\nw\nv\n", 14, "... cut more\nw\nv\n", "v\n"),
		}},
		{"the last live lines lost: the final tail gives them", []step{
			tail("", 0, "", ""),
			live(0, "a\n", "a\n", "a\n"),
			tail("a\nb\n", 0, "a\nb\n", "b\n"),
		}},
		{"past followKeep: the oldest live lines go, a cut line begins the output", []step{
			tail("", 0, "", ""),
			live(0, big, big, big),
			live(100<<10, big, big+big, big),
			live(200<<10, big, subjects.CutLine(100<<10, 200<<10)+big+big, big),
		}},
	} {
		var v followView
		for i, s := range tc.steps {
			if s.stored != nil {
				v.setStored([]byte(*s.stored), s.cut)
			} else {
				v.add(s.live)
			}
			out, fresh := v.output(), v.fresh()
			if out != s.out || fresh != s.fresh {
				t.Errorf("%s, step %d: output %.80q fresh %.80q, want %.80q and %.80q", tc.name, i, out, fresh, s.out, s.fresh)
			}
		}
	}
}
