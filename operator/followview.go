package operator

import (
	"bytes"
	"strings"

	"github.com/jetcron/jetcron/subjects"
)

// followKeep bounds the live output a follower keeps (and gives fn each time): past
// it, the oldest live lines go, and the output begins with a cut line instead.
const followKeep = 256 << 10

// piece is part of a followed output: text, the run's output stream's bytes from
// offset off; or, when note is set, a note about bytes before off that the runner
// did not send live.
type piece struct {
	off  int64
	text string
	note bool
}

func (p piece) end() int64 {
	if p.note {
		return p.off
	}
	return p.off + int64(len(p.text))
}

// followView is what a follower knows of a run's output: the tail stored last
// (authoritative for the stream's bytes it holds), then the live pieces received
// since, past the end of that tail, in the order they came (a runner publishes them in
// the stream's order). Gaps between them (lines published before the follow began,
// or lost on the way) are said as such. Its zero value is an empty view.
type followView struct {
	// stored is the stored tail as read; it holds the stream's bytes from start to
	// end, after its cut line when start > 0.
	stored     []byte
	start, end int64
	live       []piece
	liveBytes  int
	// trimmed says live pieces were dropped past followKeep, and the stored tail
	// with them: the view then begins at the first live piece kept.
	trimmed bool
	// shown is how far the text given out by fresh goes in the stream; gave says
	// whether any was, midLine whether it ends inside a line.
	shown         int64
	gave, midLine bool
}

// setStored replaces the stored tail with data, from which cut bytes were cut
// (subjects.OutputCutHeader); live pieces it covers are forgotten.
func (v *followView) setStored(data []byte, cut int64) {
	body := data
	if cut > 0 {
		if _, rest, ok := bytes.Cut(data, []byte("\n")); ok {
			body = rest
		}
	}
	v.stored, v.start, v.end = data, cut, cut+int64(len(body))
	v.trimmed = false
	live := v.live[:0]
	v.liveBytes = 0
	for _, p := range v.live {
		if p.end() > v.end {
			live = append(live, p)
			v.liveBytes += len(p.text)
		}
	}
	v.live = live
}

// add appends a live piece, and trims the oldest ones past followKeep.
func (v *followView) add(p piece) {
	if p.end() <= v.end {
		return // the stored tail has it
	}
	v.live = append(v.live, p)
	v.liveBytes += len(p.text)
	drop := 0
	for v.liveBytes > followKeep && drop < len(v.live)-1 {
		v.liveBytes -= len(v.live[drop].text)
		drop++
	}
	for drop < len(v.live)-1 && v.live[drop].note {
		drop++ // a note of what came before the view is no longer its business
	}
	if drop > 0 {
		v.live = append(v.live[:0], v.live[drop:]...)
		v.trimmed = true
	}
}

// pieces is the view's stream: the stored tail's body (unless trimmed away), then
// the live pieces.
func (v *followView) pieces() []piece {
	if v.trimmed || v.end == v.start {
		return v.live
	}
	body := string(v.stored[len(v.stored)-int(v.end-v.start):])
	return append([]piece{{off: v.start, text: body}}, v.live...)
}

// output is the text of the view: the stored tail as it is, then the live pieces
// past it; or, once trimmed, a cut line and the live pieces kept.
func (v *followView) output() string {
	var b strings.Builder
	if !v.trimmed {
		b.Write(v.stored)
		render(&b, v.live, v.end, len(v.stored) > 0 && v.stored[len(v.stored)-1] != '\n')
		return b.String()
	}
	from := v.live[0].off
	b.WriteString(subjects.CutLine(from, int64(v.liveBytes)))
	render(&b, v.live, from, false)
	return b.String()
}

// fresh is the text of the view that the previous calls did not give: all of it
// the first time; then the stream's bytes past those given (whatever replaced them,
// a stored tail or lines sent live), with a note for a gap.
func (v *followView) fresh() string {
	ps := v.pieces()
	var text string
	if !v.gave {
		text = v.output()
	} else {
		var b strings.Builder
		render(&b, ps, v.shown, v.midLine)
		text = b.String()
	}
	if n := len(ps); n > 0 {
		v.shown = max(v.shown, ps[n-1].end())
	}
	v.shown = max(v.shown, v.end)
	if text != "" {
		v.midLine = !strings.HasSuffix(text, "\n")
	}
	v.gave = true
	return text
}

// render writes the stream's pieces from offset pos on: what is before pos is left
// out, a gap before a piece is said with a note, and a note's text is written only
// if it is about bytes past pos. Notes begin a line (midLine: what was written
// before ends inside one).
func render(b *strings.Builder, ps []piece, pos int64, midLine bool) {
	note := func(text string) {
		if midLine {
			b.WriteByte('\n')
		}
		b.WriteString(text)
		midLine = false
	}
	for _, p := range ps {
		switch {
		case p.note:
			if p.off > pos {
				note(p.text)
				pos = p.off
			}
			continue
		case p.end() <= pos:
			continue
		case p.off > pos:
			note(unseenNote(p.off - pos))
			pos = p.off
		}
		text := p.text[pos-p.off:]
		b.WriteString(text)
		midLine = !strings.HasSuffix(text, "\n")
		pos = p.end()
	}
}

// unseenNote says that n bytes of the output were not seen live: printed before the
// follow began, or lost on the way (live output is sent at most once).
func unseenNote(n int64) string {
	return "--- jetcron: " + subjects.ByteSize(n) + " of output not seen live ---\n"
}
