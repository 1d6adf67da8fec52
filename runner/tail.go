package runner

import (
	"sync"

	"github.com/jetcron/jetcron/subjects"
)

// tail keeps the last max bytes written to it.
type tail struct {
	mu    sync.Mutex
	buf   []byte // ring of len max once full
	max   int
	next  int // where the next byte goes once full
	full  bool
	total int64
}

func newTail(max int) *tail { return &tail{max: max, buf: make([]byte, 0, min(max, 4096))} }

// Write keeps the last max bytes of everything written; it never fails.
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	t.total += int64(n)
	if len(p) >= t.max {
		p = p[len(p)-t.max:]
		t.buf = append(t.buf[:0], p...)
		t.next, t.full = 0, true
		return n, nil
	}
	if !t.full {
		if len(t.buf)+len(p) <= t.max {
			t.buf = append(t.buf, p...)
			if len(t.buf) == t.max {
				t.full, t.next = true, 0
			}
			return n, nil
		}
		// Grow to the full ring, then wrap below.
		room := t.max - len(t.buf)
		t.buf = append(t.buf, p[:room]...)
		p = p[room:]
		t.full, t.next = true, 0
	}
	for len(p) > 0 {
		c := copy(t.buf[t.next:], p)
		p = p[c:]
		t.next = (t.next + c) % t.max
	}
	return n, nil
}

// kept returns a copy of the kept bytes, oldest first (under t.mu).
func (t *tail) kept() []byte {
	if !t.full {
		return append([]byte(nil), t.buf...)
	}
	out := make([]byte, 0, t.max)
	out = append(out, t.buf[t.next:]...)
	return append(out, t.buf[:t.next]...)
}

// Total is how many bytes were written in all.
func (t *tail) Total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// Stored is what is kept of everything written, as the logs bucket stores it: the
// kept bytes, after a subjects.CutLine when more was written; and how many bytes
// were cut from the start (0 when none).
func (t *tail) Stored() (data []byte, cut int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.kept()
	if cut = t.total - int64(len(kept)); cut == 0 {
		return kept, 0
	}
	return append([]byte(subjects.CutLine(cut, int64(len(kept)))), kept...), cut
}

// midLine says whether the last byte written ends no line.
func (t *tail) midLine() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) == 0 {
		return false
	}
	last := len(t.buf) - 1
	if t.full {
		last = (t.next + t.max - 1) % t.max
	}
	return t.buf[last] != '\n'
}
